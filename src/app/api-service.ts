import { startApiServer } from '../api/server.js';
import type { Route } from '../api/router.js';
import type { ApplianceParts, Service } from '../runner/appliance-parts.js';

/** The one HTTP API server of the appliance, serving the routes every part contributes. */
export async function startApiService(parts: ApplianceParts, routes: Route[]): Promise<Service & { url: string; port: number }> {
  const { config, log } = parts;
  const api = await startApiServer({
    host: config.api.host, port: config.api.port, token: config.api.token, log: log.child({ stage: 'api' }), routes,
  });
  log.info(`API and dashboard on ${api.url}`);
  return { name: 'API', url: api.url, port: api.port, stop: () => api.close() };
}
