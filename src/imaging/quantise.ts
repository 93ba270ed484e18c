/**
 * Float activity to the int16 stored values of a DICOM slice: per slice the smallest RescaleSlope
 * (taken exactly as it is written, through formatDS) that fits the largest |value|, each value
 * rounded to the nearest step; RescaleIntercept 0.
 */
import { formatDS } from '../dicom/ds.js';

export const INT16_MAX = 32767;

/**
 * Math.round (ties toward +∞) for the values quantisation meets, several times faster in V8.
 * floor(x + 0.5) differs from it only where x + 0.5 rounds up to the next integer (x just below
 * one half, e.g. 0.49999999999999994); the correction catches that (r − 0.5 is exact for |r| < 2^52).
 */
export function roundHalfUp(x: number): number {
  const r = Math.floor(x + 0.5);
  return r - 0.5 > x ? r - 1 : r;
}

/** Writes the stored values of `values` into `pixels` (same length) and returns the slope. */
export function quantiseSliceInto(values: Float32Array, pixels: Int16Array): number {
  let maxAbs = 0;
  for (let i = 0; i < values.length; i++) {
    const magnitude = Math.abs(values[i]!);
    if (magnitude > maxAbs) maxAbs = magnitude;
  }
  const slope = maxAbs > 0 && Number.isFinite(maxAbs) ? Number(formatDS(maxAbs / INT16_MAX)) : 1;
  for (let i = 0; i < values.length; i++) {
    const stored = roundHalfUp(values[i]! / slope);
    // "| 0" stores what the Int16Array conversion would (NaN → 0), without V8's slow double path.
    pixels[i] = (stored > INT16_MAX ? INT16_MAX : stored < -INT16_MAX ? -INT16_MAX : stored) | 0;
  }
  return slope;
}
