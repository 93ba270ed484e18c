/**
 * Worker thread of the imaging pools (worker-pool.ts; the jobs are in imaging-jobs.ts). Jobs on a
 * range of slices of a volume held in a SharedArrayBuffer: decoding the slice files into it
 * (decode-slice-range.ts), the Gaussian filter (gaussian-kernel.ts), the preparation of output
 * slices (output-slice-writer.ts), and both of these at once (gaussianOutputSlices). Jobs that write: a batch of files (derived-series.ts), each fsynced
 * (writeFiles), and a preview drawn from column maxima. A write job's fsyncs
 * run on the I/O threads while this thread takes its next job. It answers with the job id when
 * done (or the error's message, code and stack); results go into shared buffers the job names.
 * Idle, it collects garbage, letting go of the shared memory of the jobs it ran.
 */
import { closeSync, fsync, openSync } from 'node:fs';
import { promisify } from 'node:util';
import { parentPort } from 'node:worker_threads';
import { writeAllSync, writeFileDurably } from '../spool/durable.js';
import { collectGarbage } from '../util/collect-garbage.js';
import { decodeSliceRange } from './decode-slice-range.js';
import { blendInto, filterSlices, forEachFilteredSlice, type OriginalSlice } from './gaussian-kernel.js';
import { coronalProjectionFromRows, projectionPng } from './mip.js';
import { outputSliceWriter, prepareSliceRange } from './output-slice-writer.js';
import type { FilterJob, FilterOutputJob, ImagingJob, ImagingReply, WriteFilesJob } from './imaging-jobs.js';

const fsyncAsync = promisify(fsync);
const port = parentPort;
if (!port) throw new Error('imaging-worker.js must run as a worker thread');

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

/**
 * Writes each file with blocking calls (into the page cache: fast) and leaves its fsync to the
 * I/O threads, so that this thread takes its next job (a filter's, say) while the disk flushes.
 */
async function writeFiles(job: WriteFilesJob): Promise<void> {
  const flushes: Promise<void>[] = [];
  for (const file of job.files) {
    const fd = openSync(file.path, 'w');
    try {
      writeAllSync(fd, file.parts);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    flushes.push(fsyncAsync(fd).finally(() => closeSync(fd)));
  }
  const failed = (await Promise.allSettled(flushes)).find((f) => f.status === 'rejected');
  if (failed) throw failed.reason;
}

function filterIntoOutputSlices(job: FilterOutputJob): void {
  const plane = job.geometry.shape[1] * job.geometry.shape[2];
  const source = new Float32Array(job.source.buffer, job.source.byteOffset, job.source.length);
  const original: OriginalSlice = (j) => source.subarray(j * plane, (j + 1) * plane);
  const write = outputSliceWriter(job.geometry.shape, job.out);
  forEachFilteredSlice(original, job.geometry, job.from, job.to, (z, slice) => {
    if (job.blend > 0) blendInto(slice, original(z), job.blend);
    write(z, slice);
  });
}

async function run(job: ImagingJob): Promise<void> {
  if (job.kind === 'filter') {
    const data = new Float32Array(job.buffer);
    filterSlices(originalSlices(job, data), data, job.geometry, job.from, job.to);
  } else if (job.kind === 'filter-output') {
    filterIntoOutputSlices(job);
  } else if (job.kind === 'decode') {
    await decodeSliceRange(job.files, job.headers, job.shape, job.from, job.out);
  } else if (job.kind === 'output') {
    const data = new Float32Array(job.source.buffer, job.source.byteOffset, job.source.length);
    prepareSliceRange(data, job.shape, job.from, job.to, job.out);
  } else if (job.kind === 'write-preview') {
    await writeFileDurably(job.file, projectionPng(coronalProjectionFromRows(job.coronalRows, job.geometry)));
  } else {
    await writeFiles(job);
  }
}

/**
 * Idle this long after its last job, the thread collects garbage (collect-garbage.ts): not at once,
 * when the next stage of the same task is busy (freeing a volume costs CPU time too).
 */
const IDLE_COLLECT_MS = 1000;
let running = 0;
let idleCollect: NodeJS.Timeout | undefined;

port.on('message', (job: ImagingJob) => {
  clearTimeout(idleCollect);
  running++;
  run(job).then(
    () => port.postMessage({ id: job.id } satisfies ImagingReply),
    (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      port.postMessage({ id: job.id, error: { message: e.message, code: (e as NodeJS.ErrnoException).code, stack: e.stack } } satisfies ImagingReply);
    },
  ).finally(() => {
    if (--running === 0) idleCollect = setTimeout(collectGarbage, IDLE_COLLECT_MS).unref();
  });
});
