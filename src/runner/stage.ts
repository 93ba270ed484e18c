import type { TaskFolder } from '../spool/layout.js';
import type { TaskRecord } from '../spool/task-record.js';
import type { Logger } from '../log/logger.js';

/** What a stage asks the runner to do with a job; stages never move folders themselves. */
export type StageOutcome =
  /** Move the task to the stage's `to` folder (or `to` given here), merging `facts` and `patch` into task.json. */
  | { kind: 'done'; to?: TaskFolder; detail?: string; facts?: Record<string, unknown>; patch?: RecordPatch }
  /** Something went wrong that may heal (network, share full): try again with backoff. */
  | { kind: 'retry'; reason: string; afterMs?: number }
  /** Nothing to do yet (waiting for a callback, quiet time): look again later, no attempt counted. */
  | { kind: 'wait'; afterMs: number; facts?: Record<string, unknown> }
  /** The task cannot go on: failed/ with the reason; an operator may retry it. */
  | { kind: 'fail'; reason: string; patch?: RecordPatch }
  /** The task is abandoned (e.g. an incomplete series idle too long). */
  | { kind: 'abort'; reason: string; patch?: RecordPatch };

/** Fields of task.json a stage may set when it moves a task on. */
export type RecordPatch = Partial<Pick<TaskRecord, 'images' | 'outputs' | 'series_description' | 'modality'>>;

export interface StageJob {
  id: string;
  /** The task folder; the stage may write into it (temporary names first, then rename). */
  dir: string;
  record: TaskRecord;
  log: Logger;
}

export interface Stage {
  name: string;
  from: TaskFolder;
  to: TaskFolder;
  /** Jobs of this stage processed at once (default 1). */
  concurrency?: number;
  /** Retries before the task fails (default 8). */
  maxAttempts?: number;
  /** Or: keep retrying until this long after the first failure (overrides maxAttempts). */
  giveUpAfterMs?: number;
  /** Backoff of retries: first delay and cap (defaults 1 s and 5 min). */
  backoff?: { initialMs: number; maxMs: number };
  process(job: StageJob): Promise<StageOutcome>;
}

/** Thrown by a stage for a problem that retrying cannot fix: the task fails at once. */
export class PermanentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentError';
  }
}
