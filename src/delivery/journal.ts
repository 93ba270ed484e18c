/**
 * The delivery journal `<task>/delivery.log`: every SOPInstanceUID a target accepted, written as
 * soon as its Success arrives, before that association sends its next instance, so a retry — even
 * after the appliance was killed mid-association — sends a target only what it has not yet
 * accepted. (The one window left: a kill between a Success and its journal line, at most one
 * instance per association in flight, which the target then receives twice with the same
 * SOPInstanceUID. A power loss can also take the lines written since the last fdatasync, which
 * runs behind the writes: those instances are sent again, with the same SOPInstanceUIDs.)
 */
import { closeSync, fdatasync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import { PermanentError } from '../runner/stage.js';
import { writeAllSync } from '../spool/durable.js';

/** The delivery journal: one line "<target key>\t<SeriesInstanceUID>\t<SOPInstanceUID>" per accepted instance. */
export const DELIVERY_FILE = 'delivery.log';

/** Per target key, per SeriesInstanceUID, the SOPInstanceUIDs the target accepted. */
export type DeliveryState = Record<string, Record<string, Set<string>>>;

/** The journal read back. */
export interface JournalContents {
  state: DeliveryState;
  /** The file ends in a torn line (the appliance killed mid-write); appends must start on a new line. */
  torn: boolean;
}

/** The journal read back; a torn last line is ignored. */
export async function readDelivery(taskDir: string): Promise<JournalContents> {
  let text: string;
  try {
    text = await readFile(path.join(taskDir, DELIVERY_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: {}, torn: false };
    throw new PermanentError(`${DELIVERY_FILE} is unreadable: ${(err as Error).message}`);
  }
  const state: DeliveryState = {};
  for (const line of text.split('\n').slice(0, -1)) {
    const [target, series, sop] = line.split('\t');
    if (!target || !series || !sop) continue;
    ((state[target] ??= {})[series] ??= new Set()).add(sop);
  }
  return { state, torn: text.length > 0 && !text.endsWith('\n') };
}

const fdatasyncAsync = promisify(fdatasync);

/**
 * Appends lines to the journal. A line is written into the kernel (a killed process cannot lose
 * it) before its caller goes on, with a blocking write: a few microseconds for a short line, where
 * handing it to the I/O threads cost tens of microseconds of this thread on a busy machine.
 * fdatasync runs behind the writes on the I/O threads, one at a time, covering every line written
 * before it started, and close() waits for the last one: the task moves on only with its journal
 * on disk. Waiting for an fdatasync after every Success cost about 0.35 ms per instance, most of a
 * C-STORE round trip.
 */
export class JournalAppender {
  private fd: number | undefined;
  private syncing: Promise<void> | undefined;
  private unsynced = false;
  private syncFailure: Error | undefined;

  /** `startOnNewLine`: the file ends in a torn line, which the first append must not continue. */
  constructor(private readonly file: string, private startOnNewLine: boolean) {}

  /** Writes the line (it is on disk after the fdatasync that follows); throws when it cannot. */
  append(line: string): void {
    this.fd ??= openSync(this.file, 'a');
    writeAllSync(this.fd, [Buffer.from((this.startOnNewLine ? '\n' : '') + line)]);
    this.startOnNewLine = false;
    this.unsynced = true;
    this.syncing ??= this.sync(this.fd);
  }

  /** Every line written and fdatasynced; throws when an fdatasync failed. */
  async close(): Promise<void> {
    await this.syncing;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    if (this.syncFailure) throw this.syncFailure;
  }

  private async sync(fd: number): Promise<void> {
    while (this.unsynced) {
      this.unsynced = false;
      await fdatasyncAsync(fd).catch((err: Error) => { this.syncFailure ??= err; });
    }
    this.syncing = undefined;
  }
}

