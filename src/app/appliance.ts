import { Spool } from '../spool/spool.js';
import { acquireSpoolLock } from '../spool/lock.js';
import { Store } from '../db/store.js';
import { Runner, type StageTransition } from '../runner/runner.js';
import type { Stage } from '../runner/stage.js';
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import type { ApplianceParts, Service } from '../runner/appliance-parts.js';

/**
 * Builds the stages and services of a running appliance from its parts. Kept apart from the
 * lifecycle below so that each issue's stages plug in without touching start-up and shutdown.
 */
export type Assembly = (parts: ApplianceParts) => Promise<{ stages: Stage[]; services: Service[] }>;

/**
 * Lifecycle of one appliance process: lock the spool, repair it, reconcile the database with the
 * folders, start the stages and services; stop them all cleanly on stop().
 */
export class Appliance {
  private releaseLock: (() => Promise<void>) | undefined;
  private services: Service[] = [];
  private stopping: Promise<void> | undefined;
  parts!: ApplianceParts;

  constructor(private readonly config: LoadedConfig, private readonly log: Logger,
    private readonly assemble: Assembly) {}

  async start(): Promise<void> {
    const spool = new Spool(this.config.spool_dir);
    await spool.init();
    this.releaseLock = await acquireSpoolLock(spool.root, (err) => {
      this.log.error(`spool lock lost (${err.message}); stopping so that two appliances never share a spool`);
      void this.stop();
    });
    const recovery = await spool.recover();
    if (recovery.removedTemporaryEntries.length) {
      this.log.warn(`rolled back ${recovery.removedTemporaryEntries.length} half-written entries left by the last run`);
    }
    for (const c of recovery.correctedStates) this.log.info(`task state ${c.was} -> ${c.now} (the folder wins)`, { task: c.id });
    for (const t of recovery.unreadableTasks) this.log.error(`task folder ${t} has no readable task.json; left untouched`);
    const store = await Store.open(this.config.database);
    const onDisk = await spool.listTasks();
    store.reconcileTasks(onDisk.map((t) => t.record));
    const runner = new Runner(spool, this.log);
    runner.on('transition', (t: StageTransition) => { if (t.record) store.recordTask(t.record); });
    this.parts = { config: this.config, log: this.log, spool, store, runner };
    const { stages, services } = await this.assemble(this.parts);
    this.services = services;
    runner.register(stages);
    runner.start();
    this.log.info(`petspool started: spool ${spool.root}, ${stages.length} stages, services: ${services.map((s) => s.name).join(', ') || 'none'}`);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.parts?.runner.stop();
      for (const s of [...this.services].reverse()) {
        await s.stop().catch((err: Error) => this.log.error(`stopping ${s.name}: ${err.message}`));
      }
      await this.parts?.store.close();
      await this.releaseLock?.().catch(() => undefined);
      this.log.info('petspool stopped');
    })();
    return this.stopping;
  }
}
