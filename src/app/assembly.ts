import type { Assembly } from './appliance.js';
import type { Route } from '../api/router.js';
import { startIntake } from './intake.js';
import { startApiService } from './api-service.js';

/**
 * The stages and services of `petspool start`, in flow order. Each part returns its stages,
 * services and API routes; the API server starts last, with every route.
 */
export const assembleAppliance: Assembly = async (parts) => {
  const intake = await startIntake(parts);
  const routes: Route[] = [];
  const api = await startApiService(parts, routes);
  return { stages: [...intake.stages], services: [...intake.services, api] };
};
