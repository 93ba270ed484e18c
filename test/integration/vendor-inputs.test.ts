import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { readInstanceHeader } from '../../src/dicom/read-header.js';
import { TransferSyntax, getNumber, getString, readPart10File, removeElements, setElement } from '../../src/dicom/write-part10.js';
import type { DicomDataset } from '../../src/dicom/dataset.js';
import { parseNpy } from '../../src/imaging/npy.js';
import type { TaskMetadata } from '../../src/remote/metadata.js';
import type { TaskRecord } from '../../src/spool/task-record.js';
import { freePort, runDcmtk, startStorescp } from '../fixtures/dcmtk.js';
import {
  framesOf, newSeriesIdentity, philipsCounts, radiopharmaceuticalItem, rewriteSeries, setScanTimes,
} from '../fixtures/vendor-pet.js';
import { startTestAppliance, type RunningAppliance } from '../helpers/appliance.js';

const SLICES = 12;
const SIZE = 32;
const PHILIPS_FACTOR = 2.5;
const PHILIPS_FD_FACTOR = 0.37;

/** Physical values (stored × slope + intercept) per InstanceNumber of delivered files, with their headers. */
async function deliveredValues(files: string[]): Promise<{ values: Map<number, Float64Array>; slope: number; datasets: DicomDataset[] }> {
  const values = new Map<number, Float64Array>();
  const datasets: DicomDataset[] = [];
  let slope = 0;
  for (const file of files) {
    const { dataset } = await readPart10File(file);
    const s = getNumber(dataset, 'RescaleSlope')!;
    const stored = new Int16Array(dataset['7FE00010']!.Value![0] as ArrayBuffer);
    values.set(getNumber(dataset, 'InstanceNumber')!, Float64Array.from(stored, (v) => v * s + (getNumber(dataset, 'RescaleIntercept') ?? 0)));
    slope = Math.max(slope, s);
    datasets.push(dataset);
  }
  return { values, slope, datasets };
}

/** The upload volume of a task (the .npy in the archive the packer left in the task folder). */
async function uploadedVolume(app: RunningAppliance, task: TaskRecord, work: string): Promise<Float32Array> {
  const { dir } = await app.appliance.parts.spool.locateTask(task.id);
  const archive = (await readdir(dir)).find((n) => n.endsWith('.zip'))!;
  const out = path.join(work, `npy-${task.id}`);
  await mkdir(out);
  assert.equal((await runDcmtk('unzip', ['-q', path.join(dir, archive), '-d', out])).code, 0);
  return parseNpy(await readFile(path.join(out, `${task.id}.npy`))).data;
}

async function taskMetadata(app: RunningAppliance, task: TaskRecord): Promise<TaskMetadata> {
  const { dir } = await app.appliance.parts.spool.locateTask(task.id);
  return JSON.parse(await readFile(path.join(dir, 'metadata.json'), 'utf8')) as TaskMetadata;
}

test('vendor inputs pushed with storescu: Philips counts delivered as BQML at the factor, refused without it; dynamic and gated series failed once; GE, Siemens, ADMIN and NONE times passed on; a dose in MBq refused', { timeout: 600_000 }, async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'petspool-vendor-'));
  const pacsDir = path.join(work, 'pacs');
  await mkdir(pacsDir);
  const pacs = await startStorescp(pacsDir, ['+uf'], await freePort());
  const app = await startTestAppliance({
    destinations: [{ name: 'pacs', ae_title: 'STORESCP', host: '127.0.0.1', port: pacs.port, mirror: false }],
    // Twelve series in two associations on a machine running other tests: storescu, starved of CPU,
    // can pause for most of a second between instances, and quiet time counts from each arrival.
    compilator: { quiet_seconds: 2, min_images: 10, max_gap_ratio: 0.025, abort_incomplete_after_seconds: 600 },
    filters: [{ name: 'raw', fwhm_mm: 0 }],
    share: { poll_seconds: 0.5 },
  });
  try {
    const bqml = await synthesizePetSeries(path.join(work, 'bqml'), { slices: SLICES, size: SIZE, seed: 5 });
    const variant = (name: string, edit: (ds: DicomDataset) => void, syntax?: string) => {
      const identity = newSeriesIdentity();
      return rewriteSeries(bqml, path.join(work, name), (ds) => { identity(ds); edit(ds); }, syntax);
    };
    const ge = (ds: DicomDataset) => {
      // Injected 23:30, scanned 00:15 the next day; the series made again at 01:30 (a later SeriesTime).
      setScanTimes(ds, '20260103', { series: '013000', acquisition: '001500' });
      const item = radiopharmaceuticalItem(ds);
      removeElements(item, ['RadiopharmaceuticalStartDateTime']);
      setElement(item, 'RadiopharmaceuticalStartTime', '233000');
    };
    const inputs = {
      bqml,
      philipsImplicitDs: await variant('philips-implicit-ds', (ds) => philipsCounts(ds, { factor: PHILIPS_FACTOR, vr: 'DS' }), TransferSyntax.ImplicitVRLittleEndian),
      philipsFdBlock11: await variant('philips-fd', (ds) => philipsCounts(ds, { factor: PHILIPS_FD_FACTOR, vr: 'FD', block: 0x11 })),
      philipsNoFactor: await variant('philips-no-factor', (ds) => philipsCounts(ds, { factor: undefined, vr: 'DS' }), TransferSyntax.ImplicitVRLittleEndian),
      dynamic: await framesOf(bqml, path.join(work, 'dynamic'), { frames: 3, kind: 'dynamic' }),
      gated: await framesOf(bqml, path.join(work, 'gated'), { frames: 4, kind: 'gated' }),
      dynamicUntagged: await framesOf(bqml, path.join(work, 'dynamic-untagged'), { frames: 2, kind: 'dynamic', untagged: true }),
      ge: await variant('ge', ge),
      siemens: await variant('siemens', (ds) => {
        setScanTimes(ds, '20260103', { series: '091500', acquisition: '091500' });
        const item = radiopharmaceuticalItem(ds);
        removeElements(item, ['RadiopharmaceuticalStartTime']);
        setElement(item, 'RadiopharmaceuticalStartDateTime', '20260103081500');
      }),
      admin: await variant('admin', (ds) => { ge(ds); setElement(ds, 'DecayCorrection', 'ADMIN'); }),
      none: await variant('none', (ds) => setElement(ds, 'DecayCorrection', 'NONE')),
      doseInMBq: await variant('dose-in-mbq', (ds) => setElement(radiopharmaceuticalItem(ds), 'RadionuclideTotalDose', 350)),
    };
    // Philips consoles send Implicit VR Little Endian: proposed alone, the private group arrives as bytes.
    const implicit = [...inputs.philipsImplicitDs, ...inputs.philipsNoFactor];
    const store = (args: string[], files: string[]) =>
      runDcmtk('storescu', [...args, '-aec', app.config.ae_title, '-aet', 'SCANNER', '127.0.0.1', String(app.config.dicom.port), ...files]);
    const explicit = Object.values(inputs).flat().filter((f) => !implicit.includes(f));
    for (const r of [await store(['-xi'], implicit), await store([], explicit)]) assert.equal(r.code, 0, r.stderr);

    const seriesOf = (files: string[]) => readInstanceHeader(files[0]!).seriesInstanceUid;
    const finished = (t: TaskRecord) => t.state === 'done' || t.state === 'failed' || t.state === 'aborted';
    const tasks = await app.waitFor('every series finished', async () => {
      const all = await app.tasks();
      const mine = Object.values(inputs).map((files) => all.filter((t) => t.series_instance_uid === seriesOf(files)));
      return mine.every((ts) => ts.length > 0 && ts.every(finished)) ? all : undefined;
    }, 480_000);
    const taskOf = (name: keyof typeof inputs): TaskRecord => {
      const mine = tasks.filter((t) => t.series_instance_uid === seriesOf(inputs[name]));
      assert.equal(mine.length, 1, `${name}: one task (${mine.map((t) => `${t.state} ${t.reason}`).join('; ')})`);
      return mine[0]!;
    };
    const done = (name: keyof typeof inputs) => {
      const task = taskOf(name);
      assert.equal(task.state, 'done', `${name}: ${task.reason}`);
      return task;
    };

    // --- Philips counts: arrived in their own syntax, uploaded and delivered as BQML at the factor.
    const { dir: implicitDir } = await app.appliance.parts.spool.locateTask(taskOf('philipsImplicitDs').id);
    const received = (await readdir(path.join(implicitDir, 'instances'))).map((n) => readInstanceHeader(path.join(implicitDir, 'instances', n)));
    assert.ok(received.every((h) => h.transferSyntaxUid === TransferSyntax.ImplicitVRLittleEndian), 'stored as sent: Implicit VR');
    const bySeries = new Map<string, string[]>();
    for (const name of await readdir(pacsDir)) {
      const file = path.join(pacsDir, name);
      const uid = readInstanceHeader(file).seriesInstanceUid;
      bySeries.set(uid, [...(bySeries.get(uid) ?? []), file]);
    }
    const delivered = async (name: keyof typeof inputs) => {
      const files = bySeries.get(done(name).outputs[0]!) ?? [];
      assert.equal(files.length, SLICES, `${name}: every slice delivered`);
      return deliveredValues(files);
    };
    const reference = await delivered('bqml');
    const referenceVolume = await uploadedVolume(app, done('bqml'), work);
    for (const [name, factor, element] of [['philipsImplicitDs', PHILIPS_FACTOR, '(7053,1009)'], ['philipsFdBlock11', PHILIPS_FD_FACTOR, '(7053,1109)']] as const) {
      const task = done(name);
      const conversion = task.facts.units_conversion as Record<string, unknown>;
      assert.deepEqual({ ...conversion, description: undefined }, {
        from: 'CNTS', to: 'BQML', factor, element, privateCreator: 'Philips PET Private Group', description: undefined,
      });
      assert.equal((await taskMetadata(app, task)).units, 'BQML');
      assert.ok(task.history.some((e) => e.state === 'validated' && e.detail?.endsWith(`factor ${element} ${factor}`)), 'the history says so');
      // The upload volume: each slice's stored values × its RescaleSlope × the factor.
      const volume = await uploadedVolume(app, task, work);
      const headers = inputs[name].map((f) => readInstanceHeader(f));
      const order = [...headers.keys()].sort((a, b) => headers[a]!.imagePositionPatient![2] - headers[b]!.imagePositionPatient![2]);
      const plane = SIZE * SIZE;
      for (const [z, i] of order.entries()) {
        const { dataset } = await readPart10File(inputs[name][i]!);
        const stored = new Int16Array(dataset['7FE00010']!.Value![0] as ArrayBuffer);
        const slope = headers[i]!.rescaleSlope!;
        for (let v = 0; v < plane; v++) {
          const expected = Math.fround(stored[v]! * slope * factor);
          assert.ok(Math.abs(volume[z * plane + v]! - expected) <= 1e-6 * Math.max(1, Math.abs(expected)), `${name} z=${z} voxel ${v}: ${volume[z * plane + v]} vs ${expected}`);
          // ... which is the activity of the BQML original the counts were made from.
          assert.ok(Math.abs(volume[z * plane + v]! - referenceVolume[z * plane + v]!) <= 1e-5 * Math.max(1, Math.abs(expected)));
        }
      }
      // Delivered: BQML, the conversion in DerivationDescription, no Philips private group, the values of the BQML original.
      const out = await delivered(name);
      for (const ds of out.datasets) {
        assert.equal(getString(ds, 'Units'), 'BQML');
        assert.match(getString(ds, 'DerivationDescription') ?? '', new RegExp(`^Philips counts \\(CNTS\\) converted to Bq/ml \\(BQML\\) with the activity concentration factor \\${element.slice(0, -1)}\\) ${factor}; `));
        assert.ok(!Object.keys(ds).some((tag) => tag.startsWith('7053')), 'the Philips private group is not copied');
      }
      for (const [n, values] of reference.values) {
        const mine = out.values.get(n)!;
        for (let v = 0; v < values.length; v++) {
          assert.ok(Math.abs(mine[v]! - values[v]!) <= out.slope + reference.slope, `${name} slice ${n} voxel ${v}: ${mine[v]} vs ${values[v]}`);
        }
      }
    }
    assert.ok(Math.max(...reference.values.get(SLICES / 2)!) > 100, 'the phantom has activity to compare');
    for (const ds of reference.datasets) assert.doesNotMatch(getString(ds, 'DerivationDescription') ?? '', /CNTS/);

    const noFactor = taskOf('philipsNoFactor');
    assert.equal(noFactor.state, 'failed');
    assert.equal(noFactor.reason, 'Units CNTS (counts) and the activity concentration factor (7053,1009) of the "Philips PET Private Group" missing on all 12 slices: '
      + 'export the series in BQML (activity concentration) from the console, or send it with the Philips private group (7053) kept');

    // --- Dynamic and gated: failed once each, as a whole, saying what they are.
    const expectations: [keyof typeof inputs, RegExp][] = [
      ['dynamic', /^dynamic PET series with 3 frames \(NumberOfTimeSlices 3\): petspool processes static \(single-frame\) series only; send the static reconstruction/],
      ['gated', /^gated PET series with 4 gates \(NumberOfTimeSlots 4\): petspool processes static \(single-frame\) series only; send the ungated \(static\) reconstruction/],
      ['dynamicUntagged', /^dynamic PET series with 2 frames \(FrameReferenceTime differs between slices at the same position\)/],
    ];
    for (const [name, reason] of expectations) {
      const task = taskOf(name);
      assert.equal(task.state, 'failed', name);
      assert.match(task.reason ?? '', reason);
      assert.doesNotMatch(task.reason ?? '', /same position z=/);
      assert.equal(task.images, inputs[name].length, `${name}: failed with all its images`);
    }

    // --- Injection and decay-correction conventions, as metadata.json tells the service.
    const ge1 = await taskMetadata(app, done('ge'));
    assert.equal(ge1.injection_datetime, '2026-01-02T23:30:00', 'GE start time without a date: the day before the 00:15 scan');
    assert.equal(ge1.series_time, '001500', 'the acquisition time, not the re-made series time 01:30');
    assert.equal(ge1.decay_reference_datetime, '2026-01-03T00:15:00');
    assert.deepEqual(done('ge').facts.decay_correction, { mode: 'START', reference_datetime: '2026-01-03T00:15:00', meaning: 'decay-corrected to the acquisition start' });
    assert.equal((await taskMetadata(app, done('siemens'))).injection_datetime, '2026-01-03T08:15:00');
    const admin = await taskMetadata(app, done('admin'));
    assert.equal(admin.reconstruction.decay_correction, 'ADMIN');
    assert.equal(admin.decay_reference_datetime, '2026-01-02T23:30:00', 'ADMIN: corrected to the injection');
    assert.equal((done('admin').facts.decay_correction as { mode: string }).mode, 'ADMIN');
    const none = await taskMetadata(app, done('none'));
    assert.equal(none.decay_reference_datetime, null);
    assert.match((done('none').facts.decay_correction as { meaning: string }).meaning, /^not decay-corrected/);
    const mbq = taskOf('doseInMBq');
    assert.equal(mbq.state, 'failed');
    assert.equal(mbq.reason, 'RadionuclideTotalDose is 350 Bq, less than 1 MBq: written in MBq? Enter the injected activity in Bq on the console and send the series again');
  } finally {
    await app.stop();
    await pacs.stop();
  }
});
