import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { InstanceHeader } from '../dicom/instance-header.js';
import { isDicomDir, readInstanceHeader } from '../dicom/read-header.js';
import { pixelDataProblem } from '../dicom/pixel-data-check.js';
import { PET_IMAGE_STORAGE, PET_SOP_CLASSES } from '../dicom/sop-classes.js';
import type { Spool } from '../spool/spool.js';
import type { Store } from '../db/store.js';
import type { Logger } from '../log/logger.js';
import { ARRIVAL_NAME, arrivalStamp, safeName } from '../spool/arrival-name.js';
import { INSTANCES_DIR } from '../spool/layout.js';
import { newTaskRecord } from '../spool/task-record.js';
import { CollectingIndex, type OpenTask } from './collecting-index.js';
import { quarantineFile } from './quarantine.js';
import { checkCompleteness } from '../rules/completeness.js';
import type { Config } from '../config/schema.js';

type CompletenessRules = Config['compilator'];

export type ReceiveOutcome =
  | { kind: 'collected'; taskId: string; newTask: boolean }
  | { kind: 'ignored'; why: string }
  | { kind: 'quarantined'; taskId: string; reason: string }
  | { kind: 'skipped'; why: string }
  /** A retransmission of an instance the task already holds (same bytes): acknowledged, not kept twice. */
  | { kind: 'duplicate'; taskId: string }
  /** A zip archive whose entries were all handed over (zip-intake.ts); `skipped` are its non-DICOM entries. */
  | { kind: 'unpacked'; files: number; skipped: string[] };

/** What the mandatory-attribute check looks at, with the names an operator knows. */
const MANDATORY: [keyof InstanceHeader, string][] = [
  ['sopClassUid', 'SOPClassUID'], ['sopInstanceUid', 'SOPInstanceUID'], ['studyInstanceUid', 'StudyInstanceUID'],
  ['seriesInstanceUid', 'SeriesInstanceUID'], ['modality', 'Modality'], ['imagePositionPatient', 'ImagePositionPatient'],
  ['imageOrientationPatient', 'ImageOrientationPatient'], ['pixelSpacing', 'PixelSpacing'], ['rows', 'Rows'],
  ['columns', 'Columns'],
];

/** One file's hand-over, reported to listeners (the upload API maps its files to tasks with it). */
export interface ReceivedFile {
  /** The path the file had when it was handed to the receiver (e.g. incoming/upload-<id>/<name>). */
  file: string;
  sender: string;
  outcome: ReceiveOutcome;
  /** Set for an entry of a zip archive: the archive's path in the hot folder and the entry's name in it. */
  origin?: ArchiveOrigin;
}

export interface ArchiveOrigin { archive: string; entry: string }


/**
 * The receiver: takes instances that arrived (Store SCP, hot folder, leftovers in received/ after
 * a restart), records them in the database, and moves each into the collecting task of its series
 * and sender. Non-PET instances go to ignored/, unusable files to failed/ with a reason. Only
 * headers are read here, never pixel data.
 */
export class Receiver {
  private counts = { collected: 0, ignored: 0, quarantined: 0 };
  private readonly listeners = new Set<(received: ReceivedFile) => void>();

  constructor(private readonly spool: Spool, private readonly store: Store, private readonly index: CollectingIndex,
    private readonly rules: CompletenessRules, private readonly log: Logger,
    /** A new task was opened (the compilator should look at it from now on, not at its next scan). */
    private readonly onNewTask: () => void = () => undefined) {}

  stats(): Readonly<Record<'collected' | 'ignored' | 'quarantined', number>> {
    return { ...this.counts };
  }

  /** Be told the outcome of every file handed over; returns the function that stops it. */
  onReceived(listener: (received: ReceivedFile) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A file from the hot folder, a zip archive (`origin`) or a leftover: read its header first. */
  async receiveFile(file: string, sender: string, origin?: ArchiveOrigin): Promise<ReceiveOutcome> {
    let header: InstanceHeader;
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
      header = readInstanceHeader(bytes);
    } catch (err) {
      return this.receiveUnreadable(file, sender, (err as Error).message, origin);
    }
    return this.reported(file, sender, await this.sort(file, header, sender, () => pixelDataProblem(bytes, header)), origin);
  }

  /** A file whose header could not be read (`why`): quarantined with that reason (a DICOMDIR is ignored). */
  async receiveUnreadable(file: string, sender: string, why: string, origin?: ArchiveOrigin): Promise<ReceiveOutcome> {
    const outcome = path.basename(file).toUpperCase() === 'DICOMDIR'
      ? await this.ignore(file, undefined, 'DICOMDIR file')
      : await this.quarantine(file, sender, why);
    return this.reported(file, sender, outcome, origin);
  }

  /**
   * An instance whose header is known and whose pixel data was checked (the Store SCP did both
   * once the instance was stored): `pixelProblem` is what that check found.
   */
  async receive(file: string, header: InstanceHeader, sender: string, pixelProblem: string | undefined): Promise<ReceiveOutcome> {
    return this.reported(file, sender, await this.sort(file, header, sender, () => pixelProblem));
  }

  /** Quarantine a file the receiver cannot take as it is (a refused zip archive), and report it. */
  async refuseFile(file: string, sender: string, reason: string): Promise<ReceiveOutcome> {
    return this.reported(file, sender, await this.quarantine(file, sender, reason));
  }

  /** Tell the listeners what became of a file this receiver did not sort itself (a zip archive). */
  reported(file: string, sender: string, outcome: ReceiveOutcome, origin?: ArchiveOrigin): ReceiveOutcome {
    for (const listener of this.listeners) listener({ file, sender, outcome, origin });
    return outcome;
  }

  /** `pixelProblem`: the pixel-data check (pixel-data-check.ts), run only for a PET image. */
  private async sort(file: string, header: InstanceHeader, sender: string, pixelProblem: () => string | undefined): Promise<ReceiveOutcome> {
    if (isDicomDir(header)) return this.ignore(file, header, 'DICOMDIR file');
    const isPet = PET_SOP_CLASSES.has(header.sopClassUid) || (header.modality === 'PT' && !header.sopClassUid);
    if (!isPet) return this.ignore(file, header, `${header.modality ?? 'unknown'} instance (SOP class ${header.sopClassUid})`);
    if (header.sopClassUid !== PET_IMAGE_STORAGE || (header.numberOfFrames ?? 1) > 1) {
      return this.quarantine(file, sender, 'multi-frame (Enhanced) PET is not supported: send the series as PET Image Storage (one slice per instance)', header);
    }
    const pixels = pixelProblem();
    if (pixels) return this.quarantine(file, sender, pixels, header);
    const missing = MANDATORY.filter(([key]) => header[key] === undefined || header[key] === '').map(([, name]) => name);
    if (missing.length) return this.quarantine(file, sender, `missing ${missing.join(', ')}`, header);
    this.store.recordInstance(header, false);
    return this.collect(file, header, sender);
  }

  private async collect(file: string, header: InstanceHeader, sender: string): Promise<ReceiveOutcome> {
    const open = this.index.openTask(header.seriesInstanceUid, sender);
    const stored = open?.files.get(header.sopInstanceUid);
    if (open && stored && await this.isRetransmission(open, stored, file)) {
      await rm(file);
      this.store.count('instances_retransmitted');
      this.log.info(`instance ${header.sopInstanceUid} received again with the same bytes: kept once`, { task: open.id, stage: 'receiver' });
      return { kind: 'duplicate', taskId: open.id };
    }
    const { task, created } = this.index.assign(header, sender, (t) => this.createTaskFolder(t, header));
    let placedName = '';
    try {
      await task.ready;
      placedName = ARRIVAL_NAME.test(path.basename(file)) ? path.basename(file) : `${arrivalStamp()}_${safeName(header.sopInstanceUid)}.dcm`;
      await rename(file, path.join(this.spool.layout.taskDir('collecting', task.id), INSTANCES_DIR, placedName));
    } catch (err) {
      this.index.unassign(task, header.sopInstanceUid);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !(await this.spool.hasTask('collecting', task.id))) {
        // The task left collecting/ meanwhile (an operator aborted it): start over with a new task.
        this.index.forget(task.id);
        return this.collect(file, header, sender);
      }
      throw err;
    }
    this.index.placed(task, header, path.join(this.spool.layout.taskDir('collecting', task.id), INSTANCES_DIR, placedName));
    this.counts.collected++;
    if (created) this.onNewTask();
    return { kind: 'collected', taskId: task.id, newTask: created };
  }

  /**
   * An instance the open task already holds is a retransmission — a sender retrying after a broken
   * association or an appliance restart — when the task is still incomplete and the bytes are the
   * same: it is acknowledged and kept once. A duplicate in a complete task is a re-sent series and
   * starts a new task (DESIGN.md: never a merged volume).
   */
  private async isRetransmission(task: OpenTask, stored: string, file: string): Promise<boolean> {
    if (checkCompleteness(task.headers, { minImages: this.rules.min_images, maxGapRatio: this.rules.max_gap_ratio }).ready) return false;
    const [a, b] = await Promise.all([readFile(stored).catch(() => undefined), readFile(file)]);
    return a !== undefined && a.equals(b);
  }

  private async createTaskFolder(task: OpenTask, first: InstanceHeader): Promise<void> {
    const record = {
      ...newTaskRecord({ id: task.id, sender: task.sender, series_instance_uid: first.seriesInstanceUid,
        study_instance_uid: first.studyInstanceUid }),
      modality: first.modality, series_description: first.seriesDescription,
    };
    await this.spool.createTask('collecting', record, (dir) => mkdir(path.join(dir, INSTANCES_DIR)).then(() => undefined),
      `first instance from ${task.sender}`);
    this.store.recordTask({ ...record, state: 'collecting' });
    this.log.info(`new task for series ${first.seriesInstanceUid} from ${task.sender}`, { task: task.id, stage: 'receiver' });
  }

  private async ignore(file: string, header: InstanceHeader | undefined, why: string): Promise<ReceiveOutcome> {
    const folder = path.join(this.spool.layout.folder('ignored'), safeName(header?.seriesInstanceUid ?? 'unknown-series'));
    await mkdir(folder, { recursive: true });
    const name = ARRIVAL_NAME.test(path.basename(file)) ? path.basename(file) : `${arrivalStamp()}_${safeName(path.basename(file))}`;
    await rename(file, path.join(folder, name));
    if (header) this.store.recordInstance(header, true);
    this.counts.ignored++;
    this.log.debug(`ignored ${why}`, { stage: 'receiver' });
    return { kind: 'ignored', why };
  }

  private async quarantine(file: string, sender: string, reason: string, header?: InstanceHeader): Promise<ReceiveOutcome> {
    const record = await quarantineFile(this.spool, file, { sender, reason, header });
    this.store.recordTask(record);
    this.store.count('instances_quarantined');
    this.counts.quarantined++;
    this.log.warn(`quarantined ${path.basename(file)}: ${reason}`, { task: record.id, stage: 'receiver' });
    return { kind: 'quarantined', taskId: record.id, reason };
  }
}
