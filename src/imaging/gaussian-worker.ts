/**
 * Worker thread of the Gaussian filter pool (see gaussian.ts). It filters, in place, its share of
 * a volume held in a SharedArrayBuffer and answers with the job id when done.
 */
import { parentPort } from 'node:worker_threads';
import { inPlanePass, PassScratch, sliceAndPlanePass, slicePass, type FilterGeometry } from './gaussian-kernel.js';

export interface FilterJob {
  id: number;
  /**
   * 'slice': pixel blocks [from, to) along the slice axis, in place; 'plane': slices [from, to) in
   * plane, in place; 'both': slices [from, to) from `source` into `buffer`, all three axes.
   */
  pass: 'slice' | 'plane' | 'both';
  /** The output volume (float32, whole buffer). */
  buffer: SharedArrayBuffer;
  /** The input volume when it is itself shared (pass 'both'). */
  source?: { buffer: SharedArrayBuffer; byteOffset: number; length: number };
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
    else if (job.pass === 'plane') inPlanePass(data, job.geometry, job.from, job.to, scratch);
    else {
      if (!job.source) throw new Error("pass 'both' needs a source volume");
      const source = new Float32Array(job.source.buffer, job.source.byteOffset, job.source.length);
      sliceAndPlanePass(source, data, job.geometry, job.from, job.to, scratch);
    }
  } catch (err) {
    reply.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  }
  port.postMessage(reply);
});
