/**
 * The thread of HeaderReader (header-reader.ts): reads the header of one stored instance at a
 * time and sends it back with the bytes (moved both ways, no copy).
 */
import { parentPort } from 'node:worker_threads';
import { readHeaderOrReason, type HeaderOrReason } from './read-header.js';

export interface HeaderReadJob { bytes: ArrayBuffer }
export type HeaderReadReply = { bytes: ArrayBuffer } & HeaderOrReason;

/** The ThreadPool protocol (thread-pool.ts): `{ id, ...job }` in, `{ id, ...reply }` out. */
parentPort!.on('message', ({ id, bytes }: HeaderReadJob & { id: number }) => {
  const reply: HeaderReadReply & { id: number } = { id, bytes, ...readHeaderOrReason(Buffer.from(bytes)) };
  parentPort!.postMessage(reply, [bytes]);
});
