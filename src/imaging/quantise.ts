/**
 * Float activity to the int16 stored values of a DICOM slice: per slice the smallest RescaleSlope
 * (taken exactly as it is written, through formatDS) that fits the largest |value|, each value
 * rounded to the nearest step; RescaleIntercept 0.
 */
import { formatDS } from '../dicom/ds.js';
import { outputSliceLoops, type OutputSliceLoops } from './output-slice-loops.js';
import { layoutRegions } from './wasm-loops.js';

export const INT16_MAX = 32767;

/**
 * Writes the stored values of `values` into `pixels` (same length) and returns the slope. Each
 * stored value is Math.round(value / slope) (float64, ties toward +∞) clamped to ±32767, NaN
 * stored as 0; the loops are WebAssembly SIMD (wasm/output-slices.ts).
 */
export function quantiseSliceInto(values: Float32Array, pixels: Int16Array): number {
  if (pixels.length !== values.length) throw new RangeError(`${pixels.length} pixels for ${values.length} values`);
  const n = values.length;
  const layout = layoutRegions({ values: n * 4, pixels: n * 2 });
  const { loops, memory } = outputSliceLoops.withMemory(layout.end);
  new Float32Array(memory.buffer, layout.values, n).set(values);
  const slope = quantiseInLoopMemory(loops, layout.values, n, layout.pixels);
  pixels.set(new Int16Array(memory.buffer, layout.pixels, n));
  return slope;
}

/**
 * quantiseSliceInto for n values already in the loops' memory at byte address `values`; the
 * stored values go to `pixels` there. Returns the slope.
 */
export function quantiseInLoopMemory(loops: OutputSliceLoops, values: number, n: number, pixels: number): number {
  const maxAbs = loops.maxAbs(values, n);
  const slope = maxAbs > 0 && Number.isFinite(maxAbs) ? Number(formatDS(maxAbs / INT16_MAX)) : 1;
  loops.quantise(values, n, slope, pixels);
  return slope;
}
