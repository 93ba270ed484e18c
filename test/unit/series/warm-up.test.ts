import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { warmUpImaging } from '../../../src/series/warm-up.js';
import { ImagingPool } from '../../../src/imaging/worker-pool.js';

test('the warm-up starts the imaging threads and the file writers, runs their jobs, and leaves no file behind', async (t) => {
  const parentDir = await mkdtemp(path.join(os.tmpdir(), 'petspool-warm-up-test-'));
  t.after(() => rm(parentDir, { recursive: true, force: true }));
  assert.equal(ImagingPool.shared().threads, 0, 'no thread before');
  assert.equal(ImagingPool.writers().threads, 0, 'no writer before');
  await warmUpImaging({ threads: 2, parentDir });
  assert.equal(ImagingPool.shared().threads, 2);
  assert.equal(ImagingPool.writers().threads, 2);
  // A second warm-up (another appliance in the same process) reuses them.
  await warmUpImaging({ threads: 2, parentDir });
  assert.equal(ImagingPool.shared().threads, 2);
  assert.equal(ImagingPool.writers().threads, 2);
  assert.deepEqual(await readdir(parentDir), []);
});
