import path from 'node:path';
import type { StageJob } from '../runner/stage.js';
import type { Spool } from '../spool/spool.js';
import type { TaskFolder } from '../spool/layout.js';
import type { OutputSeries } from '../spool/output-series.js';
import { DELIVERY_FILE, JournalAppender, type DeliveryState, type JournalContents } from './journal.js';

/**
 * The accepted instances per target and series: the journal on disk, and a count summary in
 * task.json's facts after every association (those updates chained: associations run in parallel).
 */
export class DeliveryProgress {
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
