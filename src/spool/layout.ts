import path from 'node:path';

/**
 * The spool folders. A task folder sits in exactly one of the task folders below, and that folder
 * is its state: `ls spool/*` shows where every study is. `incoming` is the drag-and-drop hot
 * folder, `received` is where the Store SCP lands instances (one sub-folder per calling AE),
 * `ignored` keeps non-PET instances until cleanup, `outbox`/`inbox` are the default share folders,
 * `uploads` stages files sent through the upload API until the upload is complete.
 * `unpacking_sending` holds a task whose output series are being made while the finished ones are
 * already sent (no quality-control hold): the destinations may have part of it, unlike in
 * `downloaded` or `unpacked`.
 */
export const TASK_FOLDERS = [
  'collecting', 'compiled', 'validated', 'packed', 'processing', 'downloaded', 'unpacking_sending',
  'unpacked', 'awaiting_qc', 'sending', 'sent', 'failed', 'aborted',
] as const;
export type TaskFolder = (typeof TASK_FOLDERS)[number];

export const OTHER_FOLDERS = ['incoming', 'received', 'ignored', 'outbox', 'inbox', 'logs', 'uploads'] as const;

/** Task states as the DESIGN.md contract names them, one per task folder. */
export type TaskState =
  | 'collecting' | 'compiled' | 'validated' | 'packed' | 'processing' | 'downloaded' | 'unpacking_sending' | 'unpacked'
  | 'awaiting_qc' | 'sending' | 'done' | 'failed' | 'aborted';

const STATE_OF_FOLDER: Record<TaskFolder, TaskState> = {
  collecting: 'collecting', compiled: 'compiled', validated: 'validated', packed: 'packed',
  processing: 'processing', downloaded: 'downloaded', unpacking_sending: 'unpacking_sending', unpacked: 'unpacked',
  awaiting_qc: 'awaiting_qc', sending: 'sending', sent: 'done', failed: 'failed', aborted: 'aborted',
};

export function stateOfFolder(folder: TaskFolder): TaskState {
  return STATE_OF_FOLDER[folder];
}

/** Finished tasks: cleanup may remove them; nothing works on them any more. */
export const FINISHED_FOLDERS: readonly TaskFolder[] = ['sent', 'failed', 'aborted'];

/** Prefix of every temporary entry; such entries are never read and are rolled back at start-up. */
export const TMP_PREFIX = '.tmp-';

export const TASK_FILE = 'task.json';
export const REASON_FILE = 'reason.json';
export const INSTANCES_DIR = 'instances';

/** The only code that builds spool paths. */
export class SpoolLayout {
  constructor(readonly root: string) {}

  folder(name: TaskFolder | (typeof OTHER_FOLDERS)[number]): string {
    return path.join(this.root, name);
  }

  taskDir(folder: TaskFolder, taskId: string): string {
    return path.join(this.root, folder, taskId);
  }

  lockTarget(): string {
    return this.root;
  }
}

const TASK_ID_PATTERN = /^\d{8}-\d{6}-[0-9a-f]{6}$/;

export function isTaskId(name: string): boolean {
  return TASK_ID_PATTERN.test(name);
}
