/**
 * Interoperability with other vendors' DICOM software: Orthanc as a sender (its REST API pushes a
 * series to petspool) and as a destination (petspool's output series arrive in Orthanc), and
 * DCMTK echoscu against petspool's SCP. Orthanc runs privately on loopback with its own config.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { readInstanceHeader } from '../../src/dicom/read-header.js';
import type { TaskState } from '../../src/spool/layout.js';
import type { TaskRecord } from '../../src/spool/task-record.js';
import { runDcmtk } from '../fixtures/dcmtk.js';
import { findOrthanc, startOrthanc, type OrthancSeries, type RunningOrthanc } from '../fixtures/orthanc.js';
import { startTestAppliance, type RunningAppliance } from '../helpers/appliance.js';

const ORTHANC_AET = 'ORTHANC_IT';
const FILTERS = [{ name: 'fwhm4', fwhm_mm: 4 }, { name: 'fwhm6', fwhm_mm: 6 }];
const SLICES = 20;

const skip = findOrthanc() ? false : 'Orthanc is not installed (Debian package orthanc; ./install.sh installs it)';

let orthanc: RunningOrthanc;
let app: RunningAppliance;
let work: string;

before(async () => {
  if (skip) return;
  work = await mkdtemp(path.join(os.tmpdir(), 'petspool-orthanc-it-'));
  orthanc = await startOrthanc({ aet: ORTHANC_AET });
  app = await startTestAppliance({
    destinations: [{ name: 'orthanc', ae_title: ORTHANC_AET, host: '127.0.0.1', port: orthanc.dicomPort }],
    compilator: { quiet_seconds: 0.5, min_images: 10, max_gap_ratio: 0.025, abort_incomplete_after_seconds: 30 },
    filters: FILTERS,
  });
  await orthanc.addModality('petspool', { aet: app.config.ae_title, host: '127.0.0.1', port: app.config.dicom.port });
});

after(async () => {
  if (skip) return;
  await app?.stop();
  await orthanc?.stop();
  await Promise.all([work, app?.dir].filter(Boolean).map((d) => rm(d, { recursive: true, force: true })));
});

const reached = (t: TaskRecord, state: TaskState) => t.history.some((h) => h.state === state);

/** The one task of the series once it has reached `state`; fails at once if it fails or is aborted. */
async function taskOfSeries(seriesUid: string, state: TaskState): Promise<TaskRecord> {
  const [task] = await app.waitFor(`the task of ${seriesUid} to reach ${state}`, async () => {
    const ts = (await app.tasks()).filter((t) => t.series_instance_uid === seriesUid);
    const ended = ts.find((t) => t.state === 'failed' || t.state === 'aborted');
    if (ended) throw new Error(`task ${ended.id} ${ended.state} in ${ended.failed_stage ?? '?'}: ${ended.reason ?? ''}`);
    return ts.length === 1 && reached(ts[0], state) ? ts : undefined;
  }, 40_000);
  return task;
}

test('DCMTK echoscu gets an answer from petspool\'s SCP', { skip }, async () => {
  const r = await runDcmtk('echoscu', ['-aec', app.config.ae_title, '-aet', 'ECHOTEST', '127.0.0.1', String(app.config.dicom.port)]);
  assert.equal(r.code, 0, r.stderr);
});

test('Orthanc as a sender: echo and a series pushed with /modalities/petspool/store become one compiled task', { skip }, async () => {
  assert.equal(await orthanc.echo('petspool'), true, 'C-ECHO from Orthanc to petspool');
  const files = await synthesizePetSeries(path.join(work, 'from-orthanc'), { slices: SLICES, size: 32, seed: 11 });
  const uploads = await orthanc.upload(files);
  const seriesIds = [...new Set(uploads.map((u) => u.ParentSeries))];
  assert.equal(seriesIds.length, 1, 'Orthanc sees one series');
  assert.equal((await orthanc.series(seriesIds[0])).Instances.length, SLICES);

  await orthanc.storeTo('petspool', seriesIds);

  const task = await taskOfSeries(readInstanceHeader(files[0]).seriesInstanceUid, 'compiled');
  assert.equal(task.images, SLICES);
  assert.equal(task.sender, `ae:${ORTHANC_AET}`);
});

test('Orthanc as a destination: one output series per filter, every slice, in the original study and patient', { skip }, async () => {
  const files = await synthesizePetSeries(path.join(work, 'to-orthanc'), { slices: SLICES, size: 32, seed: 12, patientId: 'ORTH-IT-12' });
  const original = readInstanceHeader(files[0]);
  const push = await runDcmtk('storescu', ['-aec', app.config.ae_title, '-aet', 'SCANNER_IT', '127.0.0.1', String(app.config.dicom.port), ...files]);
  assert.equal(push.code, 0, push.stderr);

  // 'done' is the state of a task in sent/: delivered to every destination.
  const task = await taskOfSeries(original.seriesInstanceUid, 'done');
  assert.equal(task.outputs.length, FILTERS.length, `outputs: ${task.outputs.join(', ')}`);

  const inOrthanc = new Map<string, OrthancSeries>();
  for (const s of await orthanc.allSeries()) inOrthanc.set(s.MainDicomTags.SeriesInstanceUID, s);
  for (const uid of task.outputs) {
    const series = inOrthanc.get(uid);
    assert.ok(series, `output series ${uid} is in Orthanc; Orthanc has ${[...inOrthanc.keys()].join(', ')}`);
    assert.equal(series.Instances.length, SLICES, `slices of ${uid} in Orthanc`);
    const study = await orthanc.study(series.ParentStudy);
    assert.equal(study.MainDicomTags.StudyInstanceUID, original.studyInstanceUid);
    assert.equal(study.PatientMainDicomTags.PatientID, original.patientId);
  }
  assert.notEqual(task.outputs[0], task.outputs[1], 'a distinct series per filter');
  assert.ok(!task.outputs.includes(original.seriesInstanceUid), 'outputs are new series, not the original');
});
