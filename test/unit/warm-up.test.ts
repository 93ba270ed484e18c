import { test } from 'node:test';
import assert from 'node:assert/strict';
import { warmUpImagingWorkers } from '../../src/imaging/warm-up.js';
import { ImagingPool } from '../../src/imaging/worker-pool.js';

test('the warm-up starts the imaging threads and the file writers, and runs their jobs', async () => {
  assert.equal(ImagingPool.shared().threads, 0, 'no thread before');
  assert.equal(ImagingPool.writers().threads, 0, 'no writer before');
  await warmUpImagingWorkers(2);
  assert.equal(ImagingPool.shared().threads, 2);
  assert.equal(ImagingPool.writers().threads, 1);
  // A second warm-up (another appliance in the same process) reuses them.
  await warmUpImagingWorkers(2);
  assert.equal(ImagingPool.shared().threads, 2);
  assert.equal(ImagingPool.writers().threads, 1);
});
