/**
 * Who may call the API, from config `api:`. Each credential belongs to one role, and the role
 * decides which routes it reaches (Route.allow):
 *  - callback: the remote processing service's callback (POST /process_ready only);
 *  - metrics: Prometheus (GET /metrics only);
 *  - submitter: the upload API and the tasks this submitter sent;
 *  - operator: a named person: dashboard, tasks, QC, settings (and everything a submitter may do).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiConfig, OperatorConfig } from '../../config/api-schema.js';

export type Role = 'operator' | 'submitter' | 'callback' | 'metrics';

/** The caller of one request, as the audit log and the task history name it. */
export interface Principal {
  role: Role;
  name: string;
  /** A bearer token, or the dashboard's session cookie. */
  via: 'token' | 'session';
}

export const CALLBACK_NAME = 'remote-service';
export const METRICS_NAME = 'metrics';

interface TokenEntry { digest: Buffer; role: Role; name: string }

export class Credentials {
  private readonly tokens: TokenEntry[];
  private readonly operators: Map<string, OperatorConfig>;

  constructor(api: Pick<ApiConfig, 'callback_token' | 'metrics_token' | 'submitters' | 'operators'>) {
    const entry = (token: string, role: Role, name: string): TokenEntry => ({ digest: digest(token), role, name });
    this.tokens = [
      entry(api.callback_token, 'callback', CALLBACK_NAME),
      ...(api.metrics_token ? [entry(api.metrics_token, 'metrics', METRICS_NAME)] : []),
      ...api.submitters.map((s) => entry(s.token, 'submitter', s.name)),
      ...api.operators.flatMap((o) => (o.token ? [entry(o.token, 'operator', o.name)] : [])),
    ];
    this.operators = new Map(api.operators.map((o) => [o.name, o]));
  }

  /**
   * The holder of a bearer token. Every token is compared, each in constant time over fixed-size
   * digests, so the answer time tells nothing about which token came close.
   */
  byToken(token: string): Principal | undefined {
    const given = digest(token);
    let found: TokenEntry | undefined;
    for (const t of this.tokens) {
      if (timingSafeEqual(given, t.digest) && !found) found = t;
    }
    return found ? { role: found.role, name: found.name, via: 'token' } : undefined;
  }

  operator(name: string): OperatorConfig | undefined {
    return this.operators.get(name);
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
