/**
 * Worker thread of the Gaussian filter pool (see gaussian.ts). It filters, in place, its share of
 * a volume held in a SharedArrayBuffer and answers with the job id when done.
 */
import { parentPort } from 'node:worker_threads';
import { inPlanePass, PassScratch, slicePass, type FilterGeometry } from './gaussian-kernel.js';

export interface FilterJob {
  id: number;
  /** 'slice': pixel blocks [from, to) along the slice axis; 'plane': slices [from, to) in plane. */
  pass: 'slice' | 'plane';
  buffer: SharedArrayBuffer;
  geometry: FilterGeometry;
  from: number;
  to: number;
}

export type FilterReply = { id: number; error?: string };

const port = parentPort;
if (!port) throw new Error('gaussian-worker.js must run as a worker thread');
const scratch = new PassScratch();

port.on('message', (job: FilterJob) => {
  const reply: FilterReply = { id: job.id };
  try {
    const data = new Float32Array(job.buffer);
    if (job.pass === 'slice') slicePass(data, job.geometry, job.from, job.to, scratch);
    else inPlanePass(data, job.geometry, job.from, job.to, scratch);
  } catch (err) {
    reply.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  }
  port.postMessage(reply);
});
