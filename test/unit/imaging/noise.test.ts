import { test } from 'node:test';
import assert from 'node:assert/strict';
import { synthesizePetActivity } from '../../../src/series/synth.js';
import { backgroundMask, backgroundNoise } from '../../../src/imaging/noise.js';
import { gaussianFilter } from '../../../src/imaging/gaussian.js';
import type { Volume } from '../../../src/imaging/volume.js';

test('the background mask finds the uniform body and smoothing lowers its noise', async () => {
  const a = synthesizePetActivity({ slices: 40, size: 64, seed: 7 });
  const vol: Volume = {
    data: a.activity, shape: [a.slices, a.size, a.size], spacing: [a.sliceThickness, a.pixelSpacing, a.pixelSpacing],
    orientation: a.orientation, positions: a.positions,
  };
  const mask = await backgroundMask(vol);
  const before = backgroundNoise(vol.data, mask);
  assert.ok(before.voxels > 1000, `${before.voxels} background voxels`);
  assert.ok(Math.abs(before.mean - a.background) / a.background < 0.1, `mean ${before.mean} vs background ${a.background}`);
  assert.ok(before.cvPercent > 5, `noisy input: CV ${before.cvPercent.toFixed(1)} %`);
  const after = backgroundNoise(await gaussianFilter(vol, 8), mask);
  assert.ok(after.std < 0.6 * before.std, `smoothing lowers noise: ${before.std} -> ${after.std}`);
  assert.ok(Math.abs(after.mean - before.mean) / before.mean < 0.05, 'and keeps the level');
});
