/**
 * The CLI's client for the running appliance's own HTTP(S) API (api.host/api.port), as the operator
 * the CLI acts for (operator-credentials.ts). Used by mutating commands while `petspool start`
 * holds the spool: the appliance is then the only writer of the spool and the database, so the CLI
 * asks it instead of touching them. Under HTTPS the certificate of api.tls.cert_file is pinned.
 */
import http from 'node:http';
import https from 'node:https';
import type { LoadedConfig } from '../config/load.js';
import { CliError, EXIT } from './exit-codes.js';
import type { CliOperator } from './operator-credentials.js';
import { CertificateMismatchError } from '../util/pinned-tls-agent.js';
import { localApiAgent, localApiUrl } from '../api/local-access.js';

/** The API did not answer; `refused` when the connection was refused, so the request surely did nothing. */
export class ApplianceUnreachableError extends CliError {
  constructor(message: string, readonly refused: boolean) {
    super(message, EXIT.UNAVAILABLE);
    this.name = 'ApplianceUnreachableError';
  }
}

export interface ApiAnswer { status: number; body: unknown }

export class ApiClient {
  constructor(readonly baseUrl: string, private readonly operator: CliOperator, private readonly configPath: string,
    private readonly agent?: http.Agent) {}

  /** The appliance of this config, as `operator`. */
  static forConfig(config: LoadedConfig, operator: CliOperator): ApiClient {
    return new ApiClient(localApiUrl(config), operator, config.configPath, localApiAgent(config));
  }

  /**
   * One request. Answers 2xx-4xx come back for the caller to read (except 401/403); an unreachable
   * appliance is exit 3, a refused credential exit 2, a 5xx exit 1, each with one clear message.
   */
  async request(method: 'GET' | 'POST', route: string, body?: unknown): Promise<ApiAnswer> {
    const token = this.operator.token;
    if (!token) {
      throw new CliError(`the appliance is running, so the CLI acts through its API as operator ${this.operator.name}, who has no token `
        + `in api.operators of ${this.configPath}: add one (openssl rand -hex 24), or choose another operator with --operator`, EXIT.CONFIG);
    }
    let res: { status: number; text: string };
    try {
      res = await send(new URL(route, this.baseUrl), method, token, body, this.agent);
    } catch (err) {
      if (err instanceof CertificateMismatchError) throw new CliError(`the API at ${this.baseUrl}: ${err.message}`, EXIT.UNAVAILABLE);
      const cause = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new ApplianceUnreachableError(`the appliance is running on this spool but its API at ${this.baseUrl} does not answer (${cause}); `
        + `check api.host and api.port in ${this.configPath}, or wait until it has finished starting`, cause === 'ECONNREFUSED');
    }
    let parsed: unknown = res.text;
    try {
      parsed = res.text ? JSON.parse(res.text) : undefined;
    } catch {
      // not JSON: keep the text for the message
    }
    const message = (parsed as { error?: unknown } | undefined)?.error;
    const said = typeof message === 'string' ? message : res.text.slice(0, 300);
    if (res.status === 401 || res.status === 403) {
      throw new CliError(`the appliance at ${this.baseUrl} refused operator ${this.operator.name}'s token from ${this.configPath} `
        + `(${res.status}): ${said}`, EXIT.CONFIG);
    }
    if (res.status >= 500) throw new CliError(`the appliance at ${this.baseUrl} failed (${res.status}): ${said}`, EXIT.FAILED);
    return { status: res.status, body: parsed };
  }
}

function send(url: URL, method: string, token: string, body: unknown, agent: http.Agent | undefined): Promise<{ status: number; text: string }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string | number> = { authorization: `Bearer ${token}` };
  if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': payload.length });
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(url, { method, headers, agent, signal: AbortSignal.timeout(30_000) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** The error text of an API answer ({"error": "..."}), or a fallback. */
export function errorOf(answer: ApiAnswer): string {
  const message = (answer.body as { error?: unknown } | undefined)?.error;
  return typeof message === 'string' ? message : `HTTP ${answer.status}`;
}
