import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { MedianSlabJob } from './median-filter-worker.js';

/**
 * medianFilter3 off the main thread: the volume, in shared memory (copied there unless it is
 * already, whole), is split into slabs of slices, one worker thread each. Keeps an embedded
 * reference service from stalling the appliance's event loop (DICOM associations, API) for the
 * seconds a large volume takes. The result is in shared memory too: the embedded service runs in
 * the appliance's process, so every volume-sized copy adds to the appliance's peak memory.
 */
export async function medianFilterInWorkers(
  data: Float32Array, shape: [number, number, number], workers = Math.min(4, availableParallelism()),
): Promise<Float32Array> {
  const input = data.buffer instanceof SharedArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
    ? data.buffer
    : copyToShared(data);
  const output = new SharedArrayBuffer(data.byteLength);
  const slabs = Math.max(1, Math.min(workers, shape[0]));
  const perSlab = Math.ceil(shape[0] / slabs);
  const jobs: Promise<void>[] = [];
  for (let from = 0; from < shape[0]; from += perSlab) {
    const job: MedianSlabJob = { input, output, shape, from, to: Math.min(from + perSlab, shape[0]) };
    jobs.push(runWorker(job));
  }
  await Promise.all(jobs);
  return new Float32Array(output);
}

function copyToShared(data: Float32Array): SharedArrayBuffer {
  const shared = new SharedArrayBuffer(data.byteLength);
  new Float32Array(shared).set(data);
  return shared;
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
