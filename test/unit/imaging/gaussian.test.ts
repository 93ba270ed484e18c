import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gaussianFilter, gaussianOutputSlices, sigmaVoxels } from '../../../src/imaging/gaussian.js';
import { prepareOutputSlices } from '../../../src/imaging/output-slices.js';
import type { Volume } from '../../../src/imaging/volume.js';

function volume(shape: [number, number, number], spacing: [number, number, number], fill: (i: number) => number, shared = false): Volume {
  const n = shape[0] * shape[1] * shape[2];
  const data = shared ? new Float32Array(new SharedArrayBuffer(n * 4)) : new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = fill(i);
  return { data, shape, spacing, orientation: [1, 0, 0, 0, 1, 0], positions: [] };
}

/** Deterministic pseudo-random values in [0, 10). */
function noise(seed: number): (i: number) => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 4294967296) * 10;
  };
}

test('a delta impulse becomes a normalised Gaussian with the right sigma on each axis (anisotropic spacing)', async () => {
  const shape: [number, number, number] = [31, 41, 37];
  const spacing: [number, number, number] = [3.27, 2.0, 2.5];
  const centre = [15, 20, 18];
  const centreIndex = (centre[0] * shape[1] + centre[1]) * shape[2] + centre[2];
  const vol = volume(shape, spacing, (i) => (i === centreIndex ? 1 : 0));
  const fwhm = 8;
  const out = await gaussianFilter(vol, fwhm);

  const expectedSigma = sigmaVoxels(fwhm, spacing);
  assert.ok(Math.abs(expectedSigma[0] - 8 / 2.3548 / 3.27) < 1e-3);
  let sum = 0;
  const second = [0, 0, 0];
  for (let z = 0; z < shape[0]; z++) {
    for (let y = 0; y < shape[1]; y++) {
      for (let x = 0; x < shape[2]; x++) {
        const v = out[(z * shape[1] + y) * shape[2] + x];
        sum += v;
        second[0] += v * (z - centre[0]) ** 2;
        second[1] += v * (y - centre[1]) ** 2;
        second[2] += v * (x - centre[2]) ** 2;
      }
    }
  }
  assert.ok(Math.abs(sum - 1) < 1e-5, `sum ${sum}`);
  for (let axis = 0; axis < 3; axis++) {
    const sigma = Math.sqrt(second[axis] / sum);
    assert.ok(Math.abs(sigma - expectedSigma[axis]) / expectedSigma[axis] < 2e-3, `axis ${axis}: sigma ${sigma} vs ${expectedSigma[axis]}`);
  }
  // Profile along the column axis through the centre follows exp(-x²/2σ²).
  const peak = out[centreIndex];
  for (let dx = 1; dx <= 3; dx++) {
    const ratio = out[centreIndex + dx] / peak;
    const expected = Math.exp((-dx * dx) / (2 * expectedSigma[2] ** 2));
    assert.ok(Math.abs(ratio - expected) < 1e-4, `dx ${dx}: ${ratio} vs ${expected}`);
  }
});

test('a constant volume stays constant, edges included (replicated borders)', async () => {
  const vol = volume([9, 12, 10], [2.0, 4.0, 4.0], () => 7.25);
  const out = await gaussianFilter(vol, 10);
  for (let i = 0; i < out.length; i++) assert.ok(Math.abs(out[i] - 7.25) < 1e-5, `voxel ${i}: ${out[i]}`);
});

test('fwhm 0 returns an equal copy, not the input array', async () => {
  const vol = volume([4, 5, 6], [2, 2, 2], noise(1));
  const out = await gaussianFilter(vol, 0);
  assert.notEqual(out, vol.data);
  assert.deepEqual(Array.from(out), Array.from(vol.data));
});

test('blend mixes that fraction of the unfiltered input back in', async () => {
  const vol = volume([8, 10, 12], [3.0, 2.0, 2.0], noise(2));
  const filtered = await gaussianFilter(vol, 6);
  const blended = await gaussianFilter(vol, 6, { blend: 0.3 });
  const unfiltered = await gaussianFilter(vol, 6, { blend: 1 });
  for (let i = 0; i < vol.data.length; i++) {
    assert.ok(Math.abs(blended[i] - (0.7 * filtered[i] + 0.3 * vol.data[i])) < 1e-5);
    assert.ok(Math.abs(unfiltered[i] - vol.data[i]) < 1e-6);
  }
  await assert.rejects(gaussianFilter(vol, 6, { blend: 1.5 }), RangeError);
  await assert.rejects(gaussianFilter(vol, -1), RangeError);
});

test('the multi-threaded result equals the single-thread result, for plain and shared input', async () => {
  // 64×128×128 = 2^20 voxels: large enough to take the worker path.
  const plain = volume([64, 128, 128], [3.27, 2.0, 2.0], noise(3));
  const shared = volume([64, 128, 128], [3.27, 2.0, 2.0], noise(3), true);
  const single = await gaussianFilter(plain, 9, { threads: 1 });
  const threadedPlain = await gaussianFilter(plain, 9, { threads: 2 });
  const threadedShared = await gaussianFilter(shared, 9, { threads: 3 });
  assert.ok(threadedPlain.buffer instanceof SharedArrayBuffer, 'the worker path was taken');
  assert.deepEqual(threadedPlain, single);
  assert.deepEqual(threadedShared, single);
});

test('gaussianOutputSlices in the worker threads equals the output slices of gaussianFilter, blended or not, and for FWHM 0', async () => {
  const shared = volume([64, 128, 128], [3.27, 2.0, 2.0], noise(5), true);
  for (const [fwhm, blend] of [[7, 0], [5, 0.3], [0, 0.5]] as const) {
    const expected = await prepareOutputSlices({ ...shared, data: await gaussianFilter(shared, fwhm, { blend, threads: 1 }) }, { threads: 1 });
    const fused = await gaussianOutputSlices(shared, fwhm, { blend, threads: 2 });
    assert.ok(fused.slopes.buffer instanceof SharedArrayBuffer, 'the worker path was taken');
    assert.deepEqual(fused.pixels, expected.pixels, `pixels, FWHM ${fwhm} blend ${blend}`);
    assert.deepEqual(Array.from(fused.slopes), Array.from(expected.slopes), `slopes, FWHM ${fwhm} blend ${blend}`);
    assert.deepEqual(Array.from(fused.coronalRows), Array.from(expected.coronalRows), `column maxima, FWHM ${fwhm} blend ${blend}`);
  }
});
