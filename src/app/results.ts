/**
 * The results leg of the flow: unpacker (downloaded → unpacked, or without a QC hold downloaded →
 * unpacking_sending → unpacked, sending each series once it is written), QC gate (unpacked →
 * sending or awaiting_qc) and sender (sending → sent), plus the API routes for QC and the editable
 * settings.
 */
import type { Route } from '../api/router.js';
import { qcRoutes } from '../api/routes/qc.js';
import { settingsRoutes } from '../api/routes/settings.js';
import type { Stage } from '../runner/stage.js';
import { qcGateStage } from '../stages/qc-gate.js';
import { QcOperations } from '../operations/qc-operations.js';
import { senderStage, type SenderOptions } from '../stages/sender.js';
import { unpackerStage, unpackingSendingStage } from '../stages/unpacker.js';
import type { ApplianceParts } from '../runner/appliance-parts.js';
import type { SourceHeaderPrefetch } from '../stages/source-header-prefetch.js';
import type { ResultHandoff } from '../stages/result-handoff.js';
import { effectiveQcRequired } from '../settings/effective-settings.js';

export interface ResultsOptions {
  /** Threads of the Gaussian filter (default: every core). */
  filterThreads?: number;
  /** Source headers read ahead while tasks wait for the remote service. */
  prefetch?: SourceHeaderPrefetch;
  /** Results the downloader verified, handed over in memory. */
  results?: ResultHandoff;
  sender?: Pick<SenderOptions, 'backoff' | 'giveUpAfterMs' | 'timeoutMs'>;
}

export function resultStages(parts: Pick<ApplianceParts, 'config' | 'store' | 'spool'>, opts: ResultsOptions = {}): Stage[] {
  const { config, store, spool } = parts;
  const unpacking = {
    config, store, threads: opts.filterThreads, prefetch: opts.prefetch, results: opts.results,
    // Without a quality-control hold the first series goes out while the next is made.
    earlyDelivery: {
      delivery: { config, store, spool, timeoutMs: opts.sender?.timeoutMs },
      allowed: () => !effectiveQcRequired(config, store.data).required,
    },
  };
  return [
    unpackerStage(unpacking),
    unpackingSendingStage(unpacking),
    qcGateStage({ config, store }),
    senderStage({ config, store, spool, ...opts.sender }),
  ];
}

export function resultRoutes(parts: Pick<ApplianceParts, 'config' | 'store' | 'spool' | 'runner'>): Route[] {
  const qc = new QcOperations(parts.spool, { store: parts.store, runner: parts.runner });
  return [...qcRoutes(qc), ...settingsRoutes(parts.config, parts.store)];
}
