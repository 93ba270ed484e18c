import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { SYNTH_TRACERS, synthesizePetActivity, synthesizePetSeries } from '../../../src/series/synth.js';
import { TransferSyntax, getNumber, getNumbers, getString, readPart10File, tagOf } from '../../../src/dicom/write-part10.js';
import type { DicomDataset } from '../../../src/dicom/dataset.js';
import { readInstanceHeader } from '../../../src/dicom/read-header.js';

const run = promisify(execFile);

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'petspool-synth-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function storedPixels(dataset: DicomDataset): Int16Array {
  return new Int16Array(dataset[tagOf('PixelData')]!.Value![0] as ArrayBuffer);
}

function radiopharmaceutical(dataset: DicomDataset): DicomDataset {
  return dataset[tagOf('RadiopharmaceuticalInformationSequence')]!.Value![0] as DicomDataset;
}

/** dciodvfy's error lines, or null when it is not installed. */
async function dciodvfyErrors(file: string): Promise<string[] | null> {
  const result = await run('dciodvfy', [file]).catch((error: { code?: unknown; stdout?: string; stderr?: string }) =>
    error.code === 'ENOENT' ? null : { stdout: error.stdout ?? '', stderr: error.stderr ?? '' },
  );
  if (result === null) return null;
  return `${result.stdout}\n${result.stderr}`.split('\n').filter((line) => line.startsWith('Error'));
}

test('a synthetic series parses back with the PET attributes SUV needs and reproduces the phantom', async (t) => {
  const dir = await tempDir(t);
  const options = { slices: 10, size: 40, seed: 11, patientId: 'P-42' };
  const files = await synthesizePetSeries(dir, options);
  assert.equal(files.length, 10);
  assert.deepEqual(files.map((file) => basename(file)), [...files.map((file) => basename(file))].sort());

  const phantom = synthesizePetActivity(options);
  const datasets = await Promise.all(files.map(async (file) => (await readPart10File(file)).dataset));
  const first = datasets[0]!;
  assert.equal(getString(first, 'Modality'), 'PT');
  assert.equal(getString(first, 'SOPClassUID'), '1.2.840.10008.5.1.4.1.1.128');
  assert.equal(getString(first, 'PatientID'), 'P-42');
  assert.equal(getString(first, 'Units'), 'BQML');
  assert.equal(getString(first, 'DecayCorrection'), 'START');
  assert.equal(getNumber(first, 'NumberOfSlices'), 10);
  assert.equal(getNumber(first, 'PatientWeight'), 75);
  assert.equal(getNumber(radiopharmaceutical(first), 'RadionuclideHalfLife'), 6586.2);
  assert.ok(getNumber(radiopharmaceutical(first), 'RadionuclideTotalDose')! > 0);
  assert.match(getString(radiopharmaceutical(first), 'RadiopharmaceuticalStartDateTime')!, /^\d{14}$/);
  assert.equal(new Set(datasets.map((ds) => getString(ds, 'SOPInstanceUID'))).size, 10);
  for (const ds of datasets) assert.match(getString(ds, 'SOPInstanceUID')!, /^2\.25\.[1-9]\d{0,38}$/);
  assert.equal(new Set(datasets.map((ds) => getString(ds, 'SeriesInstanceUID'))).size, 1);

  const pixelsPerSlice = 40 * 40;
  datasets.forEach((dataset, slice) => {
    const position = getNumbers(dataset, 'ImagePositionPatient')!;
    position.forEach((v, axis) => assert.ok(Math.abs(v - phantom.positions[slice]![axis]!) < 1e-9));
    const slope = getNumber(dataset, 'RescaleSlope')!;
    assert.equal(getNumber(dataset, 'RescaleIntercept'), 0);
    const expected = phantom.activity.subarray(slice * pixelsPerSlice, (slice + 1) * pixelsPerSlice);
    const stored = storedPixels(dataset);
    let sliceMax = 0;
    let storedMax = 0;
    for (let i = 0; i < pixelsPerSlice; i++) {
      assert.ok(Math.abs(stored[i]! * slope - expected[i]!) <= slope / 2 + 1e-3, `slice ${slice} voxel ${i}`);
      sliceMax = Math.max(sliceMax, expected[i]!);
      storedMax = Math.max(storedMax, stored[i]!);
    }
    // The slope is chosen per slice so the slice uses the int16 range.
    assert.ok(storedMax >= 32766, `slice ${slice} uses up to ${storedMax}`);
    assert.ok(Math.abs(slope - sliceMax / 32767) / slope < 1e-9);
    assert.ok(getString(dataset, 'RescaleSlope')!.length <= 16);
  });
});

test('the phantom has hot spheres, cold lungs and background noise', () => {
  const phantom = synthesizePetActivity({ slices: 81, size: 128 });
  let max = 0;
  for (const v of phantom.activity) max = Math.max(max, v);
  assert.ok(max > 6 * phantom.background, `hottest voxel ${max} vs background ${phantom.background}`);
  const centre = (40 * 128 + 64) * 128 + 64;
  assert.ok(phantom.activity[centre]! > 0);
  assert.equal(phantom.activity[0], 0, 'corner voxel outside the body');
});

test('the same seed gives the same pixels, another seed different ones', async (t) => {
  const dir = await tempDir(t);
  const options = { slices: 3, size: 32 };
  const a = await synthesizePetSeries(join(dir, 'a'), { ...options, seed: 5 });
  const b = await synthesizePetSeries(join(dir, 'b'), { ...options, seed: 5 });
  const c = await synthesizePetSeries(join(dir, 'c'), { ...options, seed: 6 });
  const pixels = async (file: string) => Array.from(storedPixels((await readPart10File(file)).dataset));
  assert.deepEqual(await pixels(a[1]!), await pixels(b[1]!));
  assert.notDeepEqual(await pixels(a[1]!), await pixels(c[1]!));
});

test('missingSlices, omit and numberOfSlicesTag shape invalid or incomplete series', async (t) => {
  const dir = await tempDir(t);
  const files = await synthesizePetSeries(dir, {
    slices: 6,
    size: 16,
    missingSlices: [0, 3],
    omit: ['PatientWeight', 'RadionuclideHalfLife'],
    numberOfSlicesTag: false,
  });
  assert.deepEqual(files.map((file) => basename(file)), ['IM00002.dcm', 'IM00003.dcm', 'IM00005.dcm', 'IM00006.dcm']);
  const { dataset } = await readPart10File(files[0]!);
  assert.equal(dataset[tagOf('PatientWeight')], undefined);
  assert.equal(dataset[tagOf('NumberOfSlices')], undefined);
  assert.equal(radiopharmaceutical(dataset)[tagOf('RadionuclideHalfLife')], undefined);
  assert.ok(radiopharmaceutical(dataset)[tagOf('RadionuclideTotalDose')]);
});

test('given UIDs, series number, tracer and oblique orientation are written', async (t) => {
  const dir = await tempDir(t);
  const orientation: [number, number, number, number, number, number] = [0.8, 0.6, 0, 0, 0, -1];
  const files = await synthesizePetSeries(dir, {
    slices: 4, size: 16, tracer: 'psma-11', seriesInstanceUid: '1.2.826.0.1.3680043.2.1', studyInstanceUid: '1.2.826.0.1.3680043.2.2',
    seriesNumber: 12, orientation, sliceThickness: 2.5,
  });
  const datasets = await Promise.all(files.map(async (file) => (await readPart10File(file)).dataset));
  assert.equal(getString(datasets[0]!, 'SeriesInstanceUID'), '1.2.826.0.1.3680043.2.1');
  assert.equal(getString(datasets[0]!, 'StudyInstanceUID'), '1.2.826.0.1.3680043.2.2');
  assert.equal(getNumber(datasets[0]!, 'SeriesNumber'), 12);
  assert.deepEqual(getNumbers(datasets[0]!, 'ImageOrientationPatient'), orientation);
  const rp = radiopharmaceutical(datasets[0]!);
  assert.equal(getNumber(rp, 'RadionuclideHalfLife'), SYNTH_TRACERS['PSMA-11']!.halfLife);
  const nuclide = rp[tagOf('RadionuclideCodeSequence')]!.Value![0] as DicomDataset;
  assert.equal(getString(nuclide, 'CodeMeaning'), '^68^Gallium');
  // Consecutive slices are one slice thickness apart along the normal (row x column direction).
  const normal = [0.6 * -1 - 0, 0 - 0.8 * -1, 0];
  const along = datasets.map((ds) => getNumbers(ds, 'ImagePositionPatient')!.reduce((sum, v, axis) => sum + v * normal[axis]!, 0));
  for (let i = 1; i < along.length; i++) assert.ok(Math.abs(Math.abs(along[i]! - along[i - 1]!) - 2.5) < 1e-9);
  assert.throws(() => synthesizePetActivity({ tracer: 'no-such-tracer' }), /Unknown tracer/);
});

test('every transfer syntax writes the same pixel values, and a CT series can be made', async (t) => {
  const dir = await tempDir(t);
  const options = { slices: 2, size: 16, seed: 9 };
  const little = await synthesizePetSeries(join(dir, 'le'), options);
  const implicit = await synthesizePetSeries(join(dir, 'il'), { ...options, transferSyntaxUid: TransferSyntax.ImplicitVRLittleEndian });
  const big = await synthesizePetSeries(join(dir, 'be'), { ...options, transferSyntaxUid: TransferSyntax.ExplicitVRBigEndian });
  const reference = storedPixels((await readPart10File(little[0]!)).dataset);
  const implicitFile = await readPart10File(implicit[0]!);
  assert.equal(getString(implicitFile.meta, 'TransferSyntaxUID'), TransferSyntax.ImplicitVRLittleEndian);
  assert.deepEqual(storedPixels(implicitFile.dataset), reference);
  const bigFile = await readPart10File(big[0]!);
  assert.equal(getString(bigFile.meta, 'TransferSyntaxUID'), TransferSyntax.ExplicitVRBigEndian);
  assert.deepEqual(storedPixels(bigFile.dataset), reference);
  // On disk the words really are big-endian.
  const bytes = await readFile(big[0]!);
  const pixelStart = bytes.length - reference.length * 2;
  const brightest = reference.indexOf(Math.max(...reference));
  assert.equal(bytes.readInt16BE(pixelStart + 2 * brightest), reference[brightest]);

  const ct = await synthesizePetSeries(join(dir, 'ct'), { ...options, ct: true });
  const ctDataset = (await readPart10File(ct[0]!)).dataset;
  assert.equal(getString(ctDataset, 'Modality'), 'CT');
  assert.equal(getString(ctDataset, 'SOPClassUID'), '1.2.840.10008.5.1.4.1.1.2');
  assert.ok(storedPixels(ctDataset).includes(-1000));
});

test('dciodvfy reports no error on synthetic PET series of every tracer and transfer syntax, nor on CT', async (t) => {
  const dir = await tempDir(t);
  const series: [string, Parameters<typeof synthesizePetSeries>[1]][] = [
    ...Object.keys(SYNTH_TRACERS).map((tracer): [string, Parameters<typeof synthesizePetSeries>[1]] => [tracer, { tracer }]),
    ['implicit', { transferSyntaxUid: TransferSyntax.ImplicitVRLittleEndian }],
    ['big', { transferSyntaxUid: TransferSyntax.ExplicitVRBigEndian }],
    ['oblique', { orientation: [0.9659258262890683, 0.25881904510252074, 0, 0, 0, -1] }],
    ['ct', { ct: true }],
  ];
  for (const [name, options] of series) {
    const files = await synthesizePetSeries(join(dir, name), { slices: 2, size: 16, ...options });
    const errors = await dciodvfyErrors(files[1]!);
    if (errors === null) {
      t.skip('dciodvfy (Debian package dicom3tools) is not installed');
      return;
    }
    assert.deepEqual(errors, [], name);
  }
});

test('a full-size 128x128x81 series is written whole: 81 slices of 128x128, in slice order', async (t) => {
  // Its speed is not asserted (timing in tests fails on a loaded machine); the benchmarks measure
  // writing series (bench/write-derived-series.ts).
  const dir = await tempDir(t);
  const files = await synthesizePetSeries(dir);
  assert.equal(files.length, 81);
  const headers = files.map((file) => readInstanceHeader(file));
  assert.ok(headers.every((h) => h.rows === 128 && h.columns === 128));
  assert.deepEqual(headers.map((h) => h.instanceNumber), Array.from({ length: 81 }, (_, i) => i + 1));
});
