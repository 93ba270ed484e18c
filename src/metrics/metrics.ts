/**
 * Prometheus metrics of the appliance (GET /metrics, text format 0.0.4).
 *
 * Most figures are read when scraped, from where they already live: instance counters in the
 * database, task counts and ages in the spool folders, SCP statistics from the Store SCP. What
 * exists only as events is accumulated here, in the process-wide `metrics` registry:
 *   - stage durations and outcomes, from the runner's 'transition' events (watchRunner);
 *   - counters other parts bump: `metrics.add('bytes_uploaded_total', n)`,
 *     `metrics.add('bytes_downloaded_total', n)`,
 *     `metrics.add('cstore_failures_total', n, { role: 'scu', destination: 'pacs' })`.
 * These start at 0 with the process, as Prometheus counters may (rate() handles resets).
 */
import { readdir, lstat } from 'node:fs/promises';
import path from 'node:path';
import type { Runner, StageTransition } from '../runner/runner.js';
import type { Spool } from '../spool/spool.js';
import type { Store } from '../db/store.js';
import type { StoreScpStats } from '../dicom/scp.js';
import { FINISHED_FOLDERS, TASK_FOLDERS, stateOfFolder } from '../spool/layout.js';

/** Counters parts of the appliance bump; exported as petspool_<name>. */
export type CounterName = 'bytes_uploaded_total' | 'bytes_downloaded_total' | 'cstore_failures_total';

export type Labels = Record<string, string>;

/** Upper bounds (seconds) of the stage duration histogram: from a header read to a long upload. */
export const STAGE_DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

interface Histogram { buckets: number[]; sum: number; count: number }

export class MetricsRegistry {
  private readonly counters = new Map<string, { name: CounterName; labels: Labels; value: number }>();
  private readonly durations = new Map<string, Histogram>();
  private readonly outcomes = new Map<string, { stage: string; outcome: string; value: number }>();

  /** Add to a counter (negative or non-finite amounts are ignored: counters only go up). */
  add(name: CounterName, by = 1, labels: Labels = {}): void {
    if (!Number.isFinite(by) || by < 0) return;
    const key = `${name}${labelText(labels)}`;
    const c = this.counters.get(key) ?? { name, labels: { ...labels }, value: 0 };
    c.value += by;
    this.counters.set(key, c);
  }

  /** Record one stage job: its duration and how it ended (done, retry, fail, abort). */
  observeStage(stage: string, outcome: string, seconds: number): void {
    const h = this.durations.get(stage) ?? { buckets: STAGE_DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 };
    STAGE_DURATION_BUCKETS.forEach((upper, i) => { if (seconds <= upper) h.buckets[i]! += 1; });
    h.sum += seconds;
    h.count += 1;
    this.durations.set(stage, h);
    const key = `${stage}\u0000${outcome}`;
    const o = this.outcomes.get(key) ?? { stage, outcome, value: 0 };
    o.value += 1;
    this.outcomes.set(key, o);
  }

  /** Follow a runner's transitions; returns the function that stops following. */
  watchRunner(runner: Runner): () => void {
    // A 'wait' is a look that found nothing to do yet (quiet time, callback pending), not a job.
    const listener = (t: StageTransition) => {
      if (t.outcome !== 'wait') this.observeStage(t.stage, t.outcome, t.durationMs / 1000);
    };
    runner.on('transition', listener);
    return () => runner.off('transition', listener);
  }

  /** Current value of a counter with exactly these labels (0 when never bumped). */
  value(name: CounterName, labels: Labels = {}): number {
    return this.counters.get(`${name}${labelText(labels)}`)?.value ?? 0;
  }

  counterSeries(name: CounterName): { labels: Labels; value: number }[] {
    return [...this.counters.values()].filter((c) => c.name === name).map(({ labels, value }) => ({ labels, value }));
  }

  stageHistograms(): [string, Histogram][] {
    return [...this.durations.entries()].sort(([a], [b]) => a.localeCompare(b));
  }

  stageOutcomes(): { stage: string; outcome: string; value: number }[] {
    return [...this.outcomes.values()];
  }
}

/** The registry of this process (one appliance per process). */
export const metrics = new MetricsRegistry();

export interface MetricsSources {
  spool: Spool;
  store: Store;
  /** The Store SCP's statistics, when the SCP runs in this process. */
  scpStats?: () => StoreScpStats;
  registry?: MetricsRegistry;
}

/** One folder's waiting work: how many jobs (tasks or files) and how old the oldest is. */
interface Backlog { folder: string; count: number; oldestAgeSeconds: number }

/** The whole exposition, gathered now. */
export async function renderMetrics(sources: MetricsSources, now = Date.now()): Promise<string> {
  const { spool, store } = sources;
  const registry = sources.registry ?? metrics;
  const out = new Exposition();
  const counters = store.data.counters;

  out.metric('petspool_instances_received_total', 'counter', 'PET instances taken into the flow (Store SCP and hot folder)',
    [[{}, counters.instances_received ?? 0]]);
  out.metric('petspool_instances_ignored_total', 'counter', 'Non-PET instances kept out of the flow (ignored/)',
    [[{}, counters.instances_ignored ?? 0]]);
  out.metric('petspool_instances_quarantined_total', 'counter', 'Unusable files moved to failed/ by the receiver',
    [[{}, counters.instances_quarantined ?? 0]]);

  const taskCounts: [Labels, number][] = [];
  const backlogs: Backlog[] = [];
  for (const folder of TASK_FOLDERS) {
    const count = (await spool.taskIds(folder)).length;
    taskCounts.push([{ state: stateOfFolder(folder) }, count]);
    if (!FINISHED_FOLDERS.includes(folder)) {
      const age = await spool.oldestAgeMs(folder, now);
      backlogs.push({ folder, count, oldestAgeSeconds: age === null ? 0 : age / 1000 });
    }
  }
  backlogs.unshift(await fileBacklog('received', spool.layout.folder('received'), now),
    await fileBacklog('incoming', spool.layout.folder('incoming'), now));
  out.metric('petspool_tasks', 'gauge', 'Tasks per state (one spool folder per state)', taskCounts);
  out.metric('petspool_stage_backlog', 'gauge', 'Jobs waiting in each working folder (files for incoming and received, tasks otherwise)',
    backlogs.map((b) => [{ folder: b.folder }, b.count]));
  out.metric('petspool_stage_oldest_age_seconds', 'gauge', 'Age of the oldest job in each working folder (0 when empty)',
    backlogs.map((b) => [{ folder: b.folder }, Math.round(b.oldestAgeSeconds * 1000) / 1000]));

  out.histogram('petspool_stage_duration_seconds', 'Time a stage spent on one job, by stage', registry.stageHistograms());
  out.metric('petspool_stage_outcomes_total', 'counter', 'Stage jobs by how they ended (done, retry, fail, abort)',
    registry.stageOutcomes().map((o) => [{ stage: o.stage, outcome: o.outcome }, o.value]));

  out.metric('petspool_bytes_uploaded_total', 'counter', 'Bytes of upload archives written to the share',
    seriesOrZero(registry.counterSeries('bytes_uploaded_total')));
  out.metric('petspool_bytes_downloaded_total', 'counter', 'Bytes of result archives taken from the share',
    seriesOrZero(registry.counterSeries('bytes_downloaded_total')));

  const scp = sources.scpStats?.();
  const cstoreFailures: [Labels, number][] = registry.counterSeries('cstore_failures_total').map((c) => [c.labels, c.value]);
  if (scp) cstoreFailures.unshift([{ role: 'scp' }, scp.failed]);
  if (!cstoreFailures.some(([l]) => l.role === 'scu')) cstoreFailures.push([{ role: 'scu' }, 0]);
  out.metric('petspool_cstore_failures_total', 'counter',
    'C-STORE failures: role="scp" answered with a failure status by our Store SCP, role="scu" refused by a destination', cstoreFailures);
  if (scp) {
    out.metric('petspool_scp_instances_stored_total', 'counter', 'Instances the Store SCP stored and answered Success', [[{}, scp.stored]]);
    out.metric('petspool_scp_bytes_stored_total', 'counter', 'Bytes the Store SCP stored', [[{}, scp.bytesStored]]);
    out.metric('petspool_scp_associations_total', 'counter', 'Associations offered to the Store SCP, by result',
      [[{ result: 'accepted' }, scp.associationsAccepted], [{ result: 'rejected' }, scp.associationsRejected]]);
    out.metric('petspool_scp_active_associations', 'gauge', 'Associations open right now', [[{}, scp.activeAssociations]]);
  }

  out.metric('process_resident_memory_bytes', 'gauge', 'Resident memory of the appliance process', [[{}, process.memoryUsage.rss()]]);
  out.metric('process_start_time_seconds', 'gauge', 'Start time of the appliance process since the Unix epoch',
    [[{}, Math.round((Date.now() - process.uptime() * 1000) / 1000)]]);
  return out.text();
}

function seriesOrZero(series: { labels: Labels; value: number }[]): [Labels, number][] {
  return series.length ? series.map((s) => [s.labels, s.value]) : [[{}, 0]];
}

/** Files waiting under a folder (any depth; temporary and hidden entries skipped) and the oldest one's age. */
async function fileBacklog(folder: string, dir: string, now: number): Promise<Backlog> {
  let count = 0;
  let oldest = Infinity;
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = path.join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else {
        const s = await lstat(full).catch(() => undefined);
        if (!s) continue;
        count++;
        oldest = Math.min(oldest, s.mtimeMs);
      }
    }
  };
  await walk(dir);
  return { folder, count, oldestAgeSeconds: count ? Math.max(0, now - oldest) / 1000 : 0 };
}

/** Builds the text format: HELP and TYPE once per metric, then its samples. */
class Exposition {
  private readonly lines: string[] = [];

  metric(name: string, type: 'counter' | 'gauge', help: string, samples: [Labels, number][]): void {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.lines.push(`${name}${labelText(labels)} ${formatValue(value)}`);
  }

  histogram(name: string, help: string, perStage: [string, Histogram][]): void {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} histogram`);
    for (const [stage, h] of perStage) {
      STAGE_DURATION_BUCKETS.forEach((upper, i) => {
        this.lines.push(`${name}_bucket${labelText({ stage, le: String(upper) })} ${h.buckets[i]}`);
      });
      this.lines.push(`${name}_bucket${labelText({ stage, le: '+Inf' })} ${h.count}`);
      this.lines.push(`${name}_sum${labelText({ stage })} ${formatValue(h.sum)}`);
      this.lines.push(`${name}_count${labelText({ stage })} ${h.count}`);
    }
  }

  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
