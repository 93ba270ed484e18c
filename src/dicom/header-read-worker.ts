/**
 * The thread of HeaderReader (header-reader.ts): reads the header of one stored instance at a
 * time, from its bytes (moved here, no copy) or from its file, and sends back what it read.
 */
import { readFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { readHeaderOrReason, type HeaderOrReason } from './read-header.js';

export type HeaderReadJob = { bytes: ArrayBuffer; file?: undefined } | { file: string; bytes?: undefined };
export type HeaderReadReply = HeaderOrReason;

function read(job: HeaderReadJob): HeaderOrReason {
  if (job.bytes) return readHeaderOrReason(Buffer.from(job.bytes));
  try {
    return readHeaderOrReason(readFileSync(job.file));
  } catch (err) {
    return { unreadable: (err as Error).message };
  }
}

/** The ThreadPool protocol (thread-pool.ts): `{ id, ...job }` in, `{ id, ...reply }` out. */
parentPort!.on('message', ({ id, ...job }: HeaderReadJob & { id: number }) => {
  const reply: HeaderReadReply & { id: number } = { id, ...read(job) };
  parentPort!.postMessage(reply);
});
