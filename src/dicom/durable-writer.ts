/**
 * Durable file writes on threads of their own, one whole write per hand-over: write, fdatasync,
 * rename, folder fsync (durable-write-worker.ts). Through Node's fs API each of those steps is a
 * trip to the four shared libuv threads and back: four fsyncs in flight at most, however many
 * associations wait on one, where the disk commits many concurrent fsyncs in one journal
 * transaction (20 associations: 3.4× storescp --fork's time with libuv's threads, 1.9× with a
 * thread per waiting write). Threads start when writes wait for one, up to `maxThreads`; idle
 * threads are unref'd so they never keep the process alive.
 */
import { Worker } from 'node:worker_threads';
import type { DurableWriteJob, DurableWriteReply } from './durable-write-worker.js';

/** A file to write: `bytes` goes to the thread as it is (see write()). */
export type Job = Omit<DurableWriteJob, 'id' | 'bytes'> & { bytes: Buffer };

interface Waiting { job: Omit<DurableWriteJob, 'id'>; resolve: (bytes: Buffer) => void; reject: (err: Error) => void }

export class DurableWriter {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Waiting & { id: number }>();
  private readonly queue: Waiting[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly maxThreads: number) {}

  /**
   * Resolves once `bytes` are on disk under `finalPath` and the name is durable, with the same
   * bytes in a new Buffer: a Buffer that owns its whole memory is moved to the thread and back
   * (no copy of a slice's 128 KB each way), so the one passed in is empty afterwards.
   * Rejects with the operating system's message.
   */
  write({ bytes, ...where }: Job): Promise<Buffer> {
    if (this.closed) return Promise.reject(new Error('the durable writer is closed'));
    const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
    const buffer = owned ? bytes.buffer as ArrayBuffer : new Uint8Array(bytes).buffer;
    return new Promise<Buffer>((resolve, reject) => {
      this.queue.push({ job: { ...where, bytes: buffer }, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const workers = [...this.idle, ...this.busy.keys()];
    this.idle.length = 0;
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? (this.busy.size < this.maxThreads ? this.startWorker() : undefined);
      if (!worker) return;
      const waiting = this.queue.shift()!;
      const id = this.nextId++;
      this.busy.set(worker, { ...waiting, id });
      worker.ref();
      worker.postMessage({ id, ...waiting.job } satisfies DurableWriteJob, [waiting.job.bytes]);
    }
  }

  private startWorker(): Worker {
    // Not the parent's flags: `node -e` or `--input-type` would make the thread refuse its file.
    const worker = new Worker(new URL('./durable-write-worker.js', import.meta.url), { execArgv: [] });
    worker.unref();
    worker.on('message', (reply: DurableWriteReply) => {
      const job = this.busy.get(worker);
      if (!job || job.id !== reply.id) return;
      this.busy.delete(worker);
      worker.unref();
      this.idle.push(worker);
      if (reply.error) job.reject(new Error(reply.error));
      else job.resolve(Buffer.from(reply.bytes));
      this.dispatch();
    });
    // A thread that dies takes only its own write with it; the next write starts a new one.
    const fail = (err: Error): void => {
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      const at = this.idle.indexOf(worker);
      if (at >= 0) this.idle.splice(at, 1);
      job?.reject(err);
      if (!this.closed) this.dispatch();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`durable write thread exited with code ${code}`)));
    return worker;
  }
}
