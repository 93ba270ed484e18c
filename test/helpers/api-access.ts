import { AccessControl } from '../../src/api/auth/access-control.js';
import { Credentials } from '../../src/api/auth/credentials.js';
import { SessionStore } from '../../src/api/auth/sessions.js';
import type { LoadedConfig } from '../../src/config/load.js';

/** The access control `petspool start` builds from config `api:`, for tests that start the API server alone. */
export function accessFor(config: Pick<LoadedConfig, 'api'>, submitterOwns = async () => false): AccessControl {
  return new AccessControl({
    credentials: new Credentials(config.api),
    sessions: new SessionStore({ idleMs: 30 * 60_000, maxMs: 12 * 3600_000 }),
    submitterOwns,
  });
}

/** An Authorization header for the first operator with a token. */
export function operatorAuth(config: Pick<LoadedConfig, 'api'>): { authorization: string } {
  const token = config.api.operators.find((o) => o.token)?.token;
  if (!token) throw new Error('the test config has no operator with a token');
  return { authorization: `Bearer ${token}` };
}
