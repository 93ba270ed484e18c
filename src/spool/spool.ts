import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  REASON_FILE, SpoolLayout, TASK_FOLDERS, OTHER_FOLDERS, TMP_PREFIX, isTaskId, stateOfFolder,
  type TaskFolder,
} from './layout.js';
import { fsyncPath, renameDurably } from './durable.js';
import { readTaskRecord, signedBy, withState, writeTaskRecord, type TaskRecord } from './task-record.js';
import { KeyedMutex } from './keyed-mutex.js';

export interface LocatedTask {
  folder: TaskFolder;
  dir: string;
  record: TaskRecord;
}

export interface FailureReason {
  stage: string;
  from: TaskFolder;
  reason: string;
  at: string;
  attempts: number;
}

export class TaskNotFoundError extends Error {
  constructor(readonly taskId: string, where = 'the spool') {
    super(`task ${taskId} is not in ${where}`);
    this.name = 'TaskNotFoundError';
  }
}

export interface RecoveryReport {
  removedTemporaryEntries: string[];
  correctedStates: { id: string; was: string; now: string }[];
  unreadableTasks: string[];
}

/**
 * The only code that moves task folders between spool folders. Every move is one rename(2) of the
 * whole task folder, after its task.json was rewritten for the new state; a crash between the two
 * is repaired by recover() because the folder, not task.json, is the truth. Work on one task is
 * serialised (KeyedMutex) so a stage and an operator command never move it at the same time.
 */
export class Spool {
  readonly layout: SpoolLayout;
  private readonly mutex = new KeyedMutex();

  constructor(root: string) {
    this.layout = new SpoolLayout(root);
  }

  get root(): string {
    return this.layout.root;
  }

  async init(): Promise<void> {
    for (const f of [...TASK_FOLDERS, ...OTHER_FOLDERS]) await mkdir(this.layout.folder(f), { recursive: true });
  }

  /** Serialise work on one task (moves, record updates) with every other move of it. */
  withTask<T>(taskId: string, work: () => Promise<T>): Promise<T> {
    return this.mutex.run(taskId, work);
  }

  /**
   * Create a task folder in `folder`: `populate` fills a temporary folder, then task.json is
   * written and the folder renamed into place, so no stage ever sees a half-made task.
   */
  async createTask(folder: TaskFolder, record: TaskRecord, populate?: (dir: string) => Promise<void>,
    detail?: string): Promise<string> {
    const finalDir = this.layout.taskDir(folder, record.id);
    const tmpDir = path.join(this.layout.folder(folder), `${TMP_PREFIX}${record.id}`);
    await mkdir(tmpDir, { recursive: true });
    if (populate) await populate(tmpDir);
    await writeTaskRecord(tmpDir, withState(record, stateOfFolder(folder), detail));
    await renameDurably(tmpDir, finalDir);
    return finalDir;
  }

  /** Move a task to the next folder, recording the transition; `update` may add facts. */
  async moveTask(taskId: string, from: TaskFolder, to: TaskFolder, detail?: string,
    update: (r: TaskRecord) => TaskRecord = (r) => r): Promise<TaskRecord> {
    return this.withTask(taskId, () => this.moveUnlocked(taskId, from, to, detail, update));
  }

  private async moveUnlocked(taskId: string, from: TaskFolder, to: TaskFolder, detail: string | undefined,
    update: (r: TaskRecord) => TaskRecord): Promise<TaskRecord> {
    const src = this.layout.taskDir(from, taskId);
    const dst = this.layout.taskDir(to, taskId);
    const current = await readTaskRecord(src).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new TaskNotFoundError(taskId, `${from}/`);
      throw err;
    });
    const next = update(withState(current, stateOfFolder(to), detail));
    await writeTaskRecord(src, next);
    await renameDurably(src, dst);
    return next;
  }

  /** Rewrite a task's record where it is (facts, attempts); the folder does not change. */
  async updateTask(taskId: string, folder: TaskFolder, update: (r: TaskRecord) => TaskRecord): Promise<TaskRecord> {
    return this.withTask(taskId, async () => {
      const dir = this.layout.taskDir(folder, taskId);
      const next = { ...update(await readTaskRecord(dir)), updated_at: new Date().toISOString() };
      await writeTaskRecord(dir, next);
      return next;
    });
  }

  /** Move a task to failed/ with reason.json; `retry` later puts it back into `from`. `by`: the operator who failed it (QC). */
  async failTask(taskId: string, from: TaskFolder, stage: string, reason: string, patch?: Partial<TaskRecord>, by?: string): Promise<TaskRecord> {
    return this.withTask(taskId, async () => {
      const src = this.layout.taskDir(from, taskId);
      const record = await readTaskRecord(src);
      const failure: FailureReason = { stage, from, reason, at: new Date().toISOString(), attempts: record.attempts };
      await writeFile(path.join(src, REASON_FILE), JSON.stringify(failure, null, 2) + '\n');
      return this.moveUnlocked(taskId, from, 'failed', `${stage}: ${reason}`,
        (r) => signedBy({ ...r, ...patch, failed_stage: stage, failed_from: from, reason }, by));
    });
  }

  /** Abort a task (operator, or an incomplete series idle too long); aborted tasks are not retried. */
  async abortTask(taskId: string, from: TaskFolder, reason: string, patch?: Partial<TaskRecord>, by?: string): Promise<TaskRecord> {
    return this.moveTask(taskId, from, 'aborted', reason, (r) => signedBy({ ...r, ...patch, reason }, by));
  }

  /** Put a failed task back into the folder of the stage that failed, with a fresh attempt count. */
  async retryTask(taskId: string, by?: string): Promise<TaskRecord> {
    return this.withTask(taskId, async () => {
      const dir = this.layout.taskDir('failed', taskId);
      const record = await readTaskRecord(dir).catch(() => { throw new TaskNotFoundError(taskId, 'failed/'); });
      const back = record.failed_from;
      if (!back) throw new Error(`task ${taskId} has no failed stage recorded; cannot tell where to retry it`);
      await rm(path.join(dir, REASON_FILE), { force: true });
      return this.moveUnlocked(taskId, 'failed', back, `retry of ${record.failed_stage ?? back}`,
        (r) => signedBy({ ...r, attempts: 0, reason: null, failed_stage: null, failed_from: null }, by));
    });
  }

  async locateTaskIn(folder: TaskFolder, taskId: string): Promise<LocatedTask> {
    const dir = this.layout.taskDir(folder, taskId);
    return { folder, dir, record: await readTaskRecord(dir) };
  }

  async hasTask(folder: TaskFolder, taskId: string): Promise<boolean> {
    return stat(this.layout.taskDir(folder, taskId)).then(() => true, () => false);
  }

  async locateTask(taskId: string): Promise<LocatedTask> {
    if (!isTaskId(taskId)) throw new TaskNotFoundError(taskId);
    for (const folder of TASK_FOLDERS) {
      const dir = this.layout.taskDir(folder, taskId);
      try {
        return { folder, dir, record: await readTaskRecord(dir) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    throw new TaskNotFoundError(taskId);
  }

  /** Task ids in a folder, oldest first (ids sort by creation time); temporary entries skipped. */
  async taskIds(folder: TaskFolder): Promise<string[]> {
    const names = await readdir(this.layout.folder(folder)).catch(() => [] as string[]);
    return names.filter(isTaskId).sort();
  }

  /**
   * The tasks in `folders`, folder by folder. The folders are read one after the other, so a task
   * that moves on meanwhile can be found in two of them: it is listed once, where it was found last.
   */
  async listTasks(folders: readonly TaskFolder[] = TASK_FOLDERS): Promise<LocatedTask[]> {
    const byId = new Map<string, LocatedTask>();
    for (const folder of folders) {
      for (const id of await this.taskIds(folder)) {
        const dir = this.layout.taskDir(folder, id);
        const record = await readTaskRecord(dir).catch(() => undefined);
        if (!record) continue;
        byId.delete(id);
        byId.set(id, { folder, dir, record });
      }
    }
    return [...byId.values()];
  }

  /**
   * Start-up repair: remove every temporary entry (a job that was being written when the process
   * died never became visible, so it is rolled back), and make each task.json agree with the folder
   * it is in.
   */
  async recover(): Promise<RecoveryReport> {
    await this.init();
    const report: RecoveryReport = { removedTemporaryEntries: [], correctedStates: [], unreadableTasks: [] };
    for (const folder of [...TASK_FOLDERS, 'received', 'ignored'] as const) {
      await removeTemporaryEntries(this.layout.folder(folder), report.removedTemporaryEntries, folder === 'received' ? 2 : 1);
    }
    for (const folder of TASK_FOLDERS) {
      for (const id of await this.taskIds(folder)) {
        const dir = this.layout.taskDir(folder, id);
        await removeTemporaryEntries(dir, report.removedTemporaryEntries, 2);
        let record: TaskRecord;
        try {
          record = await readTaskRecord(dir);
        } catch {
          report.unreadableTasks.push(`${folder}/${id}`);
          continue;
        }
        const expected = stateOfFolder(folder);
        if (record.state !== expected) {
          report.correctedStates.push({ id, was: record.state, now: expected });
          await writeTaskRecord(dir, withState(record, expected, `recovered after restart (task.json said ${record.state})`));
        }
      }
    }
    return report;
  }

  /** Age in ms of the oldest entry of a folder (by mtime), or null when empty. */
  async oldestAgeMs(folder: TaskFolder, now = Date.now()): Promise<number | null> {
    let oldest: number | null = null;
    for (const id of await this.taskIds(folder)) {
      const s = await stat(this.layout.taskDir(folder, id)).catch(() => undefined);
      if (s && (oldest === null || s.mtimeMs < oldest)) oldest = s.mtimeMs;
    }
    return oldest === null ? null : Math.max(0, now - oldest);
  }
}

/** Remove `.tmp-*` entries in `dir` and, to `depth` levels, in its sub-folders. */
async function removeTemporaryEntries(dir: string, removed: string[], depth: number): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  let changed = false;
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.name.startsWith(TMP_PREFIX)) {
      await rm(p, { recursive: true, force: true });
      removed.push(p);
      changed = true;
    } else if (e.isDirectory() && depth > 1) {
      await removeTemporaryEntries(p, removed, depth - 1);
    }
  }
  if (changed) await fsyncPath(dir);
}
