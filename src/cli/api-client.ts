/**
 * The CLI's client for the running appliance's own HTTP API (api.host/api.port, bearer api.token).
 * Used by mutating commands while `petspool start` holds the spool: the appliance is then the only
 * writer of the spool and the database, so the CLI asks it instead of touching them.
 */
import type { LoadedConfig } from '../config/load.js';
import { CliError, EXIT } from './exit-codes.js';

/** The API did not answer; `refused` when the connection was refused, so the request surely did nothing. */
export class ApplianceUnreachableError extends CliError {
  constructor(message: string, readonly refused: boolean) {
    super(message, EXIT.UNAVAILABLE);
    this.name = 'ApplianceUnreachableError';
  }
}

export interface ApiAnswer { status: number; body: unknown }

export class ApiClient {
  constructor(readonly baseUrl: string, private readonly token: string, private readonly configPath: string) {}

  /** The appliance of this config; a wildcard listen address is reached on loopback. */
  static forConfig(config: LoadedConfig): ApiClient {
    const host = config.api.host === '0.0.0.0' || config.api.host === '::' ? '127.0.0.1' : config.api.host;
    const hostPart = host.includes(':') ? `[${host}]` : host;
    return new ApiClient(`http://${hostPart}:${config.api.port}`, config.api.token, config.configPath);
  }

  /**
   * One request. Answers 2xx-4xx come back for the caller to read (except 401); an unreachable
   * appliance is exit 3, a refused token exit 2, a 5xx exit 1, each with one clear message.
   */
  async request(method: 'GET' | 'POST', route: string, body?: unknown): Promise<ApiAnswer> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${route}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ApplianceUnreachableError(`the appliance is running on this spool but its API at ${this.baseUrl} does not answer (${cause}); `
        + `check api.host and api.port in ${this.configPath}, or wait until it has finished starting`, cause === 'ECONNREFUSED');
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text for the message
    }
    const message = (parsed as { error?: unknown } | undefined)?.error;
    const said = typeof message === 'string' ? message : text.slice(0, 300);
    if (res.status === 401) {
      throw new CliError(`the appliance at ${this.baseUrl} refused api.token from ${this.configPath} (401): ${said}`, EXIT.CONFIG);
    }
    if (res.status >= 500) throw new CliError(`the appliance at ${this.baseUrl} failed (${res.status}): ${said}`, EXIT.FAILED);
    return { status: res.status, body: parsed };
  }
}

/** The error text of an API answer ({"error": "..."}), or a fallback. */
export function errorOf(answer: ApiAnswer): string {
  const message = (answer.body as { error?: unknown } | undefined)?.error;
  return typeof message === 'string' ? message : `HTTP ${answer.status}`;
}
