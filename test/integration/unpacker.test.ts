/**
 * The unpacker on real task folders: the result the downloader handed over in memory, its
 * result.zip read again after a restart, safely (zip-slip, zip bomb) and verified (sha256, task),
 * result/ as the previous version left it, checks against the upload (shape), one series per applicable filter (scanner model / tracer limits,
 * fwhm 0 = unfiltered, blend), previews, reuse of complete outputs after a restart, and dciodvfy.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Store } from '../../src/db/store.js';
import { getNumber, getString, readPart10File, tagOf } from '../../src/dicom/write-part10.js';
import type { DicomDataset } from '../../src/dicom/dataset.js';
import { gaussianFilter } from '../../src/imaging/gaussian.js';
import { mipPng } from '../../src/imaging/mip.js';
import { silentLogger } from '../../src/log/logger.js';
import { writeCraftedZip, writeZipBomb } from '../../src/reference-service/reference-faults.js';
import { Runner } from '../../src/runner/runner.js';
import { Spool } from '../../src/spool/spool.js';
import type { FilterConfig } from '../../src/config/schema.js';
import { unpackerStage } from '../../src/stages/unpacker.js';
import { readSeriesManifest, type OutputSeriesFact } from '../../src/spool/output-series.js';
import { makeTask, placeLegacyResult, waitForTask, writeResultZip, type BuiltTask } from '../helpers/results-task.js';
import { ResultHandoff } from '../../src/stages/result-handoff.js';
import { readResultArchive, resultArchiveLimits } from '../../src/remote/result-archive.js';

const run = promisify(execFile);

let root: string;
let spool: Spool;
let store: Store;
let runner: Runner;
const filters: FilterConfig[] = [
  { name: 'fwhm4', fwhm_mm: 4 },
  { name: 'raw', fwhm_mm: 0, series_description: '{original} unfiltered' },
  { name: 'blended', fwhm_mm: 6, blend: 0.5 },
  { name: 'vision', fwhm_mm: 5, scanner_models: ['Biograph Vision 600'] },
  { name: 'synthetic', fwhm_mm: 3, scanner_models: ['synthetic pet/ct'] },
  { name: 'psma', fwhm_mm: 5, radiopharmaceuticals: ['PSMA-11'] },
  { name: 'fdg', fwhm_mm: 2, radiopharmaceuticals: ['FDG'] },
];

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'petspool-unpacker-'));
  spool = new Spool(path.join(root, 'spool'));
  await spool.init();
  store = await Store.open(path.join(root, 'db.json'));
  runner = new Runner(spool, silentLogger, { scanIntervalMs: 50 });
  runner.register([unpackerStage({ config: { filters, output: { series_number_offset: 1000 } }, store, threads: 2 })]);
  runner.start();
});

after(async () => {
  await runner.stop();
  await rm(root, { recursive: true, force: true });
});

function rescaled(dataset: DicomDataset): Float32Array {
  const stored = new Int16Array(dataset[tagOf('PixelData')]!.Value![0] as ArrayBuffer);
  const slope = getNumber(dataset, 'RescaleSlope') ?? 1;
  const intercept = getNumber(dataset, 'RescaleIntercept') ?? 0;
  return Float32Array.from(stored, (v) => v * slope + intercept);
}

async function seriesVolume(dir: string): Promise<{ data: Float32Array; datasets: DicomDataset[] }> {
  const manifest = await readSeriesManifest(dir);
  const datasets = await Promise.all(manifest.instances.map(async (i) => (await readPart10File(path.join(dir, i.file))).dataset));
  const parts = datasets.map(rescaled);
  const data = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { data.set(p, at); at += p.length; }
  return { data, datasets };
}

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

function maxOf(a: Float32Array): number {
  let m = -Infinity;
  for (const v of a) if (v > m) m = v;
  return m;
}

test('one series per applicable filter: scanner and tracer limits, fwhm 0 unfiltered, blend, previews', async () => {
  const scale = (v: Float32Array) => Float32Array.from(v, (x) => x * 0.9);
  const task = await makeTask(spool, { result: (o) => scale(o.data), facts: { radiopharmaceutical: 'fdg' } });
  runner.nudge();
  assert.equal(await waitForTask(spool, task.id, ['unpacked', 'failed']), 'unpacked');
  const { record, dir } = await spool.locateTaskIn('unpacked', task.id);
  const outputs = record.facts.output_series as OutputSeriesFact[];
  assert.deepEqual(outputs.map((o) => o.filter), ['fwhm4', 'raw', 'blended', 'synthetic', 'fdg']);
  assert.deepEqual(record.facts.filters_not_applicable, ['vision', 'psma']);
  assert.ok(outputs.every((o) => o.files === 12));
  assert.equal(new Set(outputs.map((o) => o.series_instance_uid)).size, outputs.length);
  for (const o of outputs) assert.ok((await stat(path.join(dir, 'previews', `${o.filter}.png`))).size > 100);

  const result = scale(task.original.data);
  const peak = maxOf(result);
  const raw = await seriesVolume(path.join(dir, 'outputs', 'raw'));
  // fwhm 0: the result itself, up to int16 quantisation (slope = slice max / 32767).
  assert.ok(maxAbsDifference(raw.data, result) <= peak / 32767, 'unfiltered series = result volume');
  const first = raw.datasets[0]!;
  assert.equal(getString(first, 'SeriesDescription'), `${task.original.headers[0]!.seriesDescription} unfiltered`);
  assert.equal(getNumber(first, 'SeriesNumber'), (task.original.headers[0]!.seriesNumber ?? 0) + 1001);
  assert.match(getString(first, 'DerivationDescription') ?? '', /no post-filter/);
  // The unfiltered series' preview is the coronal MIP of the result.
  assert.ok((await readFile(path.join(dir, 'previews', 'raw.png'))).equals(mipPng({ ...task.original, data: result })), 'raw.png is the MIP of the result');

  const resultVolume = { ...task.original, data: result };
  const smooth6 = await gaussianFilter(resultVolume, 6, { threads: 1 });
  const expected = Float32Array.from(smooth6, (v, i) => 0.5 * v + 0.5 * result[i]!);
  const blended = await seriesVolume(path.join(dir, 'outputs', 'blended'));
  assert.ok(maxAbsDifference(blended.data, expected) <= peak * 1e-4, 'blend 0.5 mixes half the unfiltered result back');
  assert.ok(maxAbsDifference(blended.data, result) > peak * 0.01, 'the blended series is smoothed');
});

test('a complete output folder is reused when the unpacker runs again (restart)', async () => {
  const task = await makeTask(spool, { result: (o) => o.data });
  runner.nudge();
  assert.equal(await waitForTask(spool, task.id, ['unpacked', 'failed']), 'unpacked');
  const before = (await spool.locateTaskIn('unpacked', task.id)).record.facts.output_series as OutputSeriesFact[];
  await spool.moveTask(task.id, 'unpacked', 'downloaded', 'test: as if the process died before the move');
  runner.nudge();
  assert.equal(await waitForTask(spool, task.id, ['unpacked', 'failed']), 'unpacked');
  const again = (await spool.locateTaskIn('unpacked', task.id)).record.facts.output_series as OutputSeriesFact[];
  assert.deepEqual(again, before);
});

test('result.zip (after a restart) and result/ of the previous version are read, verified and unpacked', async () => {
  const scale = (v: Float32Array) => Float32Array.from(v, (x) => x * 0.5);
  const legacy = await makeTask(spool, { result: (o) => scale(o.data), layout: 'legacy-dir' });
  const current = await makeTask(spool, { result: (o) => scale(o.data) });
  runner.nudge();
  const raw = (t: BuiltTask) => seriesVolume(path.join(spool.layout.taskDir('unpacked', t.id), 'outputs', 'raw'));
  for (const [task, kept] of [[legacy, 'result'], [current, 'result.zip']] as const) {
    assert.equal(await waitForTask(spool, task.id, ['unpacked', 'failed']), 'unpacked');
    const files = await readdir(spool.layout.taskDir('unpacked', task.id));
    assert.ok(files.includes(kept) && !files.some((n) => n.startsWith('.tmp-')), `${kept} kept, no temporary left: ${files.join(', ')}`);
    const expected = scale(task.original.data);
    assert.ok(maxAbsDifference((await raw(task)).data, expected) <= maxOf(expected) / 32767, `the result in ${kept} is the volume unpacked`);
  }
});

test('the result the downloader hands over in memory is unpacked without reading the task folder', async (t) => {
  const results = new ResultHandoff();
  const own = new Runner(spool, silentLogger, { scanIntervalMs: 50 });
  own.register([unpackerStage({ config: { filters: [{ name: 'raw', fwhm_mm: 0 }], output: { series_number_offset: 1000 } }, store, threads: 2, results })]);
  const task = await makeTask(spool, { result: (o) => Float32Array.from(o.data, (x) => x * 0.25), folder: 'collecting' });
  const handed = await readResultArchive(path.join(task.dir, 'result.zip'), task.id, resultArchiveLimits(task.original.data.length));
  // The archive goes; only the volume in memory is left to unpack.
  await rm(path.join(task.dir, 'result.zip'));
  results.put(task.id, handed);
  await runner.stop();
  t.after(() => runner.start());
  own.start();
  t.after(() => own.stop());
  await spool.moveTask(task.id, 'collecting', 'downloaded');
  own.nudge();
  assert.equal(await waitForTask(spool, task.id, ['unpacked', 'failed']), 'unpacked');
  const out = await seriesVolume(path.join(spool.layout.taskDir('unpacked', task.id), 'outputs', 'raw'));
  assert.ok(maxAbsDifference(out.data, handed.volume.data) <= maxOf(handed.volume.data) / 32767, 'the handed-over volume is the one unpacked');
  assert.equal(results.take(task.id), undefined, 'taken, not held any longer');
});

test('a task folder with neither result.zip nor result/ fails with the reason', async () => {
  const task = await makeTask(spool, { result: 'none' });
  runner.nudge();
  assert.match(await failureOf(task.id), /the task folder has no result\.zip \(the downloader's verified result\)/);
});

async function failureOf(id: string): Promise<string> {
  assert.equal(await waitForTask(spool, id, ['unpacked', 'failed']), 'failed');
  return (await spool.locateTaskIn('failed', id)).record.reason ?? '';
}

test('a zip-slip result.zip is refused and nothing is written outside the task folder', async () => {
  const task = await makeTask(spool, { result: 'none', folder: 'collecting' });
  const zip = path.join(task.dir, 'result.zip');
  await writeCraftedZip(zip, [
    { name: '../escaped', data: Buffer.from('outside\n') },
    { name: '../../escaped', data: Buffer.from('outside\n') },
    { name: 'metadata.json', data: Buffer.from(JSON.stringify(task.uploaded)) },
  ]);
  await spool.moveTask(task.id, 'collecting', 'downloaded');
  runner.nudge();
  assert.match(await failureOf(task.id), /result archive refused: entry \.\.\/escaped escapes the folder/);
  for (const folder of ['downloaded', 'failed'] as const) {
    assert.deepEqual((await readdir(spool.layout.folder(folder))).filter((n) => n.includes('escaped')), []);
  }
  assert.deepEqual((await readdir(spool.root)).filter((n) => n.includes('escaped')), []);
});

test('a result.zip bomb whose header lies about its size is stopped at the volume-size limit', async () => {
  const task = await makeTask(spool, { result: 'none', folder: 'collecting' });
  const voxels = task.uploaded.shape.reduce((a, b) => a * b, 1);
  await writeZipBomb(path.join(task.dir, 'result.zip'), `${task.id}.npy`, 64 * 1024 * 1024, {
    declaredSize: voxels * 4 + 128,
    otherEntries: [{ name: 'metadata.json', data: Buffer.from(JSON.stringify(task.uploaded)) }],
  });
  await spool.moveTask(task.id, 'collecting', 'downloaded');
  runner.nudge();
  assert.match(await failureOf(task.id), /result archive refused: entry .*\.npy expands past/);
  const dir = spool.layout.taskDir('failed', task.id);
  assert.equal(await stat(path.join(dir, 'result')).catch(() => null), null, 'nothing of the refused archive is left');
  assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('.tmp-')), [], 'no temporary folder left');
});

test('wrong sha256, wrong shape and a wrong task are refused with the reason', async () => {
  type Task = Awaited<ReturnType<typeof makeTask>>;
  // 'zip': result.zip, read and verified here after a restart; 'dir': result/ of the previous version.
  const cases: { name: string; layout: 'zip' | 'dir'; reason: RegExp; write: (zip: string, t: Task) => Promise<void> }[] = [
    {
      name: 'sha', layout: 'zip', reason: /sha256 of .*\.npy does not match the result metadata\.json/,
      write: (zip, t) => writeResultZip(zip, t.uploaded, t.original.data, t.original.shape, { npy_sha256: 'a'.repeat(64) }),
    },
    {
      name: 'shape in metadata', layout: 'zip', reason: /result shape 11x32x32 differs from the uploaded 12x32x32/,
      write: (zip, t) => writeResultZip(zip, t.uploaded, t.original.data.subarray(0, 11 * 32 * 32), [11, 32, 32], { shape: [11, 32, 32] }),
    },
    {
      name: 'npy shape', layout: 'zip', reason: /\.npy has shape 12x16x64, the uploaded volume was 12x32x32/,
      write: (zip, t) => writeResultZip(zip, t.uploaded, t.original.data, [12, 16, 64]),
    },
    {
      name: 'task (zip)', layout: 'zip', reason: /result metadata\.json is for task other-task/,
      write: (zip, t) => writeResultZip(zip, t.uploaded, t.original.data, t.original.shape, { task_id: 'other-task' }),
    },
    {
      name: 'task (dir)', layout: 'dir', reason: /result metadata\.json is for task other-task/,
      write: (zip, t) => writeResultZip(zip, t.uploaded, t.original.data, t.original.shape, { task_id: 'other-task' }),
    },
  ];
  for (const c of cases) {
    const task = await makeTask(spool, { result: 'none', folder: 'collecting' });
    if (c.layout === 'zip') {
      await c.write(path.join(task.dir, 'result.zip'), task);
    } else {
      const zip = path.join(root, `${task.id}-result.zip`);
      await c.write(zip, task);
      await placeLegacyResult(task.dir, zip);
    }
    await spool.moveTask(task.id, 'collecting', 'downloaded');
    runner.nudge();
    assert.match(await failureOf(task.id), c.reason, c.name);
  }
});

/** dciodvfy's error lines (messages without the file-specific values), or null without dicom3tools. */
async function dciodvfyErrors(file: string): Promise<string[] | null> {
  const out = await run('dciodvfy', [file]).then((r) => `${r.stdout}\n${r.stderr}`, (err: { code?: unknown; stdout?: string; stderr?: string }) => {
    if (err.code === 'ENOENT') return null;
    return `${err.stdout ?? ''}\n${err.stderr ?? ''}`;
  });
  return out === null ? null : out.split('\n').filter((l) => l.startsWith('Error'));
}

test('dciodvfy reports no error on an output file that it did not report on the input file', async (t) => {
  const task = await makeTask(spool, { result: 'reference' });
  runner.nudge();
  assert.equal(await waitForTask(spool, task.id, ['unpacked', 'failed']), 'unpacked');
  const dir = spool.layout.taskDir('unpacked', task.id);
  const inputFile = path.join(dir, 'instances', (await readdir(path.join(dir, 'instances'))).sort()[5]!);
  const input = await dciodvfyErrors(inputFile);
  if (input === null) return t.skip('dciodvfy (dicom3tools) is not installed');
  const inputErrors = new Set(input);
  for (const filter of ['fwhm4', 'raw']) {
    const manifest = await readSeriesManifest(path.join(dir, 'outputs', filter));
    const output = (await dciodvfyErrors(path.join(dir, 'outputs', filter, manifest.instances[5]!.file)))!;
    assert.deepEqual(output.filter((e) => !inputErrors.has(e)), [], `new dciodvfy errors on ${filter}`);
  }
  const manifest = JSON.parse(await readFile(path.join(dir, 'outputs', 'fwhm4', 'series.json'), 'utf8')) as { fwhm_mm: number };
  assert.equal(manifest.fwhm_mm, 4);
});
