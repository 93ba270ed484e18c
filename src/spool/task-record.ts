import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { TASK_FILE, type TaskFolder, type TaskState } from './layout.js';
import { writeFileDurably } from './durable.js';

export interface TaskHistoryEntry {
  state: TaskState;
  at: string;
  detail?: string;
  /** The operator who made this transition (QC decision, retry, abort); absent for the appliance's own moves. */
  by?: string;
}

/**
 * task.json: what an operator reads with `cat` to follow a study, and what the appliance rebuilds
 * its view from after a restart. No patient name or ID is stored here.
 */
export interface TaskRecord {
  id: string;
  state: TaskState;
  created_at: string;
  updated_at: string;
  /** Where the instances came from: `ae:<calling AE>` or `hotfolder`. */
  sender: string;
  series_instance_uid: string;
  study_instance_uid: string;
  modality?: string;
  series_description?: string;
  images: number;
  /** Stage that failed and the folder it takes its jobs from (where retry puts the task back). */
  failed_stage: string | null;
  failed_from: TaskFolder | null;
  /** Reason for failed/aborted; null otherwise. */
  reason: string | null;
  /** Failed attempts of the current stage (reset on every successful move). */
  attempts: number;
  /** SeriesInstanceUIDs delivered to every destination. */
  outputs: string[];
  /** Free-form facts stages leave for later stages (tracer, delivery progress, timings...). */
  facts: Record<string, unknown>;
  history: TaskHistoryEntry[];
}

/** Sortable, readable task ids: creation time (UTC) plus random hex, e.g. 20261121-223000-ab12cd. */
export function newTaskId(now = new Date()): string {
  const iso = now.toISOString();
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export function newTaskRecord(fields: Pick<TaskRecord, 'id' | 'sender' | 'series_instance_uid' | 'study_instance_uid'>
  & Partial<TaskRecord>, now = new Date()): TaskRecord {
  const at = now.toISOString();
  return {
    state: 'collecting', created_at: at, updated_at: at, images: 0, failed_stage: null, failed_from: null, reason: null,
    attempts: 0, outputs: [], facts: {}, history: [],
    ...fields,
  };
}

export async function readTaskRecord(taskDir: string): Promise<TaskRecord> {
  return JSON.parse(await readFile(path.join(taskDir, TASK_FILE), 'utf8')) as TaskRecord;
}

export async function writeTaskRecord(taskDir: string, record: TaskRecord): Promise<void> {
  await writeFileDurably(path.join(taskDir, TASK_FILE), JSON.stringify(record, null, 2) + '\n');
}

/** The record after entering `state`; history keeps every transition with its detail. */
export function withState(record: TaskRecord, state: TaskState, detail?: string, now = new Date()): TaskRecord {
  const at = now.toISOString();
  return {
    ...record,
    state,
    updated_at: at,
    history: [...record.history, detail ? { state, at, detail } : { state, at }],
  };
}

/** The record with its latest history entry signed by the operator who caused it. */
export function signedBy(record: TaskRecord, by: string | undefined): TaskRecord {
  const last = record.history.at(-1);
  if (!by || !last) return record;
  return { ...record, history: [...record.history.slice(0, -1), { ...last, by }] };
}
