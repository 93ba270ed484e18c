import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PNG } from 'pngjs';
import { mipPng } from '../../../src/imaging/mip.js';
import type { Volume } from '../../../src/imaging/volume.js';

/** 40 slices of 30×50 at 4 × 2 × 2 mm, a background ramp, one hot 5×5×5 spot near the head end. */
function volumeWithHotSpot(): Volume {
  const shape: [number, number, number] = [40, 30, 50];
  const data = new Float32Array(40 * 30 * 50);
  for (let i = 0; i < data.length; i++) data[i] = 1 + 0.04 * (i % 50);
  for (let z = 28; z <= 32; z++) for (let y = 8; y <= 12; y++) for (let x = 38; x <= 42; x++) data[(z * 30 + y) * 50 + x] = 20;
  // Axial slices, positions ascending in z: the last slice is the most superior.
  const positions = Array.from({ length: 40 }, (_, z) => [0, 0, z * 4] as [number, number, number]);
  return { data, shape, spacing: [4, 2, 2], orientation: [1, 0, 0, 0, 1, 0], positions };
}

function grey(png: PNG, x: number, y: number): number {
  return png.data[(y * png.width + x) * 4];
}

test('a coronal MIP is a greyscale PNG with square millimetres, head up, hot spot black on white', () => {
  const png = PNG.sync.read(mipPng(volumeWithHotSpot(), { axis: 'coronal' }));
  // 50 columns × 2 mm wide, 40 slices × 4 mm high, at 2 mm per pixel.
  assert.equal(png.width, 50);
  assert.equal(png.height, 80);
  // Slice 30 of 40 (ascending towards the head) is 9 slices below the top: rows 36..43 px.
  assert.equal(grey(png, 40, 19), 0, 'hot spot is black');
  assert.ok(grey(png, 10, 60) > 200, 'background is near white');
  assert.ok(grey(png, 40, 60) > 200, 'the hot spot is not mirrored to the feet end');
});

test('sagittal and axial projections and maxWidth keep the aspect ratio', () => {
  const vol = volumeWithHotSpot();
  const sagittal = PNG.sync.read(mipPng(vol, { axis: 'sagittal' }));
  assert.deepEqual([sagittal.width, sagittal.height], [30, 80]);
  assert.equal(grey(sagittal, 10, 19), 0);
  const axial = PNG.sync.read(mipPng(vol, { axis: 'axial' }));
  assert.deepEqual([axial.width, axial.height], [50, 30]);
  assert.equal(grey(axial, 40, 10), 0);
  const small = PNG.sync.read(mipPng(vol, { axis: 'coronal', maxWidth: 25 }));
  assert.deepEqual([small.width, small.height], [25, 40]);
  assert.ok(grey(small, 20, 9) < 60, 'hot spot still dark after downsampling');
});
