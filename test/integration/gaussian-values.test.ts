/**
 * The value test of issue 6: the pixel values of the series the unpacker writes (read back from
 * the DICOM files, stored value × RescaleSlope + RescaleIntercept) match
 * scipy.ndimage.gaussian_filter(mode='nearest') of the volume the service returned, within 0.5 %
 * of its maximum, for an anisotropic voxel size. Sigma is computed by the Python side itself from
 * the FWHM and the voxel size, so it checks our mm-to-voxel conversion too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Store } from '../../src/db/store.js';
import { getNumber, readPart10File, tagOf } from '../../src/dicom/write-part10.js';
import { readNpy, writeNpy } from '../../src/imaging/npy.js';
import { readResultArchive, resultArchiveLimits } from '../../src/remote/result-archive.js';
import { silentLogger } from '../../src/log/logger.js';
import { Runner } from '../../src/runner/runner.js';
import { Spool } from '../../src/spool/spool.js';
import { unpackerStage } from '../../src/stages/unpacker.js';
import { readSeriesManifest } from '../../src/spool/output-series.js';
import { makeTask, waitForTask } from '../helpers/results-task.js';

const PYTHON = '/usr/bin/python3';
const FWHM_MM = 7;

test('derived series values match scipy.ndimage.gaussian_filter(mode=nearest) within 0.5 % of the maximum', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'petspool-gauss-values-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const spool = new Spool(path.join(root, 'spool'));
  await spool.init();
  const store = await Store.open(path.join(root, 'db.json'));
  const runner = new Runner(spool, silentLogger, { scanIntervalMs: 50 });
  runner.register([unpackerStage({ config: { filters: [{ name: 'g7', fwhm_mm: FWHM_MM }], output: { series_number_offset: 1000 } }, store })]);
  // 2.0 mm pixels, 3.27 mm slices: sigma differs between the slice axis and the in-plane axes.
  const task = await makeTask(spool, { synth: { slices: 30, size: 48, pixelSpacing: 2.0, sliceThickness: 3.27 }, result: 'reference' });
  runner.start();
  t.after(() => runner.stop());
  assert.equal(await waitForTask(spool, task.id, ['unpacked', 'failed']), 'unpacked');
  const dir = spool.layout.taskDir('unpacked', task.id);

  const { volume } = await readResultArchive(path.join(dir, 'result.zip'), task.id, resultArchiveLimits(task.original.data.length));
  const input = path.join(root, 'input.npy');
  await writeNpy(input, volume.data, volume.shape);
  const referenceFile = path.join(root, 'scipy.npy');
  const script = [
    'import json, math, sys, numpy as np',
    'from scipy.ndimage import gaussian_filter',
    'fwhm, spacing = float(sys.argv[3]), json.loads(sys.argv[4])',
    'sigma = [fwhm / (2 * math.sqrt(2 * math.log(2))) / s for s in spacing]',
    "np.save(sys.argv[2], gaussian_filter(np.load(sys.argv[1]).astype(np.float64), sigma, mode='nearest').astype(np.float32))",
  ].join('\n');
  await promisify(execFile)(PYTHON, ['-c', script, input, referenceFile, String(FWHM_MM), JSON.stringify(task.original.spacing)]);
  const reference = await readNpy(referenceFile);
  assert.deepEqual(reference.shape, task.original.shape);
  assert.deepEqual(task.original.spacing.map((s) => Number(s.toFixed(2))), [3.27, 2, 2]);

  const seriesDir = path.join(dir, 'outputs', 'g7');
  const manifest = await readSeriesManifest(seriesDir);
  const [, rows, columns] = task.original.shape;
  const perSlice = rows * columns;
  let maxDiff = 0;
  for (const [slice, instance] of manifest.instances.entries()) {
    const { dataset } = await readPart10File(path.join(seriesDir, instance.file));
    const stored = new Int16Array(dataset[tagOf('PixelData')]!.Value![0] as ArrayBuffer);
    const slope = getNumber(dataset, 'RescaleSlope') ?? 1;
    const intercept = getNumber(dataset, 'RescaleIntercept') ?? 0;
    for (let i = 0; i < perSlice; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(stored[i]! * slope + intercept - reference.data[slice * perSlice + i]!));
    }
  }
  const volumeMax = (await readNpy(input)).data.reduce((m, v) => Math.max(m, v), -Infinity);
  const tolerance = 0.005 * volumeMax;
  assert.ok(maxDiff <= tolerance, `max abs difference ${maxDiff} > ${tolerance} (0.5 % of ${volumeMax})`);
  // int16 with a per-slice slope loses at most half a step of the slice's range.
  assert.ok(maxDiff <= volumeMax / 32767, `max abs difference ${maxDiff} is more than quantisation`);
});
