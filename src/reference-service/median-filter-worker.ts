/**
 * Worker thread for medianFilterInWorkers (median-filter-parallel.ts): filters output slices
 * [from, to) of a volume held in shared memory, then exits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { medianFilter3Slices } from './median-filter.js';

export interface MedianSlabJob {
  input: SharedArrayBuffer;
  output: SharedArrayBuffer;
  shape: [number, number, number];
  from: number;
  to: number;
}

if (!parentPort) throw new Error('median-filter-worker.js must run as a worker thread');
const job = workerData as MedianSlabJob;
medianFilter3Slices(new Float32Array(job.input), job.shape, new Float32Array(job.output), job.from, job.to);
parentPort.postMessage('done');
