/**
 * Lazily started, process-wide sets of imaging worker threads (imaging-worker.ts). In the shared
 * pool the slice decoding, the Gaussian filter and the preparation of output slices split their
 * volume into slice ranges, one job per worker. Batches of files to write go to a pool of their
 * own (writers()): in the shared one they waited behind a filter's long jobs while this thread,
 * its series ready, had nothing to do. A worker starts its jobs in order (a file-writing job ends
 * once its fsyncs are done; meanwhile the worker starts the next). Idle workers are unref'd so
 * they never keep the process alive; a worker that crashes is dropped and replaced on the next call.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ImagingJob, ImagingReply } from './imaging-jobs.js';

/** A job as the caller describes it; the pool adds the id. */
export type JobSpec = ImagingJob extends infer J ? (J extends { id: number } ? Omit<J, 'id'> : never) : never;

interface Pending {
  worker: Worker;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class ImagingPool {
  private static instance: ImagingPool | undefined;
  private static writerInstance: ImagingPool | undefined;
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  static shared(): ImagingPool {
    ImagingPool.instance ??= new ImagingPool();
    return ImagingPool.instance;
  }

  /**
   * The pool for write jobs (files, previews). As many threads as cores (~30 MB each): one was
   * busy all through the unpacker (file creation, writes, previews) and slowed it.
   */
  static writers(): ImagingPool {
    ImagingPool.writerInstance ??= new ImagingPool();
    return ImagingPool.writerInstance;
  }

  /** Worker threads started (and not crashed) so far. */
  get threads(): number {
    return this.workers.length;
  }

  /** Split [0, total) into `parts` contiguous ranges, one job per worker, and wait for all. */
  async runSplit(parts: number, total: number, spec: (from: number, to: number) => JobSpec): Promise<void> {
    const count = Math.min(parts, total);
    while (this.workers.length < count) this.workers.push(this.startWorker());
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const from = Math.floor((total * i) / count);
      const to = Math.floor((total * (i + 1)) / count);
      jobs.push(this.run(this.workers[i]!, spec(from, to)));
    }
    await Promise.all(jobs);
  }

  /**
   * One job, on an idle worker, or a new one while there are fewer than the cores, or else the
   * worker with the fewest jobs waiting. (Workers start only to take a job: one started idle would
   * keep the process alive.)
   */
  runOne(spec: JobSpec): Promise<void> {
    const threads = availableParallelism();
    const waiting = (worker: Worker): number => [...this.pending.values()].filter((p) => p.worker === worker).length;
    let chosen = this.workers.find((worker) => waiting(worker) === 0);
    if (!chosen && this.workers.length < threads) {
      chosen = this.startWorker();
      this.workers.push(chosen);
    }
    chosen ??= this.workers.reduce((best, worker) => (waiting(worker) < waiting(best) ? worker : best));
    return this.run(chosen, spec);
  }

  private run(worker: Worker, spec: JobSpec): Promise<void> {
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { worker, resolve, reject });
      worker.ref();
      worker.postMessage({ id, ...spec } as ImagingJob);
    });
  }

  private startWorker(): Worker {
    const worker = new Worker(new URL('./imaging-worker.js', import.meta.url));
    worker.unref();
    worker.on('message', (reply: ImagingReply) => {
      const job = this.pending.get(reply.id);
      if (!job) return;
      this.pending.delete(reply.id);
      if (![...this.pending.values()].some((p) => p.worker === worker)) worker.unref();
      if (reply.error) job.reject(workerError(reply.error));
      else job.resolve();
    });
    const fail = (err: Error): void => {
      const index = this.workers.indexOf(worker);
      if (index >= 0) this.workers.splice(index, 1);
      for (const [id, job] of this.pending) {
        if (job.worker !== worker) continue;
        this.pending.delete(id);
        job.reject(err);
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`imaging worker exited with code ${code}`)));
    return worker;
  }
}

/** The worker's error as thrown there: its message and errno code (a file-system error stays one), its stack for the log. */
function workerError(error: NonNullable<ImagingReply['error']>): Error {
  const err = Object.assign(new Error(error.message), error.code === undefined ? {} : { code: error.code });
  if (error.stack) err.stack = `${error.stack}\n    (in an imaging worker thread)`;
  return err;
}
