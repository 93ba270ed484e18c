import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import type { InstanceHeader } from '../dicom/instance-header.js';
import type { TaskRecord } from '../spool/task-record.js';
import { emptyDb, type DbData, type TaskRow } from './schema.js';

/**
 * The one writer of the database. lowdb rewrites the whole file on every write, so changes are
 * batched: callers change `data` and call markDirty(); a timer writes at most once per
 * `flushIntervalMs`. (JSONFilePreset is not used: it keeps data in memory when NODE_ENV=test.)
 */
export class Store {
  private readonly low: Low<DbData>;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private dirty = false;

  private constructor(readonly file: string, private readonly flushIntervalMs: number) {
    this.low = new Low<DbData>(new JSONFile<DbData>(file), emptyDb());
  }

  static async open(file: string, flushIntervalMs = 1000): Promise<Store> {
    await mkdir(path.dirname(file), { recursive: true });
    const store = new Store(file, flushIntervalMs);
    try {
      await store.low.read();
    } catch (err) {
      throw new Error(`database ${file} is unreadable (${(err as Error).message}); move it aside and restart: `
        + 'the task folders are the truth and the database is rebuilt from them');
    }
    store.low.data = { ...emptyDb(), ...store.low.data };
    return store;
  }

  get data(): DbData {
    return this.low.data;
  }

  markDirty(): void {
    this.dirty = true;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.flushIntervalMs);
    this.timer.unref();
  }

  /** Write now if anything changed (shutdown, operator commands). */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.flushing = this.flushing.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      await this.low.write();
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    await this.flush();
  }

  /** Record an arriving instance: patient, study and series rows, counters. No per-instance row. */
  recordInstance(h: InstanceHeader, ignored: boolean, now = new Date().toISOString()): void {
    const d = this.low.data;
    const patientId = h.patientId ?? '';
    const p = d.patients[patientId];
    if (p) p.last_seen = now;
    else d.patients[patientId] = {
      patient_id: patientId, name: h.patientName ?? '', birth_date: h.patientBirthDate, sex: h.patientSex,
      first_seen: now, last_seen: now,
    };
    d.studies[h.studyInstanceUid] ??= {
      study_instance_uid: h.studyInstanceUid, patient_id: patientId, study_date: h.studyDate,
      description: h.studyDescription, accession_number: h.accessionNumber, first_seen: now,
    };
    const s = d.series[h.seriesInstanceUid];
    if (s) {
      s.instances_received += 1;
      s.last_seen = now;
    } else {
      d.series[h.seriesInstanceUid] = {
        series_instance_uid: h.seriesInstanceUid, study_instance_uid: h.studyInstanceUid, modality: h.modality,
        series_number: h.seriesNumber, description: h.seriesDescription, instances_received: 1, ignored,
        first_seen: now, last_seen: now,
      };
    }
    this.count(ignored ? 'instances_ignored' : 'instances_received');
  }

  count(name: string, by = 1): void {
    this.low.data.counters[name] = (this.low.data.counters[name] ?? 0) + by;
    this.markDirty();
  }

  /** Mirror a task record (after every move): the folders stay the truth. */
  recordTask(r: TaskRecord): void {
    this.low.data.tasks[r.id] = taskRowOf(r);
    this.markDirty();
  }

  /** Folders win: rows of tasks no longer on disk are dropped, every task on disk is mirrored. */
  reconcileTasks(onDisk: TaskRecord[]): { added: number; updated: number; dropped: number } {
    const d = this.low.data;
    const seen = new Set<string>();
    let added = 0;
    let updated = 0;
    for (const r of onDisk) {
      seen.add(r.id);
      const row = d.tasks[r.id];
      if (!row) added++;
      else if (row.state !== r.state || row.updated_at !== r.updated_at) updated++;
      d.tasks[r.id] = taskRowOf(r);
    }
    let dropped = 0;
    for (const id of Object.keys(d.tasks)) {
      if (!seen.has(id)) {
        delete d.tasks[id];
        dropped++;
      }
    }
    if (added || updated || dropped) this.markDirty();
    return { added, updated, dropped };
  }
}

function taskRowOf(r: TaskRecord): TaskRow {
  return {
    id: r.id, state: r.state, sender: r.sender, series_instance_uid: r.series_instance_uid,
    study_instance_uid: r.study_instance_uid, images: r.images, reason: r.reason, outputs: r.outputs,
    created_at: r.created_at, updated_at: r.updated_at, history: r.history,
  };
}
