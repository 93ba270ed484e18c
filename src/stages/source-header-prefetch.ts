/**
 * The source headers a task's output series are derived from, read while the task waits for the
 * remote service instead of after its result came back. Parsing and preparing them costs about
 * 1 ms per instance on the main thread, which the unpacker would otherwise spend between the
 * result and the first output file. The downloader starts the reading when it first sees a task
 * in processing/; the unpacker takes what was read (and reads the rest itself).
 *
 * Held in memory only: after a restart, or for a task pushed out by newer ones, the unpacker
 * reads the headers itself, as it would without this.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { SourceHeaders } from '../series/derived-series.js';
import type { Logger } from '../log/logger.js';
import { INSTANCES_DIR } from '../spool/layout.js';

/** Tasks whose headers are kept at once (each a few MB); the oldest goes first. */
const DEFAULT_TASKS_KEPT = 4;

/** Evicted tasks remembered, so that the downloader's next look does not read them again. */
const EVICTED_REMEMBERED = 256;

export class SourceHeaderPrefetch {
  private readonly byTask = new Map<string, SourceHeaders>();
  /** Tasks pushed out by newer ones (oldest first): the downloader looks at a waiting task every poll. */
  private readonly evicted = new Set<string>();

  constructor(private readonly log: Logger, private readonly tasksKept = DEFAULT_TASKS_KEPT) {}

  /**
   * Starts reading the headers of the task's instances in `taskDir`, once per task; the promise
   * (callers need not wait) resolves when every file was tried.
   */
  start(taskId: string, taskDir: string): Promise<void> {
    if (this.byTask.has(taskId) || this.evicted.has(taskId)) return Promise.resolve();
    const headers = new SourceHeaders();
    this.byTask.set(taskId, headers);
    for (const oldest of this.byTask.keys()) {
      if (this.byTask.size <= this.tasksKept) break;
      this.byTask.delete(oldest);
      this.evicted.add(oldest);
    }
    for (const forgotten of this.evicted) {
      if (this.evicted.size <= EVICTED_REMEMBERED) break;
      this.evicted.delete(forgotten);
    }
    const instancesDir = path.join(taskDir, INSTANCES_DIR);
    return readdir(instancesDir).then(
      (names) => headers.preload(names.filter((n) => n.endsWith('.dcm')).map((n) => path.join(instancesDir, n))),
      (err: Error) => { this.log.debug(`source headers not read ahead (the unpacker will read them): ${err.message}`, { task: taskId }); },
    );
  }

  /** The task's headers read so far (reading goes on), or a new empty set; the task is forgotten here. */
  take(taskId: string): SourceHeaders {
    const headers = this.byTask.get(taskId) ?? new SourceHeaders();
    this.byTask.delete(taskId);
    this.evicted.delete(taskId);
    return headers;
  }

  /** Tasks whose headers are held (for tests and the log). */
  get size(): number {
    return this.byTask.size;
  }
}
