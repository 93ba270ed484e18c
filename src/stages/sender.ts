/**
 * Sender (sending → sent): delivers every output series of a task to every destination through
 * the delivery engine (delivery/), which journals each accepted instance in `<task>/delivery.log`.
 * The task is done only when every destination accepted every instance of every series and the
 * journal is on disk. Without a QC hold the unpacker delivers the first series already, through
 * the same engine and journal; this stage then sends what is left.
 */
import path from 'node:path';
import { PermanentError, type Stage, type StageJob, type StageOutcome } from '../runner/stage.js';
import { OUTPUTS_DIR, readSeriesManifest, type OutputSeries, type OutputSeriesFact } from '../spool/output-series.js';
import { deliverSeries, type DeliveryOptions } from '../delivery/deliver-series.js';

export interface SenderOptions extends DeliveryOptions {
  /** Retry delays (default 5 s doubling up to 5 min). */
  backoff?: { initialMs: number; maxMs: number };
  /** Give up (task failed) this long after the first failed attempt (default one day). */
  giveUpAfterMs?: number;
}

const DAY_MS = 24 * 3600 * 1000;

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
