/**
 * Sender (sending → sent): C-STOREs every output series of a task to every destination, and back
 * to the AE that sent the original when a destination is `mirror: true`.
 *
 * One association per series and destination. Every accepted SOPInstanceUID is appended to the
 * journal `<task>/delivery.log` (and fdatasynced) as soon as its Success arrives, before the next
 * instance is sent, so a retry — even after the appliance was killed mid-association — sends a
 * destination only what it has not yet accepted, and a destination that is down never costs the
 * others a resend. (The one window left: a kill between a Success and its journal line, at most one
 * instance per association, which the destination then receives twice with the same
 * SOPInstanceUID.) The task is done only when every destination accepted every instance of every
 * series.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import type { DestinationConfig } from '../config/schema.js';
import type { Store } from '../db/store.js';
import { sendFiles } from '../dicom/scu.js';
import { effectiveDestinations } from '../app/effective-settings.js';
import type { Spool } from '../spool/spool.js';
import { PermanentError, type Stage, type StageJob, type StageOutcome } from '../runner/stage.js';
import { OUTPUTS_DIR, readSeriesManifest, type OutputSeriesFact, type SeriesManifest } from './unpacker.js';
import { metrics } from '../app/metrics.js';

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

interface OutputSeries { manifest: SeriesManifest; dir: string }

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
  const destinations = effectiveDestinations(opts.config, opts.store.data);
  if (destinations.length === 0) throw new PermanentError('no destination is configured (config destinations or "petspool" settings)');
  const { targets, mirrorSkipped } = deliveryTargets(destinations, job.record.sender);

  const progress = new DeliveryProgress(job, opts.spool, await readDelivery(job.dir), series, mirrorSkipped);
  let problems: string[];
  try {
    problems = (await Promise.all(targets.map((t) => deliverTo(t, series, progress, opts, job)))).flat();
  } finally {
    await progress.close();
  }
  if (problems.length > 0) return { kind: 'retry', reason: problems.join('; ') };
  return {
    kind: 'done',
    detail: `${series.length} series delivered to ${targets.map((t) => t.key).join(', ')}`,
    facts: { delivery: progress.summary(), delivered_at: new Date().toISOString(), ...(mirrorSkipped ? { mirror_skipped: mirrorSkipped } : {}) },
    patch: { outputs: series.map((s) => s.manifest.series_instance_uid) },
  };
}

/** Send every series this target has not fully accepted; returns what went wrong (empty: all accepted). */
async function deliverTo(target: DeliveryTarget, series: OutputSeries[], progress: DeliveryProgress,
  opts: SenderOptions, job: StageJob): Promise<string[]> {
  const problems: string[] = [];
  for (const { manifest, dir } of series) {
    const accepted = progress.accepted(target.key, manifest.series_instance_uid);
    const pending = manifest.instances.filter((i) => !accepted.has(i.sop_instance_uid));
    if (pending.length === 0) continue;
    let result;
    try {
      result = await sendFiles({
        host: target.host, port: target.port, calledAeTitle: target.calledAeTitle, callingAeTitle: opts.config.ae_title,
        timeoutMs: opts.timeoutMs, files: pending.map((i) => path.join(dir, i.file)), logger: job.log,
        onAccepted: (sop) => progress.accept(target.key, manifest.series_instance_uid, sop),
      });
    } catch (err) {
      // Down, refused the association, or broke it: the next series would fare no better.
      metrics.add('cstore_failures_total', pending.length, { role: 'scu', destination: target.key });
      problems.push(`${target.key} (${target.calledAeTitle}@${target.host}:${target.port}): ${(err as Error).message}`);
      break;
    } finally {
      await progress.saveSummary();
    }
    if (result.failed.length > 0) {
      metrics.add('cstore_failures_total', result.failed.length, { role: 'scu', destination: target.key });
      const first = result.failed[0]!;
      problems.push(`${target.key}: ${result.failed.length} of ${pending.length} images of ${manifest.filter} not accepted `
        + `(${path.basename(first.file)}: ${first.message})`);
    }
  }
  return problems;
}

/** The journal read back; a torn last line (the appliance killed mid-write) is ignored. */
async function readDelivery(taskDir: string): Promise<DeliveryState> {
  let text: string;
  try {
    text = await readFile(path.join(taskDir, DELIVERY_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new PermanentError(`${DELIVERY_FILE} is unreadable: ${(err as Error).message}`);
  }
  const state: DeliveryState = {};
  for (const line of text.split('\n').slice(0, -1)) {
    const [target, series, sop] = line.split('\t');
    if (!target || !series || !sop) continue;
    ((state[target] ??= {})[series] ??= new Set()).add(sop);
  }
  return state;
}

/**
 * The accepted instances per target and series: the journal on disk, and a count summary in
 * task.json's facts after every association. Journal writes are chained: targets send in parallel.
 */
class DeliveryProgress {
  private writing: Promise<unknown> = Promise.resolve();
  private journal: Promise<FileHandle> | undefined;

  constructor(private readonly job: StageJob, private readonly spool: Spool, private readonly state: DeliveryState,
    private readonly series: OutputSeries[], private readonly mirrorSkipped: string | undefined) {}

  accepted(target: string, seriesUid: string): Set<string> {
    return new Set(this.state[target]?.[seriesUid] ?? []);
  }

  /** Journal one accepted instance durably; resolves once it is on disk. */
  async accept(target: string, seriesUid: string, sop: string): Promise<void> {
    ((this.state[target] ??= {})[seriesUid] ??= new Set()).add(sop);
    this.journal ??= open(path.join(this.job.dir, DELIVERY_FILE), 'a');
    const journal = this.journal;
    this.writing = this.writing.then(async () => {
      const fh = await journal;
      await fh.write(`${target}\t${seriesUid}\t${sop}\n`);
      await fh.datasync();
    });
    await this.writing;
  }

  saveSummary(): Promise<unknown> {
    const summary = this.summary();
    this.writing = this.writing.then(() => this.spool.updateTask(this.job.id, 'sending', (r) => ({
      ...r, facts: { ...r.facts, delivery: summary, ...(this.mirrorSkipped ? { mirror_skipped: this.mirrorSkipped } : {}) },
    })));
    return this.writing;
  }

  async close(): Promise<void> {
    await this.writing.catch(() => undefined);
    if (this.journal) await (await this.journal).close();
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
