/**
 * Sender (sending → sent): C-STOREs every output series of a task to every destination, and back
 * to the AE that sent the original when a destination is `mirror: true`.
 *
 * Each series goes to each destination over its own association, or over several side by side
 * (each with a share of its instances) when the task has fewer series than ASSOCIATIONS_PER_TASK;
 * up to ASSOCIATIONS_PER_TASK associations run at once.
 * Every accepted SOPInstanceUID is written to the journal `<task>/delivery.log` as soon as its
 * Success arrives, before that association sends its next instance, so a retry — even after the
 * appliance was killed mid-association — sends a destination only what it has not yet accepted,
 * and a destination that is down never costs the others a resend. (The one window left: a kill
 * between a Success and its journal line, at most one instance per association in flight, which
 * the destination then receives twice with the same SOPInstanceUID. A power loss can also take
 * the lines written since the last fdatasync, which runs behind the writes: those instances are
 * sent again, with the same SOPInstanceUIDs.) The task is done only when every destination
 * accepted every instance of every series and the journal is on disk. Without a QC hold the
 * unpacker delivers the first series already, through deliverSeries and the same journal; this
 * stage then sends what is left.
 */
import { closeSync, fdatasync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import type { DestinationConfig } from '../config/schema.js';
import type { Store } from '../db/store.js';
import { AssociationRejectedError, sendFiles } from '../dicom/scu.js';
import { effectiveDestinations } from '../settings/effective-settings.js';
import type { Spool } from '../spool/spool.js';
import type { TaskFolder } from '../spool/layout.js';
import { PermanentError, type Stage, type StageJob, type StageOutcome } from '../runner/stage.js';
import { OUTPUTS_DIR, readSeriesManifest, type OutputSeriesFact, type SeriesManifest } from './unpacker.js';
import { metrics } from '../metrics/metrics.js';
import { writeAllSync } from '../spool/durable.js';

/** The delivery journal: one line "<target key>\t<SeriesInstanceUID>\t<SOPInstanceUID>" per accepted instance. */
export const DELIVERY_FILE = 'delivery.log';

/** Per target key, per SeriesInstanceUID, the SOPInstanceUIDs the target accepted. */
export type DeliveryState = Record<string, Record<string, Set<string>>>;

/** Where one copy of the outputs goes. */
export interface DeliveryTarget {
  /** Stable key in the delivery journal: the destination name, or "<name>/mirror" for its mirror copy. */
  key: string;
  calledAeTitle: string;
  host: string;
  port: number;
}

export interface SenderOptions {
  config: Pick<LoadedConfig, 'ae_title' | 'destinations'>;
  /** Operator edits of the destinations (read live). */
  store: Store;
  spool: Spool;
  /** Retry delays (default 5 s doubling up to 5 min). */
  backoff?: { initialMs: number; maxMs: number };
  /** Give up (task failed) this long after the first failed attempt (default one day). */
  giveUpAfterMs?: number;
  /** Per-association network timeout (default that of the SCU, 30 s). */
  timeoutMs?: number;
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * Associations one task keeps open at once, over all its series and destinations. Each waits for
 * one Success (and its journal line) per instance, so a few side by side hide that round trip;
 * four keep a small appliance busy without crowding a PACS (the stage sends two tasks at a
 * time). A destination that refuses an extra association as congested gets fewer (DeliveryLane).
 */
export const ASSOCIATIONS_PER_TASK = 4;

/**
 * The targets for a task from `sender` ("ae:<AE>" or "hotfolder"). A mirror destination also sends
 * to the original sender's AE title at the destination's host and port; a hot-folder task has no
 * sending AE, so its mirror copies are skipped and `mirrorSkipped` says so.
 */
export function deliveryTargets(destinations: readonly DestinationConfig[], sender: string): { targets: DeliveryTarget[]; mirrorSkipped?: string } {
  const targets: DeliveryTarget[] = [];
  const senderAe = sender.startsWith('ae:') ? sender.slice(3) : undefined;
  let mirrorSkipped: string | undefined;
  for (const d of destinations) {
    targets.push({ key: d.name, calledAeTitle: d.ae_title, host: d.host, port: d.port });
    if (!d.mirror) continue;
    if (senderAe) targets.push({ key: `${d.name}/mirror`, calledAeTitle: senderAe, host: d.host, port: d.port });
    else mirrorSkipped = `mirror of ${destinations.filter((x) => x.mirror).map((x) => x.name).join(', ')} skipped: the task came from the hot folder, not from a DICOM sender`;
  }
  return { targets, mirrorSkipped };
}

export function senderStage(opts: SenderOptions): Stage {
  return {
    name: 'sender',
    from: 'sending',
    to: 'sent',
    concurrency: 2,
    backoff: opts.backoff ?? { initialMs: 5000, maxMs: 300_000 },
    giveUpAfterMs: opts.giveUpAfterMs ?? DAY_MS,
    process: (job) => send(job, opts),
  };
}

/** An output series and the folder holding its files. */
export interface OutputSeries { manifest: SeriesManifest; dir: string }

async function send(job: StageJob, opts: SenderOptions): Promise<StageOutcome> {
  const outputs = job.record.facts.output_series as OutputSeriesFact[] | undefined;
  if (!Array.isArray(outputs) || outputs.length === 0) throw new PermanentError('the task has no output series (facts.output_series)');
  const series: OutputSeries[] = [];
  for (const o of outputs) {
    const dir = path.join(job.dir, OUTPUTS_DIR, o.filter);
    const manifest = await readSeriesManifest(dir).catch(() => {
      throw new PermanentError(`output series ${o.filter} is missing from ${OUTPUTS_DIR}/ (${o.series_instance_uid})`);
    });
    series.push({ manifest, dir });
  }
  const delivery = await deliverSeries(job, opts, series, 'sending');
  if (delivery.problems.length > 0) return { kind: 'retry', reason: delivery.problems.join('; ') };
  return {
    kind: 'done',
    detail: `${series.length} series delivered to ${delivery.targets.map((t) => t.key).join(', ')}`,
    facts: {
      delivery: delivery.summary, delivered_at: new Date().toISOString(),
      ...(delivery.mirrorSkipped ? { mirror_skipped: delivery.mirrorSkipped } : {}),
    },
    patch: { outputs: series.map((s) => s.manifest.series_instance_uid) },
  };
}

/**
 * Sends `series` to every target, the instances each target has not accepted yet (the journal
 * says), journalling every Success; the task folder is in `folder`, whose task.json gets the
 * delivery summary after each association. `problems` is empty when every target accepted every
 * instance. The sender stage delivers a task's series; the unpacker may deliver one early.
 */
export async function deliverSeries(job: StageJob, opts: SenderOptions, series: OutputSeries[], folder: TaskFolder): Promise<{
  problems: string[]; targets: DeliveryTarget[]; mirrorSkipped?: string; summary: Record<string, Record<string, string>>;
}> {
  const destinations = effectiveDestinations(opts.config, opts.store.data);
  if (destinations.length === 0) throw new PermanentError('no destination is configured (config destinations or "petspool" settings)');
  const { targets, mirrorSkipped } = deliveryTargets(destinations, job.record.sender);

  const delivered = await readDelivery(job.dir);
  const progress = new DeliveryProgress(job, opts.spool, folder, delivered, series, mirrorSkipped);
  let problems: string[];
  try {
    const slots = new Slots(ASSOCIATIONS_PER_TASK);
    // What each target still lacks, per series (the journal says what it accepted).
    const pending = targets.map((t) => series.map((s): Batch => {
      const accepted = progress.accepted(t.key, s.manifest.series_instance_uid);
      return { series: s, instances: s.manifest.instances.filter((i) => !accepted.has(i.sop_instance_uid)) };
    }).filter((b) => b.instances.length > 0));
    // A sender waits for each Success, so one series alone is latency-bound: split what is left
    // to send so that it fills the associations.
    const partsPerSeries = Math.ceil(ASSOCIATIONS_PER_TASK / Math.max(1, pending.flat().length));
    const lanes = targets.map((t, i) => new DeliveryLane(t, pending[i]!, partsPerSeries, progress, opts, job));
    // Start the lanes' workers round-robin: the first free slots go one per destination.
    const workers: Promise<void>[] = [];
    for (let k = 0; k < ASSOCIATIONS_PER_TASK; k++) for (const lane of lanes) if (k < lane.wantedWorkers()) workers.push(lane.work(slots));
    // Settle every worker before the journal closes, even when one of them threw.
    const failure = (await Promise.allSettled(workers)).find((w) => w.status === 'rejected');
    if (failure) throw failure.reason;
    problems = lanes.flatMap((lane) => lane.problems);
  } finally {
    await progress.close();
  }
  return { problems, targets, mirrorSkipped, summary: progress.summary() };
}

/** At most `free` holders at a time; waiters are served in the order they asked. */
class Slots {
  private readonly waiting: (() => void)[] = [];
  constructor(private free: number) {}

  /** Resolves with the function that gives the slot back. */
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    return () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

/** A share of one series' instances, sent over one association. */
interface Batch { series: OutputSeries; instances: SeriesManifest['instances'] }

/**
 * One target's share of a task: the series it has not fully accepted, in batches (a series, or a
 * part of one), sent by up to ASSOCIATIONS_PER_TASK workers, one association per batch, each
 * worker holding a slot while its association is open.
 */
class DeliveryLane {
  /** What went wrong (empty: every series accepted). */
  readonly problems: string[] = [];
  private readonly queue: Batch[] = [];
  private liveWorkers = 0;
  /** The target is down, refused us or broke an association: its other series would fare no better. */
  private unreachable = false;

  /** `pending`: what the target lacks of each series, cut here into `partsPerSeries` batches each. */
  constructor(private readonly target: DeliveryTarget, pending: Batch[], partsPerSeries: number, private readonly progress: DeliveryProgress,
    private readonly opts: SenderOptions, private readonly job: StageJob) {
    for (const { series, instances } of pending) {
      const size = Math.ceil(instances.length / partsPerSeries);
      for (let at = 0; at < instances.length; at += size) this.queue.push({ series, instances: instances.slice(at, at + size) });
    }
  }

  wantedWorkers(): number {
    return Math.min(this.queue.length, ASSOCIATIONS_PER_TASK);
  }

  async work(slots: Slots): Promise<void> {
    this.liveWorkers++;
    try {
      for (;;) {
        const release = await slots.acquire();
        try {
          const next = this.unreachable ? undefined : this.queue.shift();
          if (!next) return;
          if (await this.sendBatch(next) === 'congested') {
            // The target allows fewer associations than we opened: another worker of this lane sends
            // the batch once its own association is done, and this one bows out.
            this.queue.unshift(next);
            return;
          }
        } finally {
          release();
        }
      }
    } finally {
      this.liveWorkers--;
    }
  }

  private async sendBatch({ series, instances }: Batch): Promise<'attempted' | 'congested'> {
    const { target, opts, progress } = this;
    const { manifest, dir } = series;
    let result;
    try {
      result = await sendFiles({
        host: target.host, port: target.port, calledAeTitle: target.calledAeTitle, callingAeTitle: opts.config.ae_title,
        timeoutMs: opts.timeoutMs, files: instances.map((i) => path.join(dir, i.file)), logger: this.job.log,
        onAccepted: (sop) => progress.accept(target.key, manifest.series_instance_uid, sop),
      });
    } catch (err) {
      if (err instanceof AssociationRejectedError && err.transient && this.liveWorkers > 1) return 'congested';
      metrics.add('cstore_failures_total', instances.length, { role: 'scu', destination: target.key });
      if (!this.unreachable) this.problems.push(`${target.key} (${target.calledAeTitle}@${target.host}:${target.port}): ${(err as Error).message}`);
      this.unreachable = true;
      return 'attempted';
    } finally {
      await progress.saveSummary();
    }
    if (result.failed.length > 0) {
      metrics.add('cstore_failures_total', result.failed.length, { role: 'scu', destination: target.key });
      const first = result.failed[0]!;
      this.problems.push(`${target.key}: ${result.failed.length} of ${instances.length} images of ${manifest.filter} not accepted `
        + `(${path.basename(first.file)}: ${first.message})`);
    }
    return 'attempted';
  }
}

/** The journal read back. */
interface JournalContents {
  state: DeliveryState;
  /** The file ends in a torn line (the appliance killed mid-write); appends must start on a new line. */
  torn: boolean;
}

/** The journal read back; a torn last line is ignored. */
async function readDelivery(taskDir: string): Promise<JournalContents> {
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
class JournalAppender {
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

/**
 * The accepted instances per target and series: the journal on disk, and a count summary in
 * task.json's facts after every association (those updates chained: associations run in parallel).
 */
class DeliveryProgress {
  private summaryWrites: Promise<unknown> = Promise.resolve();
  private readonly journal: JournalAppender;
  private readonly state: DeliveryState;

  constructor(private readonly job: StageJob, private readonly spool: Spool, private readonly folder: TaskFolder, delivered: JournalContents,
    private readonly series: OutputSeries[], private readonly mirrorSkipped: string | undefined) {
    this.state = delivered.state;
    this.journal = new JournalAppender(path.join(job.dir, DELIVERY_FILE), delivered.torn);
  }

  accepted(target: string, seriesUid: string): Set<string> {
    return new Set(this.state[target]?.[seriesUid] ?? []);
  }

  /** Journal one accepted instance; returns once the line is written (see JournalAppender). */
  accept(target: string, seriesUid: string, sop: string): void {
    ((this.state[target] ??= {})[seriesUid] ??= new Set()).add(sop);
    this.journal.append(`${target}\t${seriesUid}\t${sop}\n`);
  }

  saveSummary(): Promise<unknown> {
    const summary = this.summary();
    this.summaryWrites = this.summaryWrites.catch(() => undefined).then(() => this.spool.updateTask(this.job.id, this.folder, (r) => ({
      ...r, facts: { ...r.facts, delivery: summary, ...(this.mirrorSkipped ? { mirror_skipped: this.mirrorSkipped } : {}) },
    })));
    return this.summaryWrites;
  }

  async close(): Promise<void> {
    await this.summaryWrites.catch(() => undefined);
    await this.journal.close();
  }

  /** "<target>": {"<filter>": "accepted/total"} for task.json, readable with `tasks show`. */
  summary(): Record<string, Record<string, string>> {
    const out: Record<string, Record<string, string>> = {};
    for (const [target, bySeries] of Object.entries(this.state)) {
      out[target] = {};
      for (const { manifest } of this.series) {
        out[target][manifest.filter] = `${bySeries[manifest.series_instance_uid]?.size ?? 0}/${manifest.instances.length}`;
      }
    }
    return out;
  }
}
