/**
 * Jobs run on worker threads of one script, one job per thread at a time, one hand-over each way.
 * Threads start when jobs wait for one, up to `maxThreads`, and stay for the next jobs; idle
 * threads are unref'd so they never keep the process alive. A thread that dies takes only its own
 * job with it (rejected); the next job starts a new thread.
 *
 * The script answers each message `{ id, ...job }` with `{ id, ...result }`, or `{ id, error }`
 * (a message) when the job failed; ArrayBuffers in `transfer` move to the thread without a copy.
 */
import { Worker } from 'node:worker_threads';

interface Waiting<Job, Result> { job: Job; transfer: ArrayBuffer[]; resolve: (result: Result) => void; reject: (err: Error) => void }

export class ThreadPool<Job extends object, Result extends object> {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Waiting<Job, Result> & { id: number }>();
  private readonly queue: Waiting<Job, Result>[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly script: URL, private readonly maxThreads: number, private readonly name: string) {}

  /** Jobs handed over and not answered yet (waiting for a thread or running on one). */
  get pending(): number {
    return this.queue.length + this.busy.size;
  }

  run(job: Job, transfer: ArrayBuffer[] = []): Promise<Result> {
    if (this.closed) return Promise.reject(new Error(`the ${this.name} threads are closed`));
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ job, transfer, resolve, reject });
      this.dispatch();
    });
  }

  /** Ends the threads; jobs still waiting or running are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    for (const waiting of this.queue.splice(0)) waiting.reject(new Error(`the ${this.name} threads are closed`));
    const workers = [...this.idle, ...this.busy.keys()];
    this.idle.length = 0;
    // terminate() settles from the thread's exit event; on a busy machine the loop could run out
    // of ref'd handles first (an idle thread is unref'd) and end the process with close() pending.
    const keepAlive = setInterval(() => undefined, 60_000);
    try {
      await Promise.all(workers.map((w) => {
        w.ref();
        return w.terminate();
      }));
    } finally {
      clearInterval(keepAlive);
    }
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? (this.busy.size < this.maxThreads ? this.startWorker() : undefined);
      if (!worker) return;
      const waiting = this.queue.shift()!;
      const id = this.nextId++;
      this.busy.set(worker, { ...waiting, id });
      worker.ref();
      worker.postMessage({ id, ...waiting.job }, waiting.transfer);
    }
  }

  private startWorker(): Worker {
    // Not the parent's flags: `node -e` or `--input-type` would make the thread refuse its file.
    const worker = new Worker(this.script, { execArgv: [] });
    worker.unref();
    worker.on('message', (reply: Result & { id: number; error?: string }) => {
      const job = this.busy.get(worker);
      if (!job || job.id !== reply.id) return;
      this.busy.delete(worker);
      worker.unref();
      this.idle.push(worker);
      if (reply.error !== undefined) job.reject(new Error(reply.error));
      else job.resolve(reply);
      this.dispatch();
    });
    const fail = (err: Error): void => {
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      const at = this.idle.indexOf(worker);
      if (at >= 0) this.idle.splice(at, 1);
      job?.reject(err);
      if (!this.closed) this.dispatch();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`${this.name} thread exited with code ${code}`)));
    return worker;
  }
}

/** The ArrayBuffer to move to a thread: the Buffer's own when it has one to itself, else a copy. */
export function movableBuffer(bytes: Buffer): ArrayBuffer {
  const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
  return owned ? bytes.buffer as ArrayBuffer : new Uint8Array(bytes).buffer;
}
