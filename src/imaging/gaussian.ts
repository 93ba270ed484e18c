/**
 * Isotropic 3D Gaussian post-filter in millimetres for a PET volume.
 *
 * Matches scipy.ndimage.gaussian_filter(vol, sigma, mode='nearest') with its default
 * truncate=4.0, sigma per axis in voxels = FWHM / 2.3548 / spacing[axis]. Large volumes are split
 * over the imaging worker threads (worker-pool.ts), which share the output through a
 * SharedArrayBuffer; small ones run synchronously in this thread. Peak memory is the input plus one volume: the result array is the
 * only large allocation. When the input already lives in a SharedArrayBuffer (assembleVolume
 * allocates it so) the workers read it directly; otherwise it is copied into the result and
 * filtered there in place, each worker getting a copy of the few neighbouring slices (halo) that
 * the worker next to it overwrites. gaussianOutputSlices gives what a derived series needs of the
 * filtered volume without making the volume (see there).
 */
import { availableParallelism } from 'node:os';
import { blendInto, filterSlices, FWHM_PER_SIGMA, gaussianHalfKernel, type FilterGeometry } from './gaussian-kernel.js';
import { allocateOutputSlices, outputSlicesIn, prepareOutputSlices, type OutputSlices } from './output-slices.js';
import { voxelCount, type Volume } from './volume.js';
import { ImagingPool } from './worker-pool.js';

export interface GaussianOptions {
  /** Fraction (0..1) of the unfiltered input mixed back into the result. Default 0. */
  blend?: number;
  /** Threads to use; default: the machine's available parallelism. 1 forces the synchronous path. */
  threads?: number;
}

/** Below this many voxels thread start-up and hand-over cost more than they save. */
const SMALL_VOLUME_VOXELS = 1 << 20;

/** Sigma per axis in voxels for an isotropic FWHM in mm. */
export function sigmaVoxels(fwhmMm: number, spacing: readonly [number, number, number]): [number, number, number] {
  const sigmaMm = fwhmMm / FWHM_PER_SIGMA;
  return [sigmaMm / spacing[0], sigmaMm / spacing[1], sigmaMm / spacing[2]];
}

export async function gaussianFilter(vol: Volume, fwhmMm: number, opts: GaussianOptions = {}): Promise<Float32Array> {
  const { blend, geometry } = checkedFilter(vol, fwhmMm, opts);
  const threads = threadsOf(opts);
  const parallel = threads > 1 && vol.data.length >= SMALL_VOLUME_VOXELS;
  // Shared memory only when workers will touch it.
  const out = parallel ? new Float32Array(new SharedArrayBuffer(vol.data.byteLength)) : new Float32Array(vol.data.length);
  const sharedInput = parallel && vol.data.buffer instanceof SharedArrayBuffer;
  if (fwhmMm === 0 || !sharedInput) out.set(vol.data);
  if (fwhmMm === 0) return out;

  if (sharedInput) {
    await filterSharedWithWorkers(vol.data, out, geometry, threads);
  } else if (parallel) {
    await filterInPlaceWithWorkers(vol.data, out, geometry, threads);
  } else {
    const plane = vol.shape[1] * vol.shape[2];
    filterSlices((j) => out.subarray(j * plane, (j + 1) * plane), out, geometry, 0, vol.shape[0]);
  }
  if (blend > 0) blendInto(out, vol.data, blend);
  return out;
}

/**
 * The output slices (output-slices.ts) of the filtered volume: the same as prepareOutputSlices of
 * gaussianFilter's result, without that result. For a large volume in shared memory each worker
 * thread filters its slices and makes their stored values, slopes and column maxima at once, so
 * the filtered floats never leave its cache: no second volume to allocate, fill and read back.
 */
export async function gaussianOutputSlices(vol: Volume, fwhmMm: number, opts: GaussianOptions = {}): Promise<OutputSlices> {
  const threads = threadsOf(opts);
  const input = vol.data;
  if (!(threads > 1 && input.length >= SMALL_VOLUME_VOXELS && input.buffer instanceof SharedArrayBuffer)) {
    return prepareOutputSlices({ ...vol, data: await gaussianFilter(vol, fwhmMm, opts) }, { threads });
  }
  const { blend, geometry } = checkedFilter(vol, fwhmMm, opts);
  const out = allocateOutputSlices(vol.shape, true);
  const source = { buffer: input.buffer, byteOffset: input.byteOffset, length: input.length };
  // As gaussianFilter: an unfiltered volume (FWHM 0) is not blended (it is its own input).
  const mixed = fwhmMm === 0 ? 0 : blend;
  await ImagingPool.shared().runSplit(threads, vol.shape[0], (from, to) => ({ kind: 'filter-output', source, geometry, blend: mixed, from, to, out }));
  return outputSlicesIn(out);
}

function threadsOf(opts: GaussianOptions): number {
  return Math.max(1, Math.floor(opts.threads ?? availableParallelism()));
}

/** The options checked, and the separable kernels of the filter (one tap, 1, per axis for FWHM 0). */
function checkedFilter(vol: Volume, fwhmMm: number, opts: GaussianOptions): { blend: number; geometry: FilterGeometry } {
  const blend = opts.blend ?? 0;
  if (!(fwhmMm >= 0) || !Number.isFinite(fwhmMm)) throw new RangeError(`fwhm_mm must be a finite number ≥ 0, got ${fwhmMm}`);
  if (!(blend >= 0 && blend <= 1)) throw new RangeError(`blend must be within 0..1, got ${blend}`);
  if (voxelCount(vol.shape) !== vol.data.length) {
    throw new RangeError(`volume shape ${vol.shape.join('x')} does not match ${vol.data.length} voxels`);
  }
  if (vol.spacing.some((s) => !(s > 0))) throw new RangeError(`voxel spacing must be > 0, got ${vol.spacing.join(', ')}`);
  const [ss, sr, sc] = sigmaVoxels(fwhmMm, vol.spacing);
  return { blend, geometry: { shape: vol.shape, slice: gaussianHalfKernel(ss), row: gaussianHalfKernel(sr), column: gaussianHalfKernel(sc) } };
}

async function filterSharedWithWorkers(input: Float32Array, out: Float32Array, geometry: FilterGeometry, threads: number): Promise<void> {
  const originals = { kind: 'source', buffer: input.buffer as SharedArrayBuffer, byteOffset: input.byteOffset, length: input.length } as const;
  const buffer = out.buffer as SharedArrayBuffer;
  await ImagingPool.shared().runSplit(threads, geometry.shape[0], (from, to) => ({ kind: 'filter', buffer, geometry, from, to, originals }));
}

/** `out` already holds a copy of `input`; the halos are read from `input`, which nobody writes. */
async function filterInPlaceWithWorkers(input: Float32Array, out: Float32Array, geometry: FilterGeometry, threads: number): Promise<void> {
  const [slices, rows, cols] = geometry.shape;
  const plane = rows * cols;
  const radius = geometry.slice.length - 1;
  const buffer = out.buffer as SharedArrayBuffer;
  await ImagingPool.shared().runSplit(threads, slices, (from, to) => {
    const haloSlices: number[] = [];
    for (let j = Math.max(0, from - radius); j < from; j++) haloSlices.push(j);
    for (let j = to; j < Math.min(slices, to + radius); j++) haloSlices.push(j);
    const halo = new SharedArrayBuffer(Math.max(1, haloSlices.length) * plane * 4);
    const haloData = new Float32Array(halo);
    haloSlices.forEach((j, slot) => haloData.set(input.subarray(j * plane, (j + 1) * plane), slot * plane));
    return { kind: 'filter', buffer, geometry, from, to, originals: { kind: 'in-place', halo, haloSlices } };
  });
}
