/**
 * The thread of HeaderReader (header-reader.ts): reads the header of one stored instance at a
 * time, from its bytes (moved here, no copy) or from its file, checks its pixel data while the
 * bytes are at hand (so the receiver need not read the file again), and sends back what it found.
 */
import { readFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { InstanceHeader } from './instance-header.js';
import { pixelDataProblem } from './pixel-data-check.js';
import { readHeaderOrReason } from './read-header.js';

export type HeaderReadJob = { bytes: ArrayBuffer; file?: undefined } | { file: string; bytes?: undefined };
/** The header and the pixel-data check's finding (none: the pixel data is what the header promises); or why there is no header. */
export type HeaderReadReply = { header: InstanceHeader; pixelProblem?: string; unreadable?: undefined } | { header?: undefined; pixelProblem?: undefined; unreadable: string };

function read(job: HeaderReadJob): HeaderReadReply {
  let bytes: Buffer;
  try {
    bytes = job.bytes ? Buffer.from(job.bytes) : readFileSync(job.file);
  } catch (err) {
    return { unreadable: (err as Error).message };
  }
  const { header, unreadable } = readHeaderOrReason(bytes);
  if (!header) return { unreadable: unreadable! };
  const pixelProblem = pixelDataProblem(bytes, header);
  return pixelProblem ? { header, pixelProblem } : { header };
}

/** The ThreadPool protocol (thread-pool.ts): `{ id, ...job }` in, `{ id, ...reply }` out. */
parentPort!.on('message', ({ id, ...job }: HeaderReadJob & { id: number }) => {
  const reply: HeaderReadReply & { id: number } = { id, ...read(job) };
  parentPort!.postMessage(reply);
});
