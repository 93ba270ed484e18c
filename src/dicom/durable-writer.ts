/**
 * Durable file writes on threads of their own, one whole write per hand-over: write, fdatasync,
 * rename, folder fsync (durable-write-worker.ts). Through Node's fs API each of those steps is a
 * trip to the four shared libuv threads and back: four fsyncs in flight at most, however many
 * associations wait on one, where the disk commits many concurrent fsyncs in one journal
 * transaction (20 associations: 3.4× storescp --fork's time with libuv's threads, 1.9× with a
 * thread per waiting write).
 */
import type { DurableWriteJob, DurableWriteReply } from './durable-write-worker.js';
import { movableBuffer, ThreadPool } from './thread-pool.js';

/** A file to write: `bytes` goes to the thread as it is (see write()). */
export type Job = Omit<DurableWriteJob, 'bytes'> & { bytes: Buffer };

export class DurableWriter {
  private readonly pool: ThreadPool<DurableWriteJob, DurableWriteReply>;

  /** `maxThreads`: writes that may wait on the disk at once. */
  constructor(maxThreads: number) {
    this.pool = new ThreadPool(new URL('./durable-write-worker.js', import.meta.url), maxThreads, 'durable write');
  }

  /**
   * Resolves once `bytes` are on disk under `finalPath` and the name is durable, with the same
   * bytes in a new Buffer: a Buffer that owns its whole memory is moved to the thread and back
   * (no copy of a slice's 128 KB each way), so the one passed in is empty afterwards.
   * Rejects with the operating system's message.
   */
  async write({ bytes, ...where }: Job): Promise<Buffer> {
    const buffer = movableBuffer(bytes);
    const reply = await this.pool.run({ ...where, bytes: buffer }, [buffer]);
    return Buffer.from(reply.bytes);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
