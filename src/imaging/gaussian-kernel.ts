/**
 * The arithmetic of the separable 3D Gaussian, shared by the single-thread path and the workers.
 * Semantics follow scipy.ndimage.gaussian_filter(mode='nearest', truncate=4.0): per axis a
 * normalised kernel of radius floor(4 * sigma + 0.5), edges replicated, axes filtered in the order
 * slice, row, column with float32 intermediates. The voxel loops are WebAssembly SIMD
 * (wasm/gaussian.ts, four voxels per instruction, float32 sums: within a few float32 roundings of
 * scipy's float64 sums); this module lays out their memory and moves slices in and out.
 *
 * One sweep over the slices of a C-order [slices, rows, columns] Float32Array: slice z is filtered
 * along the slice axis from a ring of the original slices z-R..z+R, then along rows and columns
 * while it is in cache, and written back. The ring keeps the originals that the write destroys, so
 * the volume can be filtered in place.
 */
import { layoutRegions, WasmLoops } from './wasm-loops.js';

export const FWHM_PER_SIGMA = 2 * Math.sqrt(2 * Math.LN2); // 2.3548...
const TRUNCATE = 4.0;

/** Half of a symmetric kernel: weights[0] is the centre tap, weights[k] the taps at ±k. */
export type HalfKernel = Float64Array;

export function gaussianHalfKernel(sigmaVoxels: number): HalfKernel {
  // Like scipy: an axis whose sigma is ~0 is left alone.
  if (!(sigmaVoxels > 1e-15)) return Float64Array.of(1);
  const radius = Math.floor(TRUNCATE * sigmaVoxels + 0.5);
  const half = new Float64Array(radius + 1);
  let sum = 0;
  for (let k = 0; k <= radius; k++) {
    half[k] = Math.exp((-0.5 * k * k) / (sigmaVoxels * sigmaVoxels));
    sum += k === 0 ? half[k] : 2 * half[k];
  }
  for (let k = 0; k <= radius; k++) half[k] /= sum;
  return half;
}

export interface FilterGeometry {
  shape: readonly [number, number, number];
  slice: HalfKernel;
  row: HalfKernel;
  column: HalfKernel;
}

interface GaussianLoops {
  combineLines(lines: number, radius: number, weights: number, dst: number, n: number): void;
  filterInPlane(src: number, rows: number, cols: number, rowRadius: number, rowWeights: number,
    colRadius: number, colWeights: number, scratch: number, lines: number, dst: number): void;
}

const gaussianLoops = new WasmLoops<GaussianLoops>('gaussian');

/** Where the loops' inputs, outputs and scratch lie in their memory. */
function layoutFor(geometry: FilterGeometry) {
  const [, rows, cols] = geometry.shape;
  const plane = rows * cols;
  const width = 2 * geometry.slice.length - 1;
  const padded = cols + 2 * (geometry.column.length - 1);
  return layoutRegions({
    sliceWeights: geometry.slice.length * 4,
    rowWeights: geometry.row.length * 4,
    colWeights: geometry.column.length * 4,
    sliceLines: width * 4,
    rowLines: (2 * geometry.row.length - 1) * 4,
    ring: width * plane * 4,
    sliceFiltered: plane * 4,
    rowFiltered: rows * padded * 4,
    out: plane * 4,
  });
}

/** out = (1 − blend)·out + blend·input, voxel by voxel: part of the unfiltered input mixed back in. */
export function blendInto(out: Float32Array, input: Float32Array, blend: number): void {
  const keep = 1 - blend;
  for (let i = 0; i < out.length; i++) out[i] = keep * out[i]! + blend * input[i]!;
}

/** The unfiltered slice j (0 ≤ j < slices), wherever the caller keeps it. */
export type OriginalSlice = (j: number) => Float32Array;

/**
 * Filter slices [firstSlice, endSlice) on all three axes and write them into dst. original(j)
 * must return unfiltered slice j for j within [firstSlice - R, endSlice + R) (clamped to the
 * volume); when dst is also the source, slices inside the range are read before they are written.
 */
export function filterSlices(
  original: OriginalSlice,
  dst: Float32Array,
  geometry: FilterGeometry,
  firstSlice: number,
  endSlice: number,
): void {
  const plane = geometry.shape[1] * geometry.shape[2];
  forEachFilteredSlice(original, geometry, firstSlice, endSlice, (z, slice) => dst.set(slice, z * plane));
}

/**
 * Filter slices [firstSlice, endSlice) as filterSlices does, handing each to `take` in turn
 * instead of writing it into a volume: `slice` is only valid during the call (it is the loops'
 * output memory), and slice z's original is read before slice z is handed over.
 */
export function forEachFilteredSlice(
  original: OriginalSlice,
  geometry: FilterGeometry,
  firstSlice: number,
  endSlice: number,
  take: (z: number, slice: Float32Array) => void,
): void {
  const [slices, rows, cols] = geometry.shape;
  const radius = geometry.slice.length - 1;
  const width = 2 * radius + 1;
  const plane = rows * cols;
  const layout = layoutFor(geometry);
  const { loops, memory } = gaussianLoops.withMemory(layout.end);
  const floats = new Float32Array(memory.buffer);
  const addresses = new Uint32Array(memory.buffer);
  floats.set(geometry.slice, layout.sliceWeights / 4);
  floats.set(geometry.row, layout.rowWeights / 4);
  floats.set(geometry.column, layout.colWeights / 4);
  const clamp = (j: number): number => (j < 0 ? 0 : j >= slices ? slices - 1 : j);
  // Original slice j lives in ring slot j mod width from the time it is loaded until slice
  // j + width replaces it, which is after the last output (j + radius) that needs it.
  const slotAddress = (j: number): number => layout.ring + (j % width) * plane * 4;
  const load = (j: number): void => floats.set(original(j), slotAddress(j) / 4);
  for (let j = clamp(firstSlice - radius); j < Math.min(slices, firstSlice + radius); j++) load(j);
  const out = floats.subarray(layout.out / 4, layout.out / 4 + plane);
  for (let z = firstSlice; z < endSlice; z++) {
    if (z + radius < slices) load(z + radius);
    for (let k = -radius; k <= radius; k++) addresses[layout.sliceLines / 4 + radius + k] = slotAddress(clamp(z + k));
    loops.combineLines(layout.sliceLines, radius, layout.sliceWeights, layout.sliceFiltered, plane);
    loops.filterInPlane(layout.sliceFiltered, rows, cols, geometry.row.length - 1, layout.rowWeights,
      geometry.column.length - 1, layout.colWeights, layout.rowFiltered, layout.rowLines, layout.out);
    take(z, out);
  }
}
