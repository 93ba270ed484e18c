/**
 * The operator's quality-control decisions on a task the QC gate (stages/qc-gate.ts) parked in
 * awaiting_qc/: approve (→ sending) or reject (→ failed with the reason; `tasks retry` puts a
 * rejected task back into awaiting_qc/).
 */
import type { Store } from '../db/store.js';
import type { Runner } from '../runner/runner.js';
import { TaskNotFoundError, type Spool } from '../spool/spool.js';
import { signedBy, type TaskRecord } from '../spool/task-record.js';
import { TaskOperationError } from './task-operations.js';

/** A task waiting for an operator's decision, with what the operator needs to decide. */
export interface HeldTask {
  id: string;
  series_instance_uid: string;
  series_description: string | null;
  images: number;
  sender: string;
  held_since: string;
  /** The output series written by the unpacker (filter, series UID, files). */
  output_series: unknown;
  /** The task folder (previews/<filter>.png, outputs/<filter>/). */
  dir: string;
}

export class QcOperations {
  /** `store` and `runner` exist in a running appliance: the database mirror is updated and the sender nudged. */
  constructor(private readonly spool: Spool, private readonly live: { store?: Store; runner?: Runner } = {}) {}

  async list(): Promise<HeldTask[]> {
    return (await this.spool.listTasks(['awaiting_qc'])).map(({ dir, record: r }) => ({
      id: r.id, series_instance_uid: r.series_instance_uid, series_description: r.series_description ?? null,
      images: r.images, sender: r.sender, held_since: [...r.history].reverse().find((h) => h.state === 'awaiting_qc')?.at ?? r.updated_at,
      output_series: r.facts.output_series ?? null, dir,
    }));
  }

  /** `by`: the operator deciding, recorded in the task's history and QC facts. */
  async approve(id: string, by: string): Promise<TaskRecord> {
    const after = await this.held(id, () => this.spool.moveTask(id, 'awaiting_qc', 'sending', `approved by ${by}`,
      (r) => signedBy({ ...r, facts: { ...r.facts, qc: { decision: 'approved', by, at: new Date().toISOString() } } }, by)));
    this.live.store?.recordTask(after);
    this.live.runner?.nudge('sender');
    return after;
  }

  async reject(id: string, reason: string, by: string): Promise<TaskRecord> {
    const text = reason.trim();
    if (!text) throw new TaskOperationError('invalid', 'a rejection needs a reason (--reason TEXT)');
    const after = await this.held(id, () => this.spool.failTask(id, 'awaiting_qc', 'qc', `rejected in quality control: ${text}`, undefined, by));
    this.live.store?.recordTask(after);
    return after;
  }

  /** Run a move out of awaiting_qc/, turning "not there" into an answer that says where the task is. */
  private async held(id: string, move: () => Promise<TaskRecord>): Promise<TaskRecord> {
    try {
      if (await this.spool.hasTask('awaiting_qc', id)) return await move();
    } catch (err) {
      if (!(err instanceof TaskNotFoundError) && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    let where: TaskRecord;
    try {
      where = (await this.spool.locateTask(id)).record;
    } catch (err) {
      if (err instanceof TaskNotFoundError) throw new TaskOperationError('not_found', `no task ${id} in ${this.spool.root}`);
      throw err;
    }
    throw new TaskOperationError('conflict', `task ${id} is ${where.state}, not awaiting_qc`);
  }
}
