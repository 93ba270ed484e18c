import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { InstanceHeader } from '../dicom/instance-header.js';
import { readInstanceHeader } from '../dicom/read-header.js';
import { arrivedAt } from '../spool/arrival-name.js';
import { INSTANCES_DIR } from '../spool/layout.js';
import type { Spool } from '../spool/spool.js';
import { assignInstance, taskKey } from '../rules/series-grouping.js';
import { newTaskId, type TaskRecord } from '../spool/task-record.js';
import type { Logger } from '../log/logger.js';

/** A task in collecting/ as the receiver and compilator see it in memory. */
export interface OpenTask {
  id: string;
  key: string;
  sender: string;
  seriesInstanceUid: string;
  sopInstanceUids: Set<string>;
  headers: InstanceHeader[];
  /** Where each placed instance is, by SOPInstanceUID (to compare a duplicate with it). */
  files: Map<string, string>;
  /** ms epoch of the last instance placed in the task. */
  lastArrival: number;
  /** Instances assigned to the task whose file is not yet in its folder. */
  pending: number;
  /** Closed tasks take no more instances (the compilator has moved, or is moving, them on). */
  closed: boolean;
  /** Resolves when the task folder exists (a new task is created asynchronously). */
  ready: Promise<void>;
}

/**
 * The collecting tasks, shared by the receiver (which adds instances) and the compilator (which
 * closes tasks). Assigning an instance and closing a task are synchronous, so an instance is
 * either in a task the compilator sees complete, or goes to a new task: never into a task that is
 * being moved. Rebuilt from collecting/ at start-up.
 */
export class CollectingIndex {
  private readonly byKey = new Map<string, OpenTask>();
  private readonly byId = new Map<string, OpenTask>();

  /** Which task takes this instance; a new task when none is open or the instance is a re-send. */
  assign(header: InstanceHeader, sender: string, createFolder: (task: OpenTask) => Promise<void>): { task: OpenTask; created: boolean } {
    const key = taskKey(header.seriesInstanceUid, sender);
    const open = this.byKey.get(key);
    const usable = open && !open.closed ? open : undefined;
    if (usable && assignInstance(usable, header.sopInstanceUid) === 'append') {
      usable.sopInstanceUids.add(header.sopInstanceUid);
      usable.pending++;
      return { task: usable, created: false };
    }
    const task: OpenTask = {
      id: newTaskId(), key, sender, seriesInstanceUid: header.seriesInstanceUid,
      sopInstanceUids: new Set([header.sopInstanceUid]), headers: [], files: new Map(), lastArrival: Date.now(), pending: 1,
      closed: false, ready: Promise.resolve(),
    };
    task.ready = createFolder(task);
    this.byKey.set(key, task);
    this.byId.set(task.id, task);
    return { task, created: true };
  }

  /** The open task that would take an instance of this series from this sender, if any. */
  openTask(seriesInstanceUid: string, sender: string): OpenTask | undefined {
    const task = this.byKey.get(taskKey(seriesInstanceUid, sender));
    return task && !task.closed ? task : undefined;
  }

  /**
   * The instance's file is in the task folder now. The quiet time counts from its arrival, which
   * its name records (the Store SCP hands instances on a moment after they arrived).
   */
  placed(task: OpenTask, header: InstanceHeader, file: string): void {
    const arrival = arrivedAt(path.basename(file)) ?? Date.now();
    task.lastArrival = task.headers.length === 0 ? arrival : Math.max(task.lastArrival, arrival);
    task.pending--;
    task.headers.push(header);
    task.files.set(header.sopInstanceUid, file);
  }

  /** Placing the instance failed: forget it so a later copy can go in. */
  unassign(task: OpenTask, sopInstanceUid: string): void {
    task.pending--;
    task.sopInstanceUids.delete(sopInstanceUid);
  }

  get(id: string): OpenTask | undefined {
    return this.byId.get(id);
  }

  /** No more instances for this task; call synchronously with the decision to move it on. */
  close(task: OpenTask): void {
    task.closed = true;
    if (this.byKey.get(task.key) === task) this.byKey.delete(task.key);
  }

  /** The task left collecting/ (moved on, aborted by an operator). */
  forget(id: string): void {
    const task = this.byId.get(id);
    if (!task) return;
    this.close(task);
    this.byId.delete(id);
  }

  /**
   * Load a task of collecting/ from its folder: after a restart, or when a task the index had
   * let go of is still there (its move failed). The newer of two open tasks for one series and
   * sender (a re-send) takes new instances.
   */
  async adopt(record: TaskRecord, dir: string, log: Logger): Promise<OpenTask> {
    const task: OpenTask = {
      id: record.id, key: taskKey(record.series_instance_uid, record.sender), sender: record.sender,
      seriesInstanceUid: record.series_instance_uid, sopInstanceUids: new Set(), headers: [], files: new Map(),
      lastArrival: Date.parse(record.created_at), pending: 0, closed: false, ready: Promise.resolve(),
    };
    const instancesDir = path.join(dir, INSTANCES_DIR);
    for (const name of await readdir(instancesDir).catch(() => [] as string[])) {
      if (!name.endsWith('.dcm')) continue;
      const file = path.join(instancesDir, name);
      try {
        const header = readInstanceHeader(file);
        task.headers.push(header);
        task.sopInstanceUids.add(header.sopInstanceUid);
        task.files.set(header.sopInstanceUid, file);
        task.lastArrival = Math.max(task.lastArrival, arrivedAt(name) ?? (await stat(file)).mtimeMs);
      } catch (err) {
        log.error(`unreadable instance ${name} in collecting task: ${(err as Error).message}`, { task: record.id });
      }
    }
    this.byId.set(task.id, task);
    const other = this.byKey.get(task.key);
    if (!other || other.id < task.id) this.byKey.set(task.key, task);
    return task;
  }

  /** Rebuild from collecting/ after a restart. */
  static async rebuild(spool: Spool, log: Logger): Promise<CollectingIndex> {
    const index = new CollectingIndex();
    for (const { record, dir } of await spool.listTasks(['collecting'])) await index.adopt(record, dir, log);
    return index;
  }
}
