/**
 * The packer's heavy work — decoding a series into its volume and compressing the .npy — done
 * while the series is still in collecting/, waiting out `quiet_seconds`, instead of after it was
 * closed: the compilator starts it once a complete-looking series has been quiet for half that
 * time, and the packer takes the result, so the archive is written as soon as the task is
 * validated. (400 slices of 256²: about 0.3 s of the packer's 0.35-0.4 s.)
 *
 * The packer uses a result only if it was made from exactly the task's instance files: instances
 * placed in a task are never rewritten (a re-send goes to a new task), so the same file names
 * mean the same pixels. A series that gets another instance after its pack started is packed
 * again, here at its next quiet half or by the packer.
 *
 * Held in memory only (a compressed volume is about a fifth of the volume): after a restart, or
 * for a task pushed out by newer ones, the packer does the work itself, as it would without this.
 * One pack runs at a time, so at most one extra volume is in memory.
 */
import path from 'node:path';
import { assembleVolume } from '../imaging/assemble-volume.js';
import type { Logger } from '../log/logger.js';
import type { OpenTask } from './collecting-index.js';
import { compressVolume, type CompressedVolume } from '../remote/upload-archive.js';

/** Packs kept at once, made or being made; the oldest goes first. */
const DEFAULT_TASKS_KEPT = 2;

interface Pack {
  /** The instance files it is made from, by name, sorted. */
  names: string;
  /** The task's lastArrival when it started: a later instance makes it stale. */
  lastArrival: number;
  status: {
    /** Waiting for the pack before it to finish. */
    queued: boolean;
    /** Not to be made any more (a newer pack of the task, or pushed out). */
    superseded: boolean;
  };
  /** Settles when the pack no longer reads the task's files (they move when the task is closed). */
  filesRead: Promise<void>;
  /** The compressed volume, or undefined when it was not made (the packer then does the work). */
  result: Promise<CompressedVolume | undefined>;
}

export class PackAhead {
  private readonly byTask = new Map<string, Pack>();
  /** The pack being made: the next starts after it. */
  private running: Promise<unknown> = Promise.resolve();

  constructor(private readonly log: Logger, private readonly tasksKept = DEFAULT_TASKS_KEPT) {}

  /** Whether the task's instances as they are now were packed, or are being packed. */
  has(task: OpenTask): boolean {
    return this.byTask.get(task.id)?.lastArrival === task.lastArrival;
  }

  /** Starts packing the task's instances as they are now (after any pack already running). */
  start(task: OpenTask): void {
    const files = task.headers.map((header) => task.files.get(header.sopInstanceUid)!);
    const headers = [...task.headers];
    const status = { queued: true, superseded: false };
    let filesRead!: () => void;
    const filesReadPromise = new Promise<void>((resolve) => { filesRead = resolve; });
    const result = this.running.then(async () => {
      try {
        if (status.superseded) return undefined;
        status.queued = false;
        const started = performance.now();
        const volume = await assembleVolume(files, headers).finally(filesRead);
        this.log.debug(`packing ahead: ${files.length} instances read in ${Math.round(performance.now() - started)} ms`, { task: task.id });
        if (status.superseded) return undefined;
        return await compressVolume(volume);
      } catch (err) {
        this.log.debug(`series not packed ahead (the packer will pack it): ${(err as Error).message}`, { task: task.id });
        return undefined;
      } finally {
        filesRead();
      }
    });
    this.running = result;
    this.drop(task.id);
    this.byTask.set(task.id, { names: namesOf(files), lastArrival: task.lastArrival, status, filesRead: filesReadPromise, result });
    for (const oldest of this.byTask.keys()) {
      if (this.byTask.size <= this.tasksKept) break;
      this.drop(oldest);
    }
  }

  /**
   * Resolves when no pack of the task reads its files any more, before the task folder moves: a
   * pack still waiting for its turn is dropped (the packer does the work), one reading is awaited.
   */
  async filesRead(taskId: string): Promise<void> {
    const pack = this.byTask.get(taskId);
    if (pack?.status.queued) this.drop(taskId);
    await pack?.filesRead;
  }

  /**
   * The task's compressed volume if it was made from exactly `files` (the task's instance files);
   * otherwise undefined. The task is forgotten here.
   */
  async take(taskId: string, files: readonly string[]): Promise<CompressedVolume | undefined> {
    const pack = this.byTask.get(taskId);
    this.byTask.delete(taskId);
    if (!pack || pack.names !== namesOf(files)) return undefined;
    return pack.result;
  }

  /** Tasks whose pack is held (for tests). */
  get size(): number {
    return this.byTask.size;
  }

  private drop(taskId: string): void {
    const pack = this.byTask.get(taskId);
    if (!pack) return;
    pack.status.superseded = true;
    this.byTask.delete(taskId);
  }
}

function namesOf(files: readonly string[]): string {
  return files.map((file) => path.basename(file)).sort().join('\n');
}
