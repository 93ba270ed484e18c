/**
 * A thread of DurableWriter (durable-writer.ts): writes one file at a time with blocking calls,
 * fdatasync, rename under its final name, then fsync of the final folder. Only node:fs is loaded,
 * so the thread stays small.
 */
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';

export interface DurableWriteJob {
  id: number;
  /** Moved here from the main thread, and back with the reply (no copy either way). */
  bytes: ArrayBuffer;
  tmpPath: string;
  finalPath: string;
  /** The final path's folder, fsync'ed after the rename so the new name survives a power cut. */
  dir: string;
}

export interface DurableWriteReply {
  id: number;
  bytes: ArrayBuffer;
  error?: string;
}

/** Folder descriptors kept open for the fsync after each rename (saves an open and close per file). */
const dirFds = new Map<string, number>();

function persist({ bytes: buffer, tmpPath, finalPath, dir }: DurableWriteJob): void {
  const bytes = new Uint8Array(buffer);
  const fd = fs.openSync(tmpPath, 'wx');
  try {
    let written = 0;
    while (written < bytes.length) written += fs.writeSync(fd, bytes, written, bytes.length - written);
    fs.fdatasyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmpPath, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmpPath, finalPath);
  let dirFd = dirFds.get(dir);
  if (dirFd === undefined) {
    dirFd = fs.openSync(dir, 'r');
    dirFds.set(dir, dirFd);
  }
  fs.fsyncSync(dirFd);
}

parentPort!.on('message', (job: DurableWriteJob) => {
  let reply: DurableWriteReply;
  try {
    persist(job);
    reply = { id: job.id, bytes: job.bytes };
  } catch (err) {
    reply = { id: job.id, bytes: job.bytes, error: (err as Error).message };
  }
  parentPort!.postMessage(reply, [job.bytes]);
});
