/**
 * The delivery engine: C-STOREs output series to every destination, and back to the AE that
 * sent the original when a destination is `mirror: true` (targets.ts).
 *
 * Each series goes to each target over its own association, or over several side by side (each
 * with a share of its instances) when the task has fewer series than ASSOCIATIONS_PER_TASK; up to
 * ASSOCIATIONS_PER_TASK associations run at once (lanes.ts). Every accepted SOPInstanceUID is
 * journalled (journal.ts) before that association sends its next instance, so a retry sends a
 * target only what it has not yet accepted, and a target that is down never costs the others a
 * resend.
 */
import type { LoadedConfig } from '../config/load.js';
import type { Store } from '../db/store.js';
import { effectiveDestinations } from '../settings/effective-settings.js';
import type { Spool } from '../spool/spool.js';
import type { TaskFolder } from '../spool/layout.js';
import type { OutputSeries } from '../spool/output-series.js';
import { PermanentError, type StageJob } from '../runner/stage.js';
import { readDelivery } from './journal.js';
import { ASSOCIATIONS_PER_TASK, DeliveryLane, Slots, type Batch } from './lanes.js';
import { DeliveryProgress } from './progress.js';
import { deliveryTargets, type DeliveryTarget } from './targets.js';

export interface DeliveryOptions {
  config: Pick<LoadedConfig, 'ae_title' | 'destinations'>;
  /** Operator edits of the destinations (read live). */
  store: Store;
  spool: Spool;
  /** Per-association network timeout (default that of the SCU, 30 s). */
  timeoutMs?: number;
}

/**
 * Sends `series` to every target, the instances each target has not accepted yet (the journal
 * says), journalling every Success; the task folder is in `folder`, whose task.json gets the
 * delivery summary after each association. `problems` is empty when every target accepted every
 * instance. The sender stage delivers a task's series; the unpacker may deliver one early.
 */
export async function deliverSeries(job: StageJob, opts: DeliveryOptions, series: OutputSeries[], folder: TaskFolder): Promise<{
  problems: string[]; targets: DeliveryTarget[]; mirrorSkipped?: string; summary: Record<string, Record<string, string>>;
}> {
  const destinations = effectiveDestinations(opts.config, opts.store.data);
  if (destinations.length === 0) throw new PermanentError('no destination is configured (config destinations or "petspool" settings)');
  const { targets, mirrorSkipped } = deliveryTargets(destinations, job.record.sender);

  const delivered = await readDelivery(job.dir);
  const association = { callingAeTitle: opts.config.ae_title, timeoutMs: opts.timeoutMs };
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
    const lanes = targets.map((t, i) => new DeliveryLane(t, pending[i]!, partsPerSeries, progress, association, job));
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
