import type { Volume } from './volume.js';
import { gaussianFilter } from './gaussian.js';

export interface BackgroundNoise {
  /** Standard deviation of the background voxels (same units as the volume, e.g. Bq/ml). */
  std: number;
  mean: number;
  /** std / mean in per cent. */
  cvPercent: number;
  voxels: number;
}

/**
 * The voxels of a uniform background region, found on the original series: where a heavy
 * smoothing (15 mm) is within ±10 % of the typical body level (the median of the smoothed body),
 * so organs, hot spots and edges are left out. The same mask is then used on every output.
 */
export async function backgroundMask(original: Volume): Promise<Uint8Array> {
  const smooth = await gaussianFilter(original, 15);
  let max = 0;
  for (const v of smooth) if (v > max) max = v;
  const body = Array.from(smooth.filter((v) => v > 0.05 * max)).sort((a, b) => a - b);
  const level = body[Math.floor(body.length / 2)] ?? 0;
  const mask = new Uint8Array(smooth.length);
  for (let i = 0; i < smooth.length; i++) mask[i] = Math.abs(smooth[i] - level) < 0.1 * level ? 1 : 0;
  return mask;
}

/** Noise of a volume in the background region (`mask` from backgroundMask on the original). */
export function backgroundNoise(data: Float32Array, mask: Uint8Array): BackgroundNoise {
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < data.length; i++) {
    if (!mask[i]) continue;
    n++;
    sum += data[i];
    sumSq += data[i] * data[i];
  }
  const mean = n ? sum / n : 0;
  const std = n > 1 ? Math.sqrt(Math.max(0, (sumSq - n * mean * mean) / (n - 1))) : 0;
  return { std, mean, cvPercent: mean ? (100 * std) / mean : 0, voxels: n };
}
