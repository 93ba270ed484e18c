import type { Spool } from '../spool/spool.js';
import type { Store } from '../db/store.js';
import type { Runner } from './runner.js';
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../log/logger.js';

/**
 * What stages and services are built from. Declared here, below the stages, the API and the
 * wiring in app/ that all use it, so that none of them imports app/ for it.
 */

/** A long-running part of the appliance (SCP, API, hot-folder watcher, embedded service). */
export interface Service {
  name: string;
  stop(): Promise<void>;
}

export interface ApplianceParts {
  config: LoadedConfig;
  log: Logger;
  spool: Spool;
  store: Store;
  runner: Runner;
}
