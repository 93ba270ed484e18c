/**
 * Worker thread of the Gaussian filter pool (see gaussian.ts). It filters its range of slices of a
 * volume held in a SharedArrayBuffer and answers with the job id when done.
 */
import { parentPort } from 'node:worker_threads';
import { filterSlices, PassScratch, type FilterGeometry, type OriginalSlice } from './gaussian-kernel.js';

export interface FilterJob {
  id: number;
  /** The output volume (float32, whole buffer). */
  buffer: SharedArrayBuffer;
  geometry: FilterGeometry;
  /** Slices [from, to) to filter. */
  from: number;
  to: number;
  /** Where the unfiltered slices are: a shared input volume, or (when filtering in place) the
   * output itself for slices inside [from, to) and a halo copy of the neighbours' slices. */
  originals:
    | { kind: 'source'; buffer: SharedArrayBuffer; byteOffset: number; length: number }
    | { kind: 'in-place'; halo: SharedArrayBuffer; haloSlices: number[] };
}

export type FilterReply = { id: number; error?: string };

const port = parentPort;
if (!port) throw new Error('gaussian-worker.js must run as a worker thread');
const scratch = new PassScratch();

function originalSlices(job: FilterJob, data: Float32Array): OriginalSlice {
  const plane = job.geometry.shape[1] * job.geometry.shape[2];
  const o = job.originals;
  if (o.kind === 'source') {
    const source = new Float32Array(o.buffer, o.byteOffset, o.length);
    return (j) => source.subarray(j * plane, (j + 1) * plane);
  }
  const halo = new Float32Array(o.halo);
  return (j) => {
    if (j >= job.from && j < job.to) return data.subarray(j * plane, (j + 1) * plane);
    const slot = o.haloSlices.indexOf(j);
    if (slot < 0) throw new Error(`slice ${j} is outside the job and its halo`);
    return halo.subarray(slot * plane, (slot + 1) * plane);
  };
}

port.on('message', (job: FilterJob) => {
  const reply: FilterReply = { id: job.id };
  try {
    const data = new Float32Array(job.buffer);
    filterSlices(originalSlices(job, data), data, job.geometry, job.from, job.to, scratch);
  } catch (err) {
    reply.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  }
  port.postMessage(reply);
});
