/**
 * The imaging worker thread on its own: a real worker started from the compiled module, sent one
 * job message at a time as the pools send them, its results read from the shared buffers. Each
 * job's result is compared with the plain formula computed here in float64: the 3D Gaussian with
 * replicated edges (truncated at 4 sigma, like scipy.ndimage), the int16 values and slope of each
 * output slice, the column maxima, the rescaled values of decoded slices, the bytes of written
 * files and the orientation of the preview. Failures come back as the job's error, with the errno
 * code of a file-system error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { PNG } from 'pngjs';
import { formatDS } from '../../../src/dicom/ds.js';
import { readInstanceHeader } from '../../../src/dicom/read-header.js';
import { getNumber, readPart10File, tagOf } from '../../../src/dicom/write-part10.js';
import { FWHM_PER_SIGMA, gaussianHalfKernel } from '../../../src/imaging/gaussian-kernel.js';
import type { ImagingJob, ImagingReply } from '../../../src/imaging/imaging-jobs.js';
import { synthesizePetSeries } from '../../../src/series/synth.js';
import { uniformGenerator } from '../../../src/util/prng.js';

let worker: Worker;
let work: string;
let nextId = 1;

before(async () => {
  worker = new Worker(new URL('../../../src/imaging/imaging-worker.js', import.meta.url));
  work = await mkdtemp(path.join(os.tmpdir(), 'petspool-imaging-worker-'));
});
after(async () => {
  await worker.terminate();
  await rm(work, { recursive: true, force: true });
});

type JobWithoutId = ImagingJob extends infer J ? (J extends { id: number } ? Omit<J, 'id'> : never) : never;

/** Posts one job and resolves with the worker's reply to it. */
function run(job: JobWithoutId): Promise<ImagingReply> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const onMessage = (reply: ImagingReply) => {
      if (reply.id !== id) return;
      worker.off('message', onMessage);
      worker.off('error', reject);
      resolve(reply);
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
    worker.postMessage({ id, ...job });
  });
}

const SHAPE = [9, 10, 11] as const;
const SPACING = [3, 2, 2.5] as const;
const FWHM = 6;
const PLANE = SHAPE[1] * SHAPE[2];
const VOXELS = SHAPE[0] * PLANE;

function randomVolume(seed: number): Float32Array {
  const uniform = uniformGenerator(seed);
  return Float32Array.from({ length: VOXELS }, () => 100 * uniform() - 10);
}

function shared(values: Float32Array): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(values.byteLength);
  new Float32Array(buffer).set(values);
  return buffer;
}

/** The plain definition: normalised exp(−k²/2σ²) for |k| ≤ floor(4σ + 0.5), σ = FWHM / (2√(2 ln 2)) / spacing. */
function weights(spacing: number): number[] {
  const sigma = FWHM / (2 * Math.sqrt(2 * Math.log(2))) / spacing;
  const radius = Math.floor(4 * sigma + 0.5);
  const w = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / sum);
}

/** The 3D Gaussian as a sum over the whole neighbourhood, edges replicated, in float64. */
function plainGaussian(input: Float32Array): Float64Array {
  const [wz, wy, wx] = SPACING.map(weights) as [number[], number[], number[]];
  const [S, R, C] = SHAPE;
  const rz = (wz.length - 1) / 2, ry = (wy.length - 1) / 2, rx = (wx.length - 1) / 2;
  const clamp = (v: number, n: number) => Math.min(n - 1, Math.max(0, v));
  const out = new Float64Array(VOXELS);
  for (let z = 0; z < S; z++) for (let y = 0; y < R; y++) for (let x = 0; x < C; x++) {
    let sum = 0;
    for (let k = -rz; k <= rz; k++) for (let j = -ry; j <= ry; j++) for (let i = -rx; i <= rx; i++) {
      sum += wz[k + rz]! * wy[j + ry]! * wx[i + rx]! * input[clamp(z + k, S) * PLANE + clamp(y + j, R) * C + clamp(x + i, C)]!;
    }
    out[z * PLANE + y * C + x] = sum;
  }
  return out;
}

function geometry() {
  return {
    shape: SHAPE,
    slice: gaussianHalfKernel(FWHM / FWHM_PER_SIGMA / SPACING[0]),
    row: gaussianHalfKernel(FWHM / FWHM_PER_SIGMA / SPACING[1]),
    column: gaussianHalfKernel(FWHM / FWHM_PER_SIGMA / SPACING[2]),
  };
}

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>, from = 0, to = a.length): number {
  let worst = 0;
  for (let i = from; i < to; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/** What an output slice holds, by definition: slope = max|v| / 32767 as DS, values round(v / slope), column maxima over rows. */
function plainOutputSlice(values: ArrayLike<number>, z: number) {
  const slice = Array.from({ length: PLANE }, (_, i) => Math.fround(values[z * PLANE + i]!));
  const maxAbs = Math.max(...slice.map(Math.abs));
  const slope = Number(formatDS(maxAbs / 32767));
  const pixels = slice.map((v) => Math.max(-32767, Math.min(32767, Math.round(v / slope))));
  const maxima = Array.from({ length: SHAPE[2] }, (_, x) => Math.max(...Array.from({ length: SHAPE[1] }, (_, y) => slice[y * SHAPE[2] + x]!)));
  return { slope, pixels, maxima };
}

function outputBuffers() {
  return {
    pixels: new SharedArrayBuffer(VOXELS * 2),
    slopes: new SharedArrayBuffer(SHAPE[0] * 8),
    coronalRows: new SharedArrayBuffer(SHAPE[0] * SHAPE[2] * 4),
  };
}

function assertOutputSlices(out: ReturnType<typeof outputBuffers>, expectedValues: ArrayLike<number>, slices: number[]): void {
  const pixels = new Int16Array(out.pixels);
  const slopes = new Float64Array(out.slopes);
  const coronal = new Float32Array(out.coronalRows);
  for (const z of slices) {
    const expected = plainOutputSlice(expectedValues, z);
    assert.equal(slopes[z], expected.slope, `slope of slice ${z}`);
    assert.deepEqual([...pixels.subarray(z * PLANE, (z + 1) * PLANE)], expected.pixels, `int16 values of slice ${z}`);
    assert.deepEqual([...coronal.subarray(z * SHAPE[2], (z + 1) * SHAPE[2])], expected.maxima, `column maxima of slice ${z}`);
  }
}

test('filter job: the slices of its range are the 3D Gaussian of the source, the others untouched', async () => {
  const input = randomVolume(1);
  const expected = plainGaussian(input);
  const output = new SharedArrayBuffer(VOXELS * 4);
  const reply = await run({
    kind: 'filter', from: 2, to: 6, buffer: output, geometry: geometry(),
    originals: { kind: 'source', buffer: shared(input), byteOffset: 0, length: VOXELS },
  });
  assert.deepEqual(reply, { id: reply.id });
  const filtered = new Float32Array(output);
  assert.ok(maxAbsDifference(filtered, expected, 2 * PLANE, 6 * PLANE) < 1e-4, 'float32 sums within 1e-4 of float64 (values up to 90)');
  assert.ok(filtered.subarray(0, 2 * PLANE).every((v) => v === 0) && filtered.subarray(6 * PLANE).every((v) => v === 0));
});

test('filter job in place: the range filtered from itself and a halo copy of its neighbours', async () => {
  const input = randomVolume(2);
  const expected = plainGaussian(input);
  const radius = geometry().slice.length - 1;
  const [from, to] = [3, 6];
  const haloSlices = [];
  for (let j = Math.max(0, from - radius); j < Math.min(SHAPE[0], to + radius); j++) if (j < from || j >= to) haloSlices.push(j);
  const halo = new SharedArrayBuffer(haloSlices.length * PLANE * 4);
  haloSlices.forEach((j, slot) => new Float32Array(halo, slot * PLANE * 4, PLANE).set(input.subarray(j * PLANE, (j + 1) * PLANE)));
  const volume = shared(input);
  const reply = await run({ kind: 'filter', from, to, buffer: volume, geometry: geometry(), originals: { kind: 'in-place', halo, haloSlices } });
  assert.equal(reply.error, undefined);
  assert.ok(maxAbsDifference(new Float32Array(volume), expected, from * PLANE, to * PLANE) < 1e-4);

  // A halo without a slice the kernel reaches is an error of that job, not a wrong answer.
  const short = await run({ kind: 'filter', from, to, buffer: shared(input), geometry: geometry(), originals: { kind: 'in-place', halo, haloSlices: haloSlices.slice(1) } });
  assert.match(short.error?.message ?? '', /^slice \d+ is outside the job and its halo$/);
});

test('output job: int16 values, RescaleSlope and column maxima of each slice of the range', async () => {
  const input = randomVolume(3);
  input[4 * PLANE + 17] = Number.NaN; // stored as 0
  const out = outputBuffers();
  const reply = await run({ kind: 'output', from: 1, to: 7, shape: SHAPE, source: { buffer: shared(input), byteOffset: 0, length: VOXELS }, out });
  assert.equal(reply.error, undefined);
  const withNaNAsZero = Float32Array.from(input, (v) => (Number.isNaN(v) ? 0 : v));
  assertOutputSlices(out, withNaNAsZero, [1, 2, 3, 5, 6]);
  assert.equal(new Int16Array(out.pixels)[4 * PLANE + 17], 0, 'NaN is stored as 0');
  assert.equal(new Float64Array(out.slopes)[0], 0, 'slices outside the range untouched');
});

test('filter-output job: filtered, blended with the input, and turned into output slices at once', async () => {
  const input = randomVolume(4);
  const filtered = plainGaussian(input);
  const blend = 0.25;
  const blended = Float64Array.from(filtered, (v, i) => (1 - blend) * Math.fround(v) + blend * input[i]!);
  const out = outputBuffers();
  const reply = await run({
    kind: 'filter-output', from: 0, to: SHAPE[0], geometry: geometry(), blend,
    source: { buffer: shared(input), byteOffset: 0, length: VOXELS }, out,
  });
  assert.equal(reply.error, undefined);
  // The float32 filter may differ from float64 in the last bits, which can move a value across a rounding step.
  const pixels = new Int16Array(out.pixels);
  const slopes = new Float64Array(out.slopes);
  for (let z = 0; z < SHAPE[0]; z++) {
    const expected = plainOutputSlice(blended, z);
    assert.ok(Math.abs(slopes[z]! - expected.slope) <= expected.slope * 1e-5, `slope of slice ${z}`);
    assert.ok(maxAbsDifference(pixels.subarray(z * PLANE, (z + 1) * PLANE), expected.pixels) <= 1, `values of slice ${z}`);
  }
});

test('decode job: each slice file becomes stored value × RescaleSlope + RescaleIntercept, with its column maxima', async () => {
  const files = await synthesizePetSeries(path.join(work, 'series'), { slices: 4, size: 12, seed: 5 });
  const headers = files.map((file) => readInstanceHeader(file));
  const shape = [4, 12, 12] as const;
  const out = { volume: new SharedArrayBuffer(4 * 144 * 4), coronalRows: new SharedArrayBuffer(4 * 12 * 4) };
  const reply = await run({ kind: 'decode', from: 1, to: 4, files: files.slice(1), headers: headers.slice(1), shape, out });
  assert.equal(reply.error, undefined);
  const volume = new Float32Array(out.volume);
  const coronal = new Float32Array(out.coronalRows);
  for (let z = 1; z < 4; z++) {
    const { dataset } = await readPart10File(files[z]!);
    const stored = new Int16Array(dataset[tagOf('PixelData')]!.Value![0] as ArrayBuffer);
    const slope = getNumber(dataset, 'RescaleSlope') ?? 1;
    const intercept = getNumber(dataset, 'RescaleIntercept') ?? 0;
    const expected = Array.from(stored, (v) => Math.fround(v * slope + intercept));
    assert.deepEqual([...volume.subarray(z * 144, (z + 1) * 144)], expected, `slice ${z}`);
    const maxima = Array.from({ length: 12 }, (_, x) => Math.max(...Array.from({ length: 12 }, (_, y) => expected[y * 12 + x]!)));
    assert.deepEqual([...coronal.subarray(z * 12, (z + 1) * 12)], maxima);
  }
  assert.ok(volume.subarray(0, 144).every((v) => v === 0), 'slice 0 was not in the job');

  const missing = await run({ kind: 'decode', from: 0, to: 1, files: [path.join(work, 'absent.dcm')], headers: headers.slice(0, 1), shape, out });
  assert.equal(missing.error?.code, 'ENOENT');
  assert.match(missing.error?.message ?? '', /absent\.dcm/);
});

test('write-files job: each file is its parts in order; a folder that does not exist is the job\'s ENOENT', async () => {
  const sharedBytes = new Uint8Array(new SharedArrayBuffer(6));
  sharedBytes.set([1, 2, 3, 4, 5, 6]);
  const files = [
    { path: path.join(work, 'a.bin'), parts: [Uint8Array.of(9, 8), sharedBytes.subarray(2, 5), Uint8Array.of(7)] },
    { path: path.join(work, 'b.bin'), parts: [new Uint8Array(Buffer.from('DICM'))] },
  ];
  assert.deepEqual(await run({ kind: 'write-files', files }), { id: nextId - 1 });
  assert.deepEqual([...await readFile(files[0]!.path)], [9, 8, 3, 4, 5, 7]);
  assert.equal(await readFile(files[1]!.path, 'latin1'), 'DICM');

  const failed = await run({ kind: 'write-files', files: [{ path: path.join(work, 'no-such-folder', 'c.bin'), parts: [Uint8Array.of(1)] }] });
  assert.equal(failed.error?.code, 'ENOENT');
  assert.match(failed.error?.stack ?? '', /ENOENT/);
});

test('write-preview job: a coronal MIP PNG, hot dark on white, the hot voxel where its slice and column put it', async () => {
  const [slices, columns] = [6, 8];
  const rows = new Float32Array(slices * columns);
  rows[1 * columns + 5] = 50; // slice 1, column 5
  const file = path.join(work, 'previews', 'original.png');
  await mkdir(path.dirname(file));
  const reply = await run({
    kind: 'write-preview', file, coronalRows: rows,
    geometry: { shape: [slices, 4, columns], orientation: [1, 0, 0, 0, 1, 0], spacing: [2, 2, 2] },
  });
  assert.equal(reply.error, undefined);
  assert.deepEqual(await readdir(path.dirname(file)), ['original.png'], 'written under a temporary name, then renamed');
  const png = PNG.sync.read(await readFile(file));
  assert.deepEqual([png.width, png.height], [columns, slices]);
  const grey = (x: number, y: number) => png.data[(y * png.width + x) * 4]!;
  const dark = [];
  for (let y = 0; y < png.height; y++) for (let x = 0; x < png.width; x++) if (grey(x, y) < 255) dark.push([x, y, grey(x, y)]);
  // Slice index grows along +z (towards the head), the head is at the top: slice 1 is drawn second from the bottom.
  assert.deepEqual(dark, [[5, slices - 1 - 1, 0]], 'one black pixel (the hot voxel) on white');
});
