/**
 * What an operator does with tasks: list, show, retry, abort. The one implementation behind both
 * the HTTP API (appliance running) and the CLI's direct path (appliance stopped, spool locked by the
 * CLI). The folders are the truth: everything is read from task.json and reason.json on disk.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Store } from '../db/store.js';
import type { Runner } from '../runner/runner.js';
import { REASON_FILE, TASK_FOLDERS, stateOfFolder, type TaskFolder, type TaskState } from '../spool/layout.js';
import { TaskNotFoundError, type FailureReason, type Spool } from '../spool/spool.js';
import type { TaskRecord } from '../spool/task-record.js';

/** One line of `tasks list` (and GET /tasks). */
export interface TaskSummary {
  id: string;
  state: TaskState;
  folder: TaskFolder;
  series_instance_uid: string;
  study_instance_uid: string;
  series_description: string | null;
  images: number;
  /** Why the task failed or was aborted; null otherwise. */
  reason: string | null;
  failed_stage: string | null;
  /** SeriesInstanceUIDs delivered. */
  outputs: string[];
  sender: string;
  created_at: string;
  updated_at: string;
}

/** `tasks show` (and GET /tasks/:id). */
export interface TaskDetail {
  record: TaskRecord;
  folder: TaskFolder;
  dir: string;
  /** reason.json of a failed task (stage, folder it came from, reason, time, attempts). */
  reason_json: FailureReason | null;
  /** Files of the task folder, relative to it (instances/IM00001.dcm ...). */
  files: string[];
}

export type TaskOperationProblem = 'not_found' | 'conflict' | 'invalid';

/** A request the operation refuses, with a message meant for the operator. */
export class TaskOperationError extends Error {
  constructor(readonly problem: TaskOperationProblem, message: string) {
    super(message);
    this.name = 'TaskOperationError';
  }
}

/** The states `--state` accepts: task states, plus folder names where they differ ("sent"). */
export function parseStateFilter(text: string): TaskState {
  const byFolder = TASK_FOLDERS.find((f) => f === text);
  if (byFolder) return stateOfFolder(byFolder);
  const state = TASK_FOLDERS.map(stateOfFolder).find((s) => s === text);
  if (state) return state;
  throw new TaskOperationError('invalid', `unknown state "${text}"; one of ${TASK_FOLDERS.map(stateOfFolder).join(', ')}`);
}

export class TaskOperations {
  /** `store` and `runner` exist in a running appliance: the database mirror is updated and the runner nudged. */
  constructor(private readonly spool: Spool, private readonly live: { store?: Store; runner?: Runner } = {}) {}

  async list(filter: { state?: TaskState } = {}): Promise<TaskSummary[]> {
    const folders = filter.state ? TASK_FOLDERS.filter((f) => stateOfFolder(f) === filter.state) : TASK_FOLDERS;
    const tasks = await this.spool.listTasks(folders);
    return tasks.map(({ folder, record: r }) => ({
      id: r.id, state: stateOfFolder(folder), folder, series_instance_uid: r.series_instance_uid,
      study_instance_uid: r.study_instance_uid, series_description: r.series_description ?? null, images: r.images,
      reason: folder === 'failed' || folder === 'aborted' ? r.reason : null, failed_stage: r.failed_stage,
      outputs: r.outputs, sender: r.sender, created_at: r.created_at, updated_at: r.updated_at,
    })).sort((a, b) => a.id.localeCompare(b.id));
  }

  async show(id: string): Promise<TaskDetail> {
    const { folder, dir, record } = await this.locate(id);
    const reasonJson = await readFile(path.join(dir, REASON_FILE), 'utf8')
      .then((text) => JSON.parse(text) as FailureReason, () => null);
    return { record, folder, dir, reason_json: reasonJson, files: await listFiles(dir) };
  }

  /** Put a failed task back into the folder of the stage that failed; `by`, the operator, is named in its history. */
  async retry(id: string, by: string): Promise<TaskRecord> {
    const { folder, record } = await this.locate(id);
    if (folder !== 'failed') {
      throw new TaskOperationError('conflict', `task ${id} is ${record.state}, not failed: nothing to retry`);
    }
    const after = await this.spool.retryTask(id, by);
    this.live.store?.recordTask(after);
    this.live.runner?.clearDelay(id);
    this.live.runner?.nudge();
    return after;
  }

  /** Abandon a task that is not finished (a failed task may be abandoned too: it will not be retried). */
  async abort(id: string, reason: string | undefined, by: string): Promise<TaskRecord> {
    const { folder, record } = await this.locate(id);
    if (folder === 'sent' || folder === 'aborted') {
      throw new TaskOperationError('conflict', `task ${id} is ${record.state}: nothing to abort`);
    }
    let after: TaskRecord;
    try {
      after = await this.spool.abortTask(id, folder, reason?.trim() || `aborted by ${by}`, undefined, by);
    } catch (err) {
      // A stage moved it between locate and abort: say where it is now.
      if (err instanceof TaskNotFoundError) {
        const now = await this.locate(id);
        throw new TaskOperationError('conflict', `task ${id} moved on to ${now.record.state} meanwhile; try again`);
      }
      throw err;
    }
    this.live.store?.recordTask(after);
    return after;
  }

  private async locate(id: string) {
    try {
      return await this.spool.locateTask(id);
    } catch (err) {
      if (err instanceof TaskNotFoundError) throw new TaskOperationError('not_found', `no task ${id} in ${this.spool.root}`);
      throw err;
    }
  }
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const entries = await readdir(path.join(dir, prefix), { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...await listFiles(dir, rel));
    else out.push(rel);
  }
  return out;
}
