/**
 * The Gaussian post-filter against two independent references, for an anisotropic voxel size:
 * scipy.ndimage.gaussian_filter(mode='nearest') from Debian's python3-scipy on the whole volume,
 * and ndarray-gaussian-filter (FFT-based, darkens edges) away from the edges.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { gaussianFilter, sigmaVoxels } from '../../src/imaging/gaussian.js';
import { readNpy, writeNpy } from '../../src/imaging/npy.js';
import type { Volume } from '../../src/imaging/volume.js';

const PYTHON = '/usr/bin/python3';

/** Smooth structure plus noise plus a hot cube touching the volume edge, deterministic. */
function testVolume(shape: [number, number, number], spacing: [number, number, number]): Volume {
  const [nz, ny, nx] = shape;
  const data = new Float32Array(nz * ny * nx);
  let seed = 99;
  let i = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++, i++) {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        const hot = z < 6 && y > ny - 8 && x < 7 ? 50 : 0;
        data[i] = 5 + 3 * Math.sin(z / 4) * Math.cos(x / 6) + (seed / 4294967296) * 4 + hot;
      }
    }
  }
  return { data, shape, spacing, orientation: [1, 0, 0, 0, 1, 0], positions: [] };
}

function maxOf(a: Float32Array): number {
  let m = -Infinity;
  for (const v of a) m = Math.max(m, v);
  return m;
}

test('matches scipy.ndimage.gaussian_filter(mode=nearest) within 0.5 % of the volume maximum', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'petspool-gauss-'));
  try {
    const vol = testVolume([40, 64, 48], [3.27, 2.0, 2.0]);
    const fwhm = 6;
    const src = join(dir, 'in.npy');
    const dst = join(dir, 'scipy.npy');
    await writeNpy(src, vol.data, vol.shape);
    const script = [
      'import json, sys, numpy as np',
      'from scipy.ndimage import gaussian_filter',
      "np.save(sys.argv[2], gaussian_filter(np.load(sys.argv[1]), json.loads(sys.argv[3]), mode='nearest').astype(np.float32))",
    ].join('\n');
    await promisify(execFile)(PYTHON, ['-c', script, src, dst, JSON.stringify(sigmaVoxels(fwhm, vol.spacing))]);
    const reference = await readNpy(dst);
    assert.deepEqual(reference.shape, vol.shape);

    const ours = await gaussianFilter(vol, fwhm);
    let maxDiff = 0;
    for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] - reference.data[i]));
    const tolerance = 0.005 * maxOf(vol.data);
    assert.ok(maxDiff <= tolerance, `max abs difference ${maxDiff} > ${tolerance}`);
    // Same kernel, same edge rule, same order of axes: only float rounding differs.
    assert.ok(maxDiff < 1e-4, `max abs difference ${maxDiff} is larger than rounding`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('matches ndarray-gaussian-filter away from the edges', async () => {
  // Small: the oracle is FFT-based and slow. Its Gaussian is continuous in frequency, which equals
  // the sampled kernel only once sigma is above ~1 voxel, hence the wider FWHM here.
  const shape: [number, number, number] = [28, 40, 40];
  const spacing: [number, number, number] = [3.27, 2.0, 2.0];
  const vol = testVolume(shape, spacing);
  const fwhm = 9;
  const ours = await gaussianFilter(vol, fwhm);

  // CommonJS packages without types: the oracle's whole surface is this call.
  const require = createRequire(import.meta.url);
  const ndarray = require('ndarray') as (data: Float64Array, shape: number[]) => unknown;
  const ndGaussian = require('ndarray-gaussian-filter') as (arr: unknown, sigma: number | number[]) => unknown;
  const oracleData = Float64Array.from(vol.data);
  ndGaussian(ndarray(oracleData, [...shape]), sigmaVoxels(fwhm, spacing));

  const margin = 8; // 4 sigma of the widest axis (sigma ≤ 1.92 voxels)
  let maxDiff = 0;
  let compared = 0;
  for (let z = margin; z < shape[0] - margin; z++) {
    for (let y = margin; y < shape[1] - margin; y++) {
      for (let x = margin; x < shape[2] - margin; x++) {
        const i = (z * shape[1] + y) * shape[2] + x;
        maxDiff = Math.max(maxDiff, Math.abs(ours[i] - oracleData[i]));
        compared++;
      }
    }
  }
  assert.ok(compared > 5000);
  const tolerance = 0.005 * maxOf(vol.data);
  assert.ok(maxDiff <= tolerance, `max abs difference ${maxDiff} > ${tolerance} away from the edges`);
});
