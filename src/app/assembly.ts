import type { Assembly } from './appliance.js';
import type { Route } from '../api/router.js';
import { startIntake } from './intake.js';
import { startApiService } from './api-service.js';
import { TaskOperations } from './task-operations.js';
import { validatorStage } from '../stages/validator.js';
import { RemoteClient } from '../remote/client.js';
import { taskRoutes } from '../api/routes/tasks.js';
import { radiopharmaceuticalRoutes } from '../api/routes/radiopharmaceuticals.js';
import { metricsRoutes } from '../api/routes/metrics.js';
import { maintenanceRoutes } from '../api/routes/maintenance.js';
import { metrics } from './metrics.js';

/**
 * The stages and services of `petspool start`, in flow order. Each part returns its stages,
 * services and API routes; the API server starts last, with every route.
 */
export const assembleAppliance: Assembly = async (parts) => {
  const intake = await startIntake(parts);
  metrics.watchRunner(parts.runner);
  // Until src/remote/connect.ts (connectRemote: embedded service or config URL) lands, the config URL is used as is.
  const remote = new RemoteClient({ baseUrl: parts.config.remote.url, token: parts.config.remote.token, clientId: parts.config.remote.client_id });
  const routes: Route[] = [
    ...taskRoutes(new TaskOperations(parts.spool, { store: parts.store, runner: parts.runner })),
    ...radiopharmaceuticalRoutes(parts.store),
    ...metricsRoutes({ spool: parts.spool, store: parts.store, scpStats: intake.scpStats }),
    ...maintenanceRoutes(parts.spool, parts.store),
  ];
  const api = await startApiService(parts, routes);
  return { stages: [...intake.stages, validatorStage(parts, remote)], services: [...intake.services, api] };
};
