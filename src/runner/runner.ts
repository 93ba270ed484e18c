import { EventEmitter } from 'node:events';
import type { Spool } from '../spool/spool.js';
import type { Logger } from '../log/logger.js';
import type { TaskRecord } from '../spool/task-record.js';
import { backoffDelayMs } from './backoff.js';
import { PermanentError, type Stage, type StageOutcome } from './stage.js';

export interface RunnerOptions {
  /** How often each stage's folder is rescanned when nobody nudges it (ms). */
  scanIntervalMs?: number;
}

export interface StageTransition {
  taskId: string;
  stage: string;
  outcome: StageOutcome['kind'];
  record?: TaskRecord;
  durationMs: number;
}

/**
 * Drives the stages: finds jobs in each stage's `from` folder, runs `process` with the stage's
 * concurrency, and carries out the outcome (move, retry with backoff, fail, abort). An exception
 * from a stage is a retry (or a failure for PermanentError), never a crash of the appliance.
 * Emits 'transition' after each outcome was carried out (metrics, tests, the API).
 */
export class Runner extends EventEmitter {
  private readonly inFlight = new Map<string, Set<string>>();
  private readonly notBefore = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly scanning = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private stopped = true;
  private readonly scanIntervalMs: number;

  private readonly stages: Stage[] = [];

  constructor(private readonly spool: Spool, private readonly log: Logger, opts: RunnerOptions = {}) {
    super();
    this.scanIntervalMs = opts.scanIntervalMs ?? 1000;
  }

  /** Add stages before start(). */
  register(stages: Stage[]): void {
    this.stages.push(...stages);
  }

  start(): void {
    this.stopped = false;
    for (const stage of this.stages) {
      this.inFlight.set(stage.name, new Set());
      this.schedule(stage, 0);
    }
  }

  /** Stop taking new jobs and wait for the running ones to finish their outcome. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    while (this.running.size) await Promise.allSettled([...this.running]);
  }

  /** Look at a stage's folder now (after something was put there). */
  nudge(stageName?: string): void {
    for (const stage of this.stages) if (!stageName || stage.name === stageName) this.schedule(stage, 0);
  }

  /** Forget a pending retry delay so the task is looked at on the next scan (operator retry). */
  clearDelay(taskId: string): void {
    this.notBefore.delete(taskId);
  }

  private schedule(stage: Stage, delayMs: number): void {
    if (this.stopped) return;
    const existing = this.timers.get(stage.name);
    if (existing) clearTimeout(existing);
    const timer = setTimeout(() => {
      this.timers.delete(stage.name);
      void this.scan(stage);
    }, delayMs);
    timer.unref();
    this.timers.set(stage.name, timer);
  }

  private async scan(stage: Stage): Promise<void> {
    if (this.stopped || this.scanning.has(stage.name)) return;
    this.scanning.add(stage.name);
    // The earliest moment a task skipped for now is due: a wait of 1 s must not last a scan interval more.
    let nextDueAt = Infinity;
    try {
      const busy = this.inFlight.get(stage.name)!;
      const limit = stage.concurrency ?? 1;
      const now = Date.now();
      for (const id of await this.spool.taskIds(stage.from)) {
        if (busy.size >= limit) break;
        if (busy.has(id)) continue;
        const due = this.notBefore.get(id) ?? 0;
        if (due > now) {
          nextDueAt = Math.min(nextDueAt, due);
          continue;
        }
        busy.add(id);
        const run = this.runJob(stage, id).finally(() => {
          busy.delete(id);
          this.running.delete(run);
          this.schedule(stage, 0);
        });
        this.running.add(run);
      }
    } catch (err) {
      this.log.error(`scanning ${stage.from}/ failed: ${(err as Error).message}`, { stage: stage.name });
    } finally {
      this.scanning.delete(stage.name);
      if (!this.timers.has(stage.name)) this.schedule(stage, Math.min(this.scanIntervalMs, Math.max(0, nextDueAt - Date.now())));
    }
  }

  private async runJob(stage: Stage, id: string): Promise<void> {
    const log = this.log.child({ stage: stage.name, task: id });
    const started = Date.now();
    let outcome: StageOutcome;
    let record: TaskRecord;
    try {
      const dir = this.spool.layout.taskDir(stage.from, id);
      record = (await this.spool.locateTaskIn(stage.from, id)).record;
      outcome = await stage.process({ id, dir, record, log });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !(await this.spool.hasTask(stage.from, id))) {
        return; // moved away meanwhile (operator abort); nothing to do
      }
      const message = (err as Error).message ?? String(err);
      outcome = err instanceof PermanentError ? { kind: 'fail', reason: message } : { kind: 'retry', reason: message };
    }
    try {
      const after = await this.apply(stage, id, outcome, log);
      this.emit('transition', { taskId: id, stage: stage.name, outcome: outcome.kind, record: after,
        durationMs: Date.now() - started } satisfies StageTransition);
    } catch (err) {
      // The move itself failed (disk full, permissions): the job stays where it is and is tried again.
      log.error(`could not carry out "${outcome.kind}": ${(err as Error).message}`);
      this.notBefore.set(id, Date.now() + backoffDelayMs(1, 1000, 60_000));
    }
  }

  private async apply(stage: Stage, id: string, outcome: StageOutcome, log: Logger): Promise<TaskRecord | undefined> {
    switch (outcome.kind) {
      case 'done': {
        const to = outcome.to ?? stage.to;
        const rec = await this.spool.moveTask(id, stage.from, to, outcome.detail, (r) => ({
          ...r, ...outcome.patch, attempts: 0, facts: { ...r.facts, ...outcome.facts, retrying_since: undefined },
        }));
        this.notBefore.delete(id);
        log.info(`${stage.from} -> ${to}${outcome.detail ? `: ${outcome.detail}` : ''}`);
        for (const s of this.stages) if (s.from === to) this.schedule(s, 0);
        return rec;
      }
      case 'wait': {
        this.notBefore.set(id, Date.now() + outcome.afterMs);
        this.schedule(stage, outcome.afterMs);
        if (outcome.facts) return this.spool.updateTask(id, stage.from, (r) => ({ ...r, facts: { ...r.facts, ...outcome.facts } }));
        return undefined;
      }
      case 'retry': {
        const now = Date.now();
        const rec = await this.spool.updateTask(id, stage.from, (r) => ({
          ...r, attempts: r.attempts + 1,
          facts: { ...r.facts, retrying_since: r.facts.retrying_since ?? new Date(now).toISOString(), last_error: outcome.reason },
        }));
        const since = Date.parse(String(rec.facts.retrying_since));
        const givingUp = stage.giveUpAfterMs !== undefined
          ? now - since >= stage.giveUpAfterMs
          : rec.attempts > (stage.maxAttempts ?? 8);
        if (givingUp) {
          log.error(`giving up after ${rec.attempts} attempts: ${outcome.reason}`);
          return this.spool.failTask(id, stage.from, stage.name, `gave up after ${rec.attempts} attempts: ${outcome.reason}`);
        }
        const { initialMs, maxMs } = stage.backoff ?? { initialMs: 1000, maxMs: 300_000 };
        const delay = outcome.afterMs ?? backoffDelayMs(rec.attempts, initialMs, maxMs);
        this.notBefore.set(id, now + delay);
        this.schedule(stage, delay);
        log.warn(`attempt ${rec.attempts} failed, retrying in ${Math.round(delay / 1000)} s: ${outcome.reason}`);
        return rec;
      }
      case 'fail':
        log.error(`failed: ${outcome.reason}`);
        this.notBefore.delete(id);
        return this.spool.failTask(id, stage.from, stage.name, outcome.reason, outcome.patch);
      case 'abort':
        log.warn(`aborted: ${outcome.reason}`);
        this.notBefore.delete(id);
        return this.spool.abortTask(id, stage.from, outcome.reason, outcome.patch);
    }
  }
}
