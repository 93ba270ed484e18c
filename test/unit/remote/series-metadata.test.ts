import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { synthesizePetSeries } from '../../../src/series/synth.js';
import { readInstanceHeader } from '../../../src/dicom/read-header.js';
import type { InstanceHeader } from '../../../src/dicom/instance-header.js';
import { SEED_RADIOPHARMACEUTICALS, matchRadiopharmaceutical } from '../../../src/rules/radiopharmaceuticals.js';
import { decayReferenceDateTime, IncompleteHeaderError, injectionDateTime, seriesMetadata } from '../../../src/remote/series-metadata.js';
import { parseTaskMetadata } from '../../../src/remote/metadata.js';

async function synthHeaders(opts: Parameters<typeof synthesizePetSeries>[1]): Promise<InstanceHeader[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-meta-'));
  try {
    const files = await synthesizePetSeries(dir, { slices: 6, size: 16, ...opts });
    return files.map((f) => readInstanceHeader(f));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('metadata from a synthetic series: tracer, dose, times, patient facts, reconstruction', async () => {
  const headers = await synthHeaders({ tracer: 'PSMA-11' });
  const tracer = matchRadiopharmaceutical(headers[0]!.radiopharmaceutical!, SEED_RADIOPHARMACEUTICALS)!;
  assert.equal(tracer.id, 'psma-11');
  const m = seriesMetadata(headers, tracer, { taskId: '20251121-120000-abcdef', clientId: 'site-01' });
  assert.equal(m.task_id, '20251121-120000-abcdef');
  assert.equal(m.client_id, 'site-01');
  assert.equal(m.units, 'BQML');
  assert.deepEqual(m.radiopharmaceutical, { name: 'PSMA-11', code: 'NCIt:C118961', nuclide: 'Ga-68' });
  assert.equal(m.half_life_s, 4062.6);
  assert.equal(m.dose_bq, 150e6);
  assert.match(m.injection_datetime, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/);
  assert.match(m.series_date, /^\d{8}$/);
  assert.deepEqual(m.patient, { weight_kg: 75, size_m: 1.75, age: '054Y' });
  assert.equal(m.scanner_model, 'Synthetic PET/CT');
  assert.equal(m.reconstruction.method, 'OSEM3D 4i16s');
  assert.equal(m.reconstruction.convolution_kernel, 'All-pass');
  // The injection was one uptake time (3600 s for PSMA-11) before the series started.
  const h = headers[0]!;
  const seriesStart = `${h.seriesDate!.slice(0, 4)}-${h.seriesDate!.slice(4, 6)}-${h.seriesDate!.slice(6, 8)}T`
    + `${h.seriesTime!.slice(0, 2)}:${h.seriesTime!.slice(2, 4)}:${h.seriesTime!.slice(4, 6)}`;
  assert.equal((Date.parse(seriesStart) - Date.parse(m.injection_datetime)) / 1000, 3600);
  // Completed with the volume's facts (the packer's part) it is a valid metadata.json.
  parseTaskMetadata({ ...m, shape: [6, 16, 16], axis_order: 'slice,row,column', spacing_mm: [3.27, 37.5, 37.5],
    orientation: [1, 0, 0, 0, 1, 0], npy_sha256: 'a'.repeat(64) });
});

test('no patient name, ID, birth date or accession number appears anywhere in the metadata', async () => {
  const headers = await synthHeaders({ patientName: 'WHISTLER^ZELDA', patientId: 'MRN-0047113' });
  const h = headers[0]!;
  assert.equal(h.patientName, 'WHISTLER^ZELDA', 'the file does carry the name');
  const tracer = matchRadiopharmaceutical(h.radiopharmaceutical!, SEED_RADIOPHARMACEUTICALS)!;
  const json = JSON.stringify(seriesMetadata(headers, tracer, { taskId: 't1', clientId: 'c1' }));
  for (const secret of ['WHISTLER', 'ZELDA', 'MRN-0047113', '0047113', h.patientBirthDate!]) {
    assert.ok(!json.includes(secret), `${secret} leaked into ${json}`);
  }
  for (const key of ['patient_name', 'patient_id', 'birth', 'accession']) assert.ok(!json.toLowerCase().includes(key), key);
});

test('injection time: DateTime as written (with zone), else start time on the series date, the day before after midnight', () => {
  assert.equal(injectionDateTime('20251121093000.25+0100', '093000', '20251121', '103000'), '2025-11-21T09:30:00.25+01:00');
  assert.equal(injectionDateTime(undefined, '093000', '20251121', '103000'), '2025-11-21T09:30:00');
  assert.equal(injectionDateTime(undefined, '233000', '20250301', '003000'), '2025-02-28T23:30:00');
  assert.equal(injectionDateTime(undefined, '23:30:00', '20240101', '00:30:00'), '2023-12-31T23:30:00');
  assert.throws(() => injectionDateTime(undefined, '093000', undefined, undefined), IncompleteHeaderError);
  assert.throws(() => injectionDateTime(undefined, undefined, '20251121', '103000'), /StartTime/);
  assert.throws(() => injectionDateTime('yesterday', undefined, undefined, undefined), /not a DICOM date-time/);
});

test('the file\'s half-life wins over the table; the table\'s code stands in when the file has none', async () => {
  const headers = await synthHeaders({ omit: ['RadiopharmaceuticalCodeSequence'] });
  const tracer = SEED_RADIOPHARMACEUTICALS.find((e) => e.id === 'fdg')!;
  const m = seriesMetadata(headers, tracer, { taskId: 't', clientId: 'c' });
  assert.equal(m.radiopharmaceutical.code, 'SRT:C-B1031');
  assert.equal(m.half_life_s, 6586.2);
});

test('decay reference: START at DecayCorrectionDateTime or the acquisition start, ADMIN at the injection, NONE none', () => {
  const times = { injection: '2026-01-02T23:30:00', seriesDate: '20260103', seriesTime: '001500' };
  assert.equal(decayReferenceDateTime('START', times), '2026-01-03T00:15:00');
  assert.equal(decayReferenceDateTime('START', { ...times, decayCorrectionDateTime: '20260103001000.5' }), '2026-01-03T00:10:00.5');
  assert.equal(decayReferenceDateTime('ADMIN', times), '2026-01-02T23:30:00');
  assert.equal(decayReferenceDateTime('NONE', times), null);
  assert.throws(() => decayReferenceDateTime('START', { injection: times.injection }), /acquisition start is unknown/);
});

test('vendor times: GE start time without a date after midnight, a GE series re-made later than its acquisition, Siemens date-time only, ADMIN', async () => {
  const headers = await synthHeaders({});
  const tracer = SEED_RADIOPHARMACEUTICALS.find((e) => e.id === 'fdg')!;
  const meta = (change: (h: InstanceHeader, i: number) => InstanceHeader) => seriesMetadata(headers.map(change), tracer, { taskId: 't', clientId: 'c' });
  const ge = (h: InstanceHeader): InstanceHeader => ({
    ...h, seriesDate: '20260103', acquisitionDate: '20260103', studyDate: '20260103', seriesTime: '013000', acquisitionTime: '001500',
    radiopharmaceutical: { ...h.radiopharmaceutical, startDateTime: undefined, startTime: '233000' },
  });
  const m = meta(ge);
  assert.equal(m.series_time, '001500', 'the earliest AcquisitionTime, not the later SeriesTime');
  assert.equal(m.injection_datetime, '2026-01-02T23:30:00', 'injected the day before the series date');
  assert.equal(m.decay_reference_datetime, '2026-01-03T00:15:00');
  // Scanned from 23:55, the last bed after midnight: that bed's 00:05 is not the start.
  const acrossMidnight = meta((h, i) => ({
    ...h, seriesDate: '20260102', seriesTime: '235500', acquisitionDate: i === 5 ? '20260103' : '20260102', acquisitionTime: i === 5 ? '000500' : '235500',
  }));
  assert.equal(acrossMidnight.series_time, '235500');
  const siemens = meta((h) => ({ ...h, radiopharmaceutical: { ...h.radiopharmaceutical, startTime: undefined, startDateTime: '20260103081500.000000' } }));
  assert.equal(siemens.injection_datetime, '2026-01-03T08:15:00.000000');
  const admin = meta((h) => ({ ...ge(h), decayCorrection: 'ADMIN' }));
  assert.equal(admin.decay_reference_datetime, admin.injection_datetime);
  assert.equal(admin.reconstruction.decay_correction, 'ADMIN');
});
