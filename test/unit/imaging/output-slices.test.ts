import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coronalProjectionFromRows, maximumIntensityProjection } from '../../../src/imaging/mip.js';
import { prepareOutputSlices } from '../../../src/imaging/output-slices.js';
import { INT16_MAX, quantiseSliceInto } from '../../../src/imaging/quantise.js';
import type { Volume } from '../../../src/imaging/volume.js';
import { uniformGenerator } from '../../../src/util/prng.js';

/** Big enough (> 1 Mi voxels) for the worker path; a hot spot, negative noise and an empty slice. */
function volume(shared: boolean): Volume {
  const shape: [number, number, number] = [20, 256, 256];
  const n = shape[0] * shape[1] * shape[2];
  const data = new Float32Array(shared ? new SharedArrayBuffer(n * 4) : new ArrayBuffer(n * 4));
  const random = uniformGenerator(7);
  for (let i = 0; i < n; i++) data[i] = (random() - 0.2) * 5000;
  data.fill(0, 3 * 65536, 4 * 65536);
  data[10 * 65536 + 300] = 123456.5;
  return {
    data, shape, spacing: [2, 2.5, 2.5], orientation: [1, 0, 0, 0, 1, 0],
    positions: Array.from({ length: shape[0] }, (_, z) => [0, 0, 2 * z] as [number, number, number]),
  };
}

test('output slices from the worker threads equal those made in this thread, slice by slice', async () => {
  const shared = volume(true);
  const plain = volume(false);
  const fromWorkers = await prepareOutputSlices(shared, { threads: 2 });
  const here = await prepareOutputSlices(plain, { threads: 1 });
  assert.ok(fromWorkers.slopes.buffer instanceof SharedArrayBuffer, 'the shared volume went to the workers');
  assert.ok(!(here.slopes.buffer instanceof SharedArrayBuffer), 'the plain one stayed here');
  assert.ok(here.pixels.buffer instanceof SharedArrayBuffer, 'stored values are shared either way (the file writers take them)');
  assert.deepEqual(fromWorkers.slopes, here.slopes);
  assert.ok(Buffer.from(fromWorkers.pixels.buffer).equals(Buffer.from(here.pixels.buffer)), 'same stored values');
  assert.deepEqual(fromWorkers.coronalRows, here.coronalRows);

  const plane = 256 * 256;
  for (const z of [0, 3, 10, 19]) {
    const expected = new Int16Array(plane);
    const slope = quantiseSliceInto(plain.data.subarray(z * plane, (z + 1) * plane), expected);
    assert.equal(fromWorkers.slopes[z], slope);
    assert.deepEqual(fromWorkers.pixels.subarray(z * plane, (z + 1) * plane), expected);
  }
  assert.equal(fromWorkers.slopes[3], 1, 'an empty slice keeps slope 1');
  assert.equal(fromWorkers.pixels[10 * plane + 300], INT16_MAX, 'the hottest voxel is the top stored value');
  // Every stored value, times its slope, is within half a step of the activity.
  for (let i = 0; i < plain.data.length; i += 997) {
    const z = Math.floor(i / plane);
    assert.ok(Math.abs(fromWorkers.pixels[i]! * fromWorkers.slopes[z]! - plain.data[i]!) <= fromWorkers.slopes[z]! / 2 + 1e-6);
  }
});

test('the coronal preview from the column maxima is the coronal maximum intensity projection, head at the top', async () => {
  // Head-first when the slice normal points up (+z), feet-first otherwise.
  for (const [orientation, headFirst] of [[[1, 0, 0, 0, 1, 0], true], [[1, 0, 0, 0, -1, 0], false]] as const) {
    const vol = { ...volume(false), orientation: [...orientation] as Volume['orientation'] };
    const [slices, rows, cols] = vol.shape;
    const { coronalRows } = await prepareOutputSlices(vol, { threads: 1 });
    const projection = coronalProjectionFromRows(coronalRows, vol);
    assert.deepEqual([projection.width, projection.height, projection.pixelWidthMm, projection.pixelHeightMm], [cols, slices, 2.5, 2]);
    for (const z of [0, 10, 19]) {
      const imageRow = headFirst ? slices - 1 - z : z;
      for (const x of [0, 44, 255]) {
        let max = -Infinity;
        for (let y = 0; y < rows; y++) max = Math.max(max, vol.data[(z * rows + y) * cols + x]!);
        assert.equal(projection.values[imageRow * cols + x], max, `slice ${z}, column ${x}`);
      }
    }
    assert.deepEqual(projection, maximumIntensityProjection(vol, 'coronal'));
  }
});
