import type { Assembly } from './appliance.js';
import type { Route } from '../api/router.js';
import { startIntake } from './intake.js';
import { startApiService } from './api-service.js';
import { TaskOperations } from '../operations/task-operations.js';
import { validatorStage } from '../stages/validator.js';
import { callbackUrlFor, connectRemote } from './connect-remote.js';
import { packerStage } from '../stages/packer.js';
import { PackAhead } from '../stages/pack-ahead.js';
import { uploaderStage } from '../stages/uploader.js';
import { downloaderStage } from '../stages/downloader.js';
import { SourceHeaderPrefetch } from '../stages/source-header-prefetch.js';
import { ResultHandoff } from '../stages/result-handoff.js';
import { processReadyRoutes } from '../api/routes/process-ready.js';
import { taskRoutes } from '../api/routes/tasks.js';
import { radiopharmaceuticalRoutes } from '../api/routes/radiopharmaceuticals.js';
import { metricsRoutes } from '../api/routes/metrics.js';
import { maintenanceRoutes } from '../api/routes/maintenance.js';
import { UploadSessions } from '../uploads/upload-sessions.js';
import { zipLimits } from '../stages/zip-intake.js';
import { uploadRoutes } from '../api/routes/uploads.js';
import { previewRoutes } from '../api/routes/previews.js';
import { dashboardRoutes } from '../api/routes/dashboard.js';
import { metrics } from '../metrics/metrics.js';
import { resultRoutes, resultStages } from './results.js';
import { warmUpImaging } from '../series/warm-up.js';
import type { LoadedConfig } from '../config/load.js';

/**
 * The stages and services of `petspool start`, in flow order. Each part returns its stages,
 * services and API routes; the API server starts last, with every route.
 */
export const assembleAppliance: Assembly = async (parts) => {
  const packAhead = new PackAhead(parts.log);
  const intake = await startIntake(parts, packAhead);
  metrics.watchRunner(parts.runner);
  const remote = await connectRemote(parts);
  const uploads = new UploadSessions(parts.spool, intake.receiver, parts.log, zipLimits(parts.config.zip_intake));
  await uploads.start();
  const routes: Route[] = [
    ...taskRoutes(new TaskOperations(parts.spool, { store: parts.store, runner: parts.runner })),
    ...radiopharmaceuticalRoutes(parts.store),
    ...metricsRoutes({ spool: parts.spool, store: parts.store, scpStats: intake.scpStats }),
    ...maintenanceRoutes(parts.spool, parts.store),
    ...resultRoutes(parts),
    ...uploadRoutes(uploads, new TaskOperations(parts.spool)),
    ...previewRoutes(parts.spool),
    ...dashboardRoutes(parts),
    ...processReadyRoutes(parts),
  ];
  const api = await startApiService(parts, routes, { submitterOwns: (name, taskId) => uploads.submitted(name, taskId) });
  const backoff = retryBackoff(parts.config);
  const prefetch = new SourceHeaderPrefetch(parts.log);
  const results = new ResultHandoff();
  const remoteLeg = [
    packerStage(parts, packAhead),
    uploaderStage(parts, remote.client, { callbackUrl: callbackUrlFor(parts.config, api.url), backoff }),
    downloaderStage(parts, remote.client, { embeddedSince: remote.embeddedSince, backoff, prefetch, results }),
  ];
  // Not awaited: the appliance is up meanwhile; a task that gets to the filters first waits for the threads.
  warmUpImaging().catch((err: Error) => parts.log.warn(`the imaging path could not be warmed up: ${err.message}`));
  return {
    stages: [...intake.stages, validatorStage(parts, remote.client, { backoff }), ...remoteLeg, ...resultStages(parts, { prefetch, results, sender: { backoff } })],
    services: [...intake.services, ...remote.services, uploads, api],
  };
};

/** config `retry` as a stage backoff; undefined leaves each stage its own default. */
function retryBackoff(config: Pick<LoadedConfig, 'retry'>): { initialMs: number; maxMs: number } | undefined {
  if (!config.retry) return undefined;
  const initialMs = config.retry.initial_seconds * 1000;
  return { initialMs, maxMs: Math.max(initialMs, config.retry.max_seconds * 1000) };
}
