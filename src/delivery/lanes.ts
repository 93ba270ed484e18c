/**
 * How a task's associations are scheduled: each target gets a lane of batches (a series, or a
 * share of one); up to ASSOCIATIONS_PER_TASK associations run at once over all lanes.
 */
import path from 'node:path';
import { AssociationRejectedError, sendFiles } from '../dicom/scu.js';
import type { StageJob } from '../runner/stage.js';
import type { OutputSeries, SeriesManifest } from '../spool/output-series.js';
import { metrics } from '../metrics/metrics.js';
import type { DeliveryTarget } from './targets.js';
import type { DeliveryProgress } from './progress.js';

/**
 * Associations one task keeps open at once, over all its series and destinations. Each waits for
 * one Success (and its journal line) per instance, so a few side by side hide that round trip;
 * four keep a small appliance busy without crowding a PACS (the stage sends two tasks at a
 * time). A destination that refuses an extra association as congested gets fewer (DeliveryLane).
 */
export const ASSOCIATIONS_PER_TASK = 4;

/** At most `free` holders at a time; waiters are served in the order they asked. */
export class Slots {
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

/** What every association of a lane is opened with. */
export interface AssociationSettings {
  callingAeTitle: string;
  /** Per-association network timeout (default that of the SCU, 30 s). */
  timeoutMs?: number;
}

/** A share of one series' instances, sent over one association. */
export interface Batch { series: OutputSeries; instances: SeriesManifest['instances'] }

/**
 * One target's share of a task: the series it has not fully accepted, in batches (a series, or a
 * part of one), sent by up to ASSOCIATIONS_PER_TASK workers, one association per batch, each
 * worker holding a slot while its association is open.
 */
export class DeliveryLane {
  /** What went wrong (empty: every series accepted). */
  readonly problems: string[] = [];
  private readonly queue: Batch[] = [];
  private liveWorkers = 0;
  /** The target is down, refused us or broke an association: its other series would fare no better. */
  private unreachable = false;

  /** `pending`: what the target lacks of each series, cut here into `partsPerSeries` batches each. */
  constructor(private readonly target: DeliveryTarget, pending: Batch[], partsPerSeries: number, private readonly progress: DeliveryProgress,
    private readonly association: AssociationSettings, private readonly job: StageJob) {
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
    const { target, association, progress } = this;
    const { manifest, dir } = series;
    let result;
    try {
      result = await sendFiles({
        host: target.host, port: target.port, tls: target.tls, calledAeTitle: target.calledAeTitle, callingAeTitle: association.callingAeTitle,
        timeoutMs: association.timeoutMs, files: instances.map((i) => path.join(dir, i.file)), logger: this.job.log,
        onAccepted: (sop) => progress.accept(target.key, manifest.series_instance_uid, sop),
      });
    } catch (err) {
      if (err instanceof AssociationRejectedError && err.transient && this.liveWorkers > 1) return 'congested';
      metrics.add('cstore_failures_total', instances.length, { role: 'scu', destination: target.key });
      if (!this.unreachable) this.problems.push(`${target.key} (${target.calledAeTitle}@${target.host}:${target.port}${target.tls ? ' over TLS' : ''}): ${(err as Error).message}`);
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
