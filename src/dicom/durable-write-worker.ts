/**
 * A thread of DurableWriter (durable-writer.ts): writes one file at a time with blocking calls,
 * fdatasync, rename under its final name, then fsync of the final folder. Only node:fs is loaded,
 * so the thread stays small.
 */
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';

export interface DurableWriteJob {
  /** Moved here from the main thread, and back with the reply (no copy either way). */
  bytes: ArrayBuffer;
  tmpPath: string;
  finalPath: string;
  /** The final path's folder, fsync'ed after the rename so the new name survives a power cut. */
  dir: string;
}

export interface DurableWriteReply {
  bytes: ArrayBuffer;
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

/** The ThreadPool protocol (thread-pool.ts): `{ id, ...job }` in, `{ id, ...reply }` or `{ id, error }` out. */
parentPort!.on('message', (job: DurableWriteJob & { id: number }) => {
  let error: string | undefined;
  try {
    persist(job);
  } catch (err) {
    error = (err as Error).message;
  }
  parentPort!.postMessage({ id: job.id, bytes: job.bytes, error } satisfies DurableWriteReply & { id: number; error?: string }, [job.bytes]);
});
