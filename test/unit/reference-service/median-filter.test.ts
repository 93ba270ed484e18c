import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { readNpy, writeNpy } from '../../../src/imaging/npy.js';
import { medianFilter3 } from '../../../src/reference-service/median-filter.js';
import { medianFilterInWorkers } from '../../../src/reference-service/median-filter-parallel.js';

type Shape = [number, number, number];

/** The definition, spelled out: sort the 27 edge-replicated neighbours and take the middle one. */
function bruteForceMedian(data: Float32Array, [S, R, C]: Shape): Float32Array {
  const out = new Float32Array(data.length);
  const clamp = (v: number, n: number): number => Math.min(Math.max(v, 0), n - 1);
  for (let s = 0; s < S; s++) for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) {
    const window: number[] = [];
    for (let ds = -1; ds <= 1; ds++) for (let dr = -1; dr <= 1; dr++) for (let dc = -1; dc <= 1; dc++) {
      window.push(data[(clamp(s + ds, S) * R + clamp(r + dr, R)) * C + clamp(c + dc, C)]);
    }
    window.sort((a, b) => a - b);
    out[(s * R + r) * C + c] = window[13];
  }
  return out;
}

function noise(n: number, seed: number, levels?: number): Float32Array {
  const out = new Float32Array(n);
  let state = seed;
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    out[i] = levels ? (state >>> 16) % levels : (state >>> 8) / 65536 - 128;
  }
  return out;
}

describe('3x3x3 median filter', () => {
  it('removes an isolated spike and keeps a flat volume flat', () => {
    const shape: Shape = [5, 5, 5];
    const data = new Float32Array(125).fill(7);
    data[62] = 1000; // centre voxel
    assert.deepEqual(Array.from(medianFilter3(data, shape)), new Array(125).fill(7));
  });

  it('keeps a step edge where it is', () => {
    const shape: Shape = [4, 6, 8];
    const data = new Float32Array(4 * 6 * 8);
    for (let i = 0; i < data.length; i++) data[i] = i % 8 >= 4 ? 10 : 0;
    assert.deepEqual(medianFilter3(data, shape), data);
  });

  it('equals the sorted-27 definition, with ties and at every border', () => {
    for (const [shape, levels] of [[[6, 7, 9], 5], [[3, 11, 4], undefined], [[1, 1, 5], 3], [[2, 3, 1], undefined]] as [Shape, number | undefined][]) {
      const data = noise(shape[0] * shape[1] * shape[2], 42, levels);
      assert.deepEqual(medianFilter3(data, shape), bruteForceMedian(data, shape), shape.join('x'));
    }
  });

  it('gives the same values in worker threads as on the main thread', async () => {
    const shape: Shape = [23, 17, 19];
    const data = noise(23 * 17 * 19, 7);
    assert.deepEqual(await medianFilterInWorkers(data, shape, 3), medianFilter3(data, shape));
  });

  it('matches scipy.ndimage.median_filter(size=3, mode="nearest")', async (t) => {
    const python = '/usr/bin/python3';
    if (!existsSync(python)) return t.skip('Debian python3 not installed');
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'petspool-median-'));
    try {
      const shape: Shape = [9, 10, 11];
      const data = noise(9 * 10 * 11, 3);
      await writeNpy(path.join(tmp, 'in.npy'), data, shape);
      execFileSync(python, ['-c', [
        'import sys, numpy, scipy.ndimage',
        'a = numpy.load(sys.argv[1])',
        "numpy.save(sys.argv[2], scipy.ndimage.median_filter(a, size=3, mode='nearest').astype('<f4'))",
      ].join('\n'), path.join(tmp, 'in.npy'), path.join(tmp, 'out.npy')]);
      const expected = await readNpy(path.join(tmp, 'out.npy'));
      assert.deepEqual(expected.shape, shape);
      assert.deepEqual(medianFilter3(data, shape), expected.data);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('refuses a shape that does not match the data', () => {
    assert.throws(() => medianFilter3(new Float32Array(10), [2, 2, 2]), /shape 2x2x2 does not match 10 values/);
  });
});
