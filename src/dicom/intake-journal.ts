/**
 * The Store SCP's write-ahead journal. An instance is appended to a segment file and made durable
 * by one fdatasync, shared with every instance appended meanwhile (group commit); then Success
 * may be answered. Once the stream pauses (or enough segments filled up), a checkpoint on a
 * thread of its own writes the instances under their final names in received/, makes them all
 * durable at once (syncfs) and retires the segments (journal-checkpoint.ts); only then is an
 * instance handed on. Per instance that is one flush, into a file already allocated, against the
 * three flushes of a durable file of its own (fdatasync of a new file, rename, folder fsync), and
 * during a burst the disk takes the journal's writes alone: docs/benchmarks.md has the figures.
 *
 * When the SCP starts, the instances of segments not retired (a crash or a power cut came first)
 * are written under their final names the same way, before anything reads received/. Any disk
 * error stops the journal: every later append fails with the error, and what was answered
 * Success stays in the segments, restored at the next start.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../log/logger.js';
import { writeAllSync } from '../spool/durable.js';
import type { CheckpointJob, CheckpointReply } from './journal-checkpoint-worker.js';
import { checkpointSegments, FILING_DIR } from './journal-checkpoint.js';
import { encodeRecordHead, LAP_BYTES, recordBytes } from './journal-record.js';
import { ThreadPool } from './thread-pool.js';

const fdatasync = promisify(fs.fdatasync);

/** A segment holds about 120 PET slices of 256×256; larger instances are written on their own (InstanceStore). */
export const SEGMENT_BYTES = 16 * 1024 * 1024;
/**
 * A checkpoint starts once no instance has arrived for this long after the last Success: during a
 * burst the disk takes only the journal's flushes, and the files' own writeback follows the burst.
 * Counted from the commit, not from the append: a slow flush holds the sender back, and is no pause.
 */
const IDLE_BEFORE_CHECKPOINT_MS = 50;
/** ... or once this many segments are sealed (a long stream): hand-ons wait for at most that much. */
const SEALED_BEFORE_CHECKPOINT = 8;
/** Appends wait while this many segments wait for their checkpoint: the journal's disk space is bounded. */
const MAX_SEALED_SEGMENTS = 16;
const SEGMENT_NAME = /^segment-(\d+)$/;

interface Deferred { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void }

interface Segment {
  file: string;
  fd: number;
  /** This lap's id, in every record written in it (journal-record.ts). */
  lap: Buffer;
  offset: number;
  /** Appended this lap: each commit, and each checkpoint (the hand-on may follow). */
  entries: { committed: Deferred; checkpointed: Deferred }[];
}

export class IntakeJournal {
  private active: Segment | undefined;
  private readonly sealed: Segment[] = [];
  private readonly free: Segment[] = [];
  private segmentCount = 0;
  private unsynced: { fd: number; committed: Deferred }[] = [];
  private syncing = false;
  private checkpointing: Promise<void> | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** No append since the idle timer fired: what is sealed gets checkpointed. */
  private idle = false;
  /** Appends waiting for a sealed segment's checkpoint to finish. */
  private roomWaiters: (() => void)[] = [];
  private failure: Error | undefined;
  private readonly checkpointThread = new ThreadPool<CheckpointJob, CheckpointReply>(new URL('./journal-checkpoint-worker.js', import.meta.url), 1, 'journal checkpoint');

  private constructor(private readonly receivedDir: string, private readonly dir: string, private readonly logger: Logger) {}

  /**
   * Opens the journal in `receivedDir/.journal/`, first removing what a crash left half-written
   * in `receivedDir/.tmp/` and restoring every instance its segments still hold; `restored` is
   * how many.
   */
  static async open(receivedDir: string, logger: Logger): Promise<{ journal: IntakeJournal; restored: number }> {
    const dir = path.join(receivedDir, '.journal');
    const filing = path.join(receivedDir, FILING_DIR);
    await fs.promises.rm(filing, { recursive: true, force: true });
    await fs.promises.mkdir(filing, { recursive: true });
    await fs.promises.mkdir(dir, { recursive: true });
    const journal = new IntakeJournal(receivedDir, dir, logger);
    const names = (await fs.promises.readdir(dir)).filter((name) => SEGMENT_NAME.test(name)).sort();
    const restored = checkpointSegments(receivedDir, names.map((name) => path.join(dir, name)));
    for (const name of names) {
      const file = path.join(dir, name);
      journal.segmentCount = Math.max(journal.segmentCount, Number(SEGMENT_NAME.exec(name)![1]) + 1);
      journal.free.push({ file, fd: fs.openSync(file, 'r+'), lap: Buffer.alloc(LAP_BYTES), offset: 0, entries: [] });
    }
    return { journal, restored };
  }

  /** Whether an instance (with its path) fits in one record: larger ones are written on their own (InstanceStore). */
  static fits(relativePath: string, data: Uint8Array): boolean {
    return recordBytes(relativePath, data) <= SEGMENT_BYTES;
  }

  /**
   * Journals `data` for `relativePath` (under received/). Resolves once it is on disk (Success
   * may be answered) with the promise of the checkpoint that puts the file there, durable (the
   * instance may be handed on). Rejects on any disk error.
   */
  async append(relativePath: string, data: Buffer): Promise<{ checkpointed: Promise<void> }> {
    while (this.sealed.length >= MAX_SEALED_SEGMENTS && !this.failure) await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    if (this.failure) throw this.stopped();
    const size = recordBytes(relativePath, data);
    if (size > SEGMENT_BYTES) throw new Error(`a journal record holds at most ${SEGMENT_BYTES} bytes`);
    const segment = this.active && this.active.offset + size <= SEGMENT_BYTES ? this.active : this.startLap();
    const entry = { committed: deferred(), checkpointed: deferred() };
    this.idle = false;
    clearTimeout(this.idleTimer);
    try {
      writeAllSync(segment.fd, [encodeRecordHead(segment.lap, relativePath, data), data], segment.offset);
      segment.offset += size;
      segment.entries.push(entry);
      this.unsynced.push({ fd: segment.fd, committed: entry.committed });
      if (!this.syncing) void this.syncUnsynced();
    } catch (err) {
      this.fail(err as Error);
      throw this.stopped();
    }
    await entry.committed.promise;
    return { checkpointed: entry.checkpointed.promise };
  }

  /** Checkpoints what was appended, then closes the segments. */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    this.onIdle();
    while (this.checkpointing) await this.checkpointing;
    await this.checkpointThread.close();
    for (const segment of [this.active, ...this.sealed, ...this.free]) if (segment) fs.closeSync(segment.fd);
    this.active = undefined;
    this.sealed.length = 0;
    this.free.length = 0;
  }

  /** The next segment, free or new, with a new lap id; the full one is sealed. */
  private startLap(): Segment {
    if (this.active) {
      this.sealed.push(this.active);
      if (this.sealed.length >= SEALED_BEFORE_CHECKPOINT) this.checkpointSoon();
    }
    const segment = this.free.pop() ?? this.createSegment();
    segment.lap = randomBytes(LAP_BYTES);
    segment.offset = 0;
    segment.entries = [];
    this.active = segment;
    return segment;
  }

  private onIdle(): void {
    this.idle = true;
    if (this.active && this.active.entries.length > 0) {
      this.sealed.push(this.active);
      this.active = undefined;
    }
    if (this.sealed.length > 0) this.checkpointSoon();
  }

  private createSegment(): Segment {
    const file = path.join(this.dir, `segment-${String(this.segmentCount++).padStart(4, '0')}`);
    const fd = fs.openSync(file, 'wx+');
    return { file, fd, lap: Buffer.alloc(LAP_BYTES), offset: 0, entries: [] };
  }

  /** Starts a checkpoint unless one runs; when it ends, the next starts if the stream went idle or sealed more meanwhile. */
  private checkpointSoon(): void {
    if (this.failure) return;
    this.checkpointing ??= this.checkpointSealed().finally(() => {
      this.checkpointing = undefined;
      if (this.sealed.length > 0 && !this.failure && (this.idle || this.sealed.length >= SEALED_BEFORE_CHECKPOINT)) this.checkpointSoon();
    });
  }

  /** One fdatasync at a time, each covering every record appended before it started. */
  private async syncUnsynced(): Promise<void> {
    this.syncing = true;
    while (this.unsynced.length > 0) {
      const group = this.unsynced;
      this.unsynced = [];
      try {
        await Promise.all([...new Set(group.map(({ fd }) => fd))].map((fd) => fdatasync(fd)));
        for (const { committed } of group) committed.resolve();
      } catch (err) {
        this.fail(err as Error);
        for (const { committed } of group) committed.reject(this.stopped());
      }
    }
    this.syncing = false;
    this.idleTimer = setTimeout(() => this.onIdle(), IDLE_BEFORE_CHECKPOINT_MS);
  }

  /** The sealed segments checkpointed on the checkpoint thread, then their instances released to be handed on. */
  private async checkpointSealed(): Promise<void> {
    const batch = [...this.sealed];
    try {
      await Promise.all(batch.flatMap((segment) => segment.entries.map(({ committed }) => committed.promise)));
      const started = performance.now();
      const { filed } = await this.checkpointThread.run({ receivedDir: this.receivedDir, segments: batch.map(({ file }) => file) });
      this.logger.debug(`intake journal checkpoint: ${filed} instances in received/ and durable in ${Math.round(performance.now() - started)} ms`);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    this.sealed.splice(0, batch.length);
    for (const segment of batch) {
      for (const { checkpointed } of segment.entries) checkpointed.resolve();
      segment.entries = [];
      this.free.push(segment);
    }
    for (const wake of this.roomWaiters.splice(0)) wake();
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.logger.error(this.stopped().message);
    for (const segment of [this.active, ...this.sealed]) for (const { checkpointed } of segment?.entries ?? []) checkpointed.reject(this.stopped());
    for (const wake of this.roomWaiters.splice(0)) wake();
  }

  private stopped(): Error {
    return new Error(`the intake journal stopped after a disk error (${this.failure!.message}): check the disk (petspool doctor) and restart petspool; instances answered Success are restored from ${this.dir} when it starts`);
  }
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((ok, fail) => { resolve = ok; reject = fail; });
  // Marked handled here: whoever awaits it still sees the rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
