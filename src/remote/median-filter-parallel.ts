import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { MedianSlabJob } from './median-filter-worker.js';

/**
 * medianFilter3 off the main thread: the volume is copied once into shared memory and split into
 * slabs of slices, one worker thread each. Keeps an embedded reference service from stalling the
 * appliance's event loop (DICOM associations, API) for the seconds a large volume takes.
 */
export async function medianFilterInWorkers(
  data: Float32Array, shape: [number, number, number], workers = Math.min(4, availableParallelism()),
): Promise<Float32Array> {
  const input = new SharedArrayBuffer(data.byteLength);
  new Float32Array(input).set(data);
  const output = new SharedArrayBuffer(data.byteLength);
  const slabs = Math.max(1, Math.min(workers, shape[0]));
  const perSlab = Math.ceil(shape[0] / slabs);
  const jobs: Promise<void>[] = [];
  for (let from = 0; from < shape[0]; from += perSlab) {
    const job: MedianSlabJob = { input, output, shape, from, to: Math.min(from + perSlab, shape[0]) };
    jobs.push(runWorker(job));
  }
  await Promise.all(jobs);
  // Copy out of shared memory so callers get an ordinary (transferable, Buffer-viewable) array.
  return new Float32Array(output).slice();
}

function runWorker(job: MedianSlabJob): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./median-filter-worker.js', import.meta.url), { workerData: job });
    let done = false;
    worker.once('message', () => { done = true; });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (done) resolve();
      else reject(new Error(`median filter worker stopped with exit code ${code}`));
    });
  });
}
