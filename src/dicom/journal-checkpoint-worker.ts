/**
 * The intake journal's checkpoint thread (intake-journal.ts): one checkpoint at a time, off the
 * SCP's thread, whose file-system calls would otherwise wait on the disk's commits.
 */
import { parentPort } from 'node:worker_threads';
import { checkpointSegments } from './journal-checkpoint.js';

export interface CheckpointJob { receivedDir: string; segments: string[] }
export interface CheckpointReply { filed: number }

/** The ThreadPool protocol (thread-pool.ts): `{ id, ...job }` in, `{ id, ...reply }` or `{ id, error }` out. */
parentPort!.on('message', ({ id, receivedDir, segments }: CheckpointJob & { id: number }) => {
  try {
    parentPort!.postMessage({ id, filed: checkpointSegments(receivedDir, segments) } satisfies CheckpointReply & { id: number });
  } catch (err) {
    parentPort!.postMessage({ id, error: (err as Error).message });
  }
});
