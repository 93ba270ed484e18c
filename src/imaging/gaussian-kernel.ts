/**
 * The arithmetic of the separable 3D Gaussian, shared by the single-thread path and the workers.
 * Semantics follow scipy.ndimage.gaussian_filter(mode='nearest', truncate=4.0): per axis a
 * normalised kernel of radius floor(4 * sigma + 0.5), edges replicated, axes filtered in the order
 * slice, row, column with float32 intermediates. Sums are accumulated in float64.
 *
 * One sweep over the slices of a C-order [slices, rows, columns] Float32Array: slice z is filtered
 * along the slice axis from a ring of the original slices z-R..z+R, then along rows and columns
 * while it is in cache, and written in place. The ring keeps the originals that the write
 * destroys, so no second volume is needed.
 */

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

/** Per-thread scratch buffers, reused across calls. */
export class PassScratch {
  private originals = new Float32Array(0);
  private sliceCopy = new Float32Array(0);

  ring(n: number): Float32Array {
    if (this.originals.length < n) this.originals = new Float32Array(n);
    return this.originals;
  }
  slice(n: number): Float32Array {
    if (this.sliceCopy.length < n) this.sliceCopy = new Float32Array(n);
    return this.sliceCopy;
  }
}

/**
 * dst[dstAt + i] = Σ_k w[|k|] · src[lines[R + k] + i] for i < n: combines 2R+1 lines (rows of a
 * slice, or slices of a pixel block) into one. Used for the two strided axes.
 */
type CombineLines = (src: Float32Array, lines: Int32Array, dst: Float32Array, dstAt: number, n: number) => void;
/** 1D convolution of a contiguous line padded by R: dst[dstAt + x] = Σ_k w[|k|] · src[srcAt + R + x + k]. */
type ConvolveLine = (src: Float32Array, srcAt: number, dst: Float32Array, dstAt: number, n: number) => void;

/*
 * The inner loops are generated once per kernel with the weights and the tap count written out,
 * so V8 keeps every tap in a register: a generic loop over taps runs 3–6× slower (measured).
 * The generated source contains only numbers produced here.
 */
const combineCache = new Map<string, CombineLines>();
const convolveCache = new Map<string, ConvolveLine>();

function weightLiteral(w: number): string {
  return Number.isFinite(w) ? String(w) : '0';
}

function combineLinesFor(half: HalfKernel): CombineLines {
  const key = Array.from(half).join(',');
  let fn = combineCache.get(key);
  if (fn) return fn;
  const r = half.length - 1;
  const decl: string[] = [];
  const terms: string[] = [];
  for (let k = 0; k <= r; k++) {
    if (k === 0) {
      decl.push(`const c = lines[${r}];`);
      terms.push(`${weightLiteral(half[0])} * src[c + i]`);
    } else {
      decl.push(`const m${k} = lines[${r - k}], p${k} = lines[${r + k}];`);
      terms.push(`${weightLiteral(half[k])} * (src[m${k} + i] + src[p${k} + i])`);
    }
  }
  const body = `${decl.join('\n')}\nfor (let i = 0; i < n; i++) dst[dstAt + i] = ${terms.join(' + ')};`;
  fn = new Function('src', 'lines', 'dst', 'dstAt', 'n', body) as CombineLines;
  combineCache.set(key, fn);
  return fn;
}

function convolveLineFor(half: HalfKernel): ConvolveLine {
  const key = Array.from(half).join(',');
  let fn = convolveCache.get(key);
  if (fn) return fn;
  const r = half.length - 1;
  const width = 2 * r + 1;
  // Sliding window a0..a{2r}: a{r} is the centre tap; each step loads one new value.
  const preload = Array.from({ length: width - 1 }, (_, j) => `let a${j} = src[srcAt + ${j}];`);
  const terms = [`${weightLiteral(half[0])} * a${r}`];
  for (let k = 1; k <= r; k++) terms.push(`${weightLiteral(half[k])} * (a${r - k} + a${r + k})`);
  const shift = Array.from({ length: width - 1 }, (_, j) => `a${j} = a${j + 1};`);
  const body = [
    ...preload,
    'for (let x = 0; x < n; x++) {',
    `  const a${width - 1} = src[srcAt + x + ${width - 1}];`,
    `  dst[dstAt + x] = ${terms.join(' + ')};`,
    `  ${shift.join(' ')}`,
    '}',
  ].join('\n');
  fn = new Function('src', 'srcAt', 'dst', 'dstAt', 'n', body) as ConvolveLine;
  convolveCache.set(key, fn);
  return fn;
}

/** Offsets of lines centre-R..centre+R, clamped to [0, count) (replicated edges), times stride. */
function clampedLines(into: Int32Array, centre: number, radius: number, count: number, stride: number): Int32Array {
  for (let k = -radius; k <= radius; k++) {
    const j = centre + k;
    into[radius + k] = (j < 0 ? 0 : j >= count ? count - 1 : j) * stride;
  }
  return into;
}

/**
 * Filter along rows then columns, in place, for slices [firstSlice, endSlice). The row-axis result
 * of a slice goes into a scratch slice whose rows carry the column filter's edge padding, then the
 * column-axis filter writes back into the volume: each slice is read and written once, in cache.
 */
export function inPlanePass(
  data: Float32Array,
  geometry: FilterGeometry,
  firstSlice: number,
  endSlice: number,
  scratch: PassScratch,
): void {
  const [, rows, cols] = geometry.shape;
  const rowRadius = geometry.row.length - 1;
  const colRadius = geometry.column.length - 1;
  if (rowRadius === 0 && colRadius === 0) return;
  const combine = combineLinesFor(geometry.row);
  const convolve = convolveLineFor(geometry.column);
  const plane = rows * cols;
  const paddedCols = cols + 2 * colRadius;
  const rowFiltered = scratch.slice(rows * paddedCols);
  const lines = new Int32Array(2 * rowRadius + 1);
  for (let z = firstSlice; z < endSlice; z++) {
    const base = z * plane;
    for (let y = 0; y < rows; y++) {
      const start = y * paddedCols;
      const first = start + colRadius;
      const last = first + cols - 1;
      clampedLines(lines, y, rowRadius, rows, cols);
      for (let k = 0; k < lines.length; k++) lines[k] += base;
      combine(data, lines, rowFiltered, first, cols);
      // Replicated edges for the column-axis filter.
      rowFiltered.fill(rowFiltered[first], start, first);
      rowFiltered.fill(rowFiltered[last], last + 1, start + paddedCols);
    }
    for (let y = 0; y < rows; y++) convolve(rowFiltered, y * paddedCols, data, base + y * cols, cols);
  }
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
  scratch: PassScratch,
): void {
  const [slices, rows, cols] = geometry.shape;
  const radius = geometry.slice.length - 1;
  const width = 2 * radius + 1;
  const combine = combineLinesFor(geometry.slice);
  const plane = rows * cols;
  const ring = scratch.ring(width * plane);
  const clamp = (j: number): number => (j < 0 ? 0 : j >= slices ? slices - 1 : j);
  // Original slice j lives in ring slot j mod width from the time it is loaded until slice
  // j + width replaces it, which is after the last output (j + radius) that needs it.
  const load = (j: number): void => ring.set(original(j), (j % width) * plane);
  for (let j = clamp(firstSlice - radius); j < Math.min(slices, firstSlice + radius); j++) load(j);
  const lines = new Int32Array(width);
  for (let z = firstSlice; z < endSlice; z++) {
    if (z + radius < slices) load(z + radius);
    for (let k = -radius; k <= radius; k++) lines[radius + k] = (clamp(z + k) % width) * plane;
    combine(ring, lines, dst, z * plane, plane);
    inPlanePass(dst, geometry, z, z + 1, scratch);
  }
}
