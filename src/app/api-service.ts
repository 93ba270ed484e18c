import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { startApiServer } from '../api/server.js';
import type { Route } from '../api/router.js';
import type { ApplianceParts, Service } from '../runner/appliance-parts.js';
import { ConfigError, type LoadedConfig } from '../config/load.js';
import { Credentials } from '../api/auth/credentials.js';
import { SessionStore } from '../api/auth/sessions.js';
import { LoginThrottle } from '../api/auth/login-throttle.js';
import { AccessControl } from '../api/auth/access-control.js';
import { sessionRoutes } from '../api/routes/session.js';
import { AuditLog } from '../audit/audit-log.js';

export interface ApiServiceOptions {
  /** Whether submitter `name` sent task `taskId` (the upload sessions know). */
  submitterOwns(name: string, taskId: string): Promise<boolean>;
}

/**
 * The one HTTP(S) API server of the appliance, serving the routes every part contributes, with
 * the credentials of config `api:`, dashboard sessions and the audit log (spool/logs/audit.jsonl).
 */
export async function startApiService(parts: ApplianceParts, routes: Route[], opts: ApiServiceOptions): Promise<Service & { url: string; port: number }> {
  const { config, log } = parts;
  const credentials = new Credentials(config.api);
  const sessions = new SessionStore({ idleMs: config.api.sessions.idle_minutes * 60_000, maxMs: config.api.sessions.max_hours * 3600_000 });
  const audit = AuditLog.inSpool(config.spool_dir);
  const tls = await readApiTls(config);
  const api = await startApiServer({
    host: config.api.host, port: config.api.port, tls, log: log.child({ stage: 'api' }), audit,
    access: new AccessControl({ credentials, sessions, submitterOwns: opts.submitterOwns }),
    routes: [...routes, ...sessionRoutes({ credentials, sessions, throttle: new LoginThrottle(), audit, secure: tls !== undefined })],
  });
  log.info(`API and dashboard on ${api.url}`);
  return { name: 'API', url: api.url, port: api.port, stop: () => api.close() };
}

/**
 * api.tls's certificate and key, checked to be PEM and to belong together; otherwise a config error
 * naming the key in config.yaml (`petspool start` checks this before anything listens).
 */
export async function readApiTls(config: LoadedConfig): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  const files = config.api.tls;
  if (!files) return undefined;
  const read = (key: 'cert_file' | 'key_file') => readFile(files[key]).catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError(config.configPath, [`api.tls.${key}: cannot read ${files[key]} (${err.code ?? err.message})`]);
  });
  const pair = { cert: await read('cert_file'), key: await read('key_file') };
  try {
    createSecureContext(pair);
  } catch (err) {
    throw new ConfigError(config.configPath, [`api.tls: ${files.cert_file} and ${files.key_file} are not a PEM certificate and its `
      + `private key (${(err as Error).message})`]);
  }
  return pair;
}
