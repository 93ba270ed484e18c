import { request as httpPlainRequest, type Agent } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { loadTlsFiles, TlsSetupError } from '../tls/pem-files.js';
import { describeTlsFailure } from '../tls/tls-failure.js';

/**
 * HTTP client for the remote processing service (DESIGN.md, "Remote service contract").
 * Failures are sorted into two kinds the stages act on:
 *  - RemoteUnavailableError: network error, timeout, 5xx, 408, 429: try again later;
 *  - RemoteRejectedError: the service understood and said no (4xx): retrying will not help.
 */

export class RemoteUnavailableError extends Error {
  override name = 'RemoteUnavailableError';
  readonly retryable = true;
  constructor(message: string, readonly status?: number, options?: ErrorOptions) {
    super(message, options);
  }
}

export class RemoteRejectedError extends Error {
  override name = 'RemoteRejectedError';
  readonly retryable = false;
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

export interface RemoteClientOptions {
  /** e.g. http://10.8.0.1:8000 (trailing slash optional). */
  baseUrl: string;
  token: string;
  clientId: string;
  /** Per request; default 30 s. */
  timeoutMs?: number;
  /** https: PEM file of the private CA that signed the service's certificate (remote.ca_file); absent = the system's trust store. */
  caFile?: string;
}

export type LicenceCheck = { ok: true } | { ok: false; code: 405 | 406 | 407; message: string };
export type RemoteTaskStatus = { state: string; message?: string } | 'unknown' | 'unsupported';

export interface StartProcessingRequest {
  input_file: string;
  task_id: string;
  callback_url: string;
  metadata: unknown;
}

interface Answer { status: number; body: unknown; isJson: boolean; text: string }

export class RemoteClient {
  private readonly baseUrl: string;

  constructor(private readonly opts: RemoteClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
  }

  /** Licence and model check; 405/406/407 are answers, not errors. */
  async checkModel(metadata: unknown): Promise<LicenceCheck> {
    const answer = await this.request('POST', '/check_model', metadata);
    if (answer.status >= 200 && answer.status < 300) return { ok: true };
    if (answer.status === 405 || answer.status === 406 || answer.status === 407) {
      return { ok: false, code: answer.status, message: serverMessage(answer) };
    }
    throw classify('check_model', answer);
  }

  /** Ask the service to process an uploaded archive; resolves once it accepted the task. */
  async startProcessing(req: StartProcessingRequest): Promise<void> {
    const answer = await this.request('POST', '/processing', { ...req, client_id: this.opts.clientId });
    if (answer.status >= 200 && answer.status < 300) return;
    throw classify('processing', answer);
  }

  /**
   * The service's view of a task: its state, 'unknown' when the service says it has no such
   * task, or 'unsupported' when the service has no task route at all (an older service). A 404
   * with a JSON body comes from the tasks route itself; a 404 page that is not JSON means the
   * route is missing.
   */
  async getTask(taskId: string): Promise<RemoteTaskStatus> {
    const answer = await this.request('GET', `/tasks/${encodeURIComponent(taskId)}`);
    if (answer.status >= 200 && answer.status < 300) {
      const body = answer.body as { state?: unknown; message?: unknown } | null;
      if (!body || typeof body.state !== 'string') throw new RemoteUnavailableError('tasks: answer has no state', answer.status);
      if (body.state === 'unknown') return 'unknown';
      return typeof body.message === 'string' ? { state: body.state, message: body.message } : { state: body.state };
    }
    if (answer.status === 404) return answer.isJson ? 'unknown' : 'unsupported';
    if (answer.status === 405 || answer.status === 501) return 'unsupported';
    throw classify('tasks', answer);
  }

  private async request(method: 'GET' | 'POST', route: string, body?: unknown): Promise<Answer> {
    const timeoutMs = this.opts.timeoutMs ?? 30_000;
    const url = new URL(`${this.baseUrl}${route}`);
    let res: { status: number; contentType: string; text: string };
    try {
      // Read per request, so a renewed CA file is taken without a restart.
      const ca = url.protocol === 'https:' && this.opts.caFile ? loadTlsFiles({ where: 'remote', caFile: this.opts.caFile }).ca : undefined;
      res = await httpRequest(url, method, this.opts.token, body, timeoutMs, undefined, { ca });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.name === 'TimeoutError' || e.code === 'ETIMEDOUT') {
        throw new RemoteUnavailableError(`remote service did not answer ${route} within ${timeoutMs / 1000} s`, undefined, { cause: err });
      }
      const trust = this.opts.caFile ? `remote.ca_file ${this.opts.caFile}` : 'the system\'s trust store (set remote.ca_file for a private CA)';
      const tlsProblem = err instanceof TlsSetupError ? err.message : describeTlsFailure(e, { address: url.host, trust }, false);
      if (tlsProblem) throw new RemoteUnavailableError(`remote service ${this.baseUrl}: ${tlsProblem}`, undefined, { cause: err });
      throw new RemoteUnavailableError(`remote service unreachable at ${this.baseUrl} (${e.code ?? e.message})`, undefined, { cause: err });
    }
    const isJson = res.contentType.includes('json');
    let parsed: unknown = null;
    if (isJson) {
      try {
        parsed = JSON.parse(res.text);
      } catch {
        parsed = null;
      }
    }
    return { status: res.status, body: parsed, isJson: isJson && parsed !== null, text: res.text };
  }
}

/** How an https peer is trusted: `ca` (PEM) instead of the system's store, or an `agent` that pins a certificate. */
export interface HttpsTrust {
  ca?: string | Buffer | (string | Buffer)[];
  agent?: Agent;
}

/** Answers larger than this are cut (the service only sends small JSON). */
const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * One request with node:http rather than fetch: fetch turns every 407 answer into a network
 * error (407 is "proxy authentication required" in HTTP), but the contract uses 407 for "no model
 * for these reconstruction parameters"; and fetch loads its library (undici, ~30 ms) on first use.
 * `cancel` aborts it early (e.g. at shutdown). https: the certificate is always checked, against
 * `trust.ca` (PEM) when given, else the system's trust store; `trust.agent` may pin a certificate
 * instead (the appliance's own API, util/pinned-tls-agent.ts).
 */
export function httpRequest(
  url: URL, method: string, token: string, body: unknown, timeoutMs: number, cancel?: AbortSignal, trust?: HttpsTrust,
): Promise<{ status: number; contentType: string; text: string }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string | number> = { authorization: `Bearer ${token}`, accept: 'application/json' };
  if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': payload.length });
  const https = url.protocol === 'https:';
  const send = https ? httpsRequest : httpPlainRequest;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = cancel ? AbortSignal.any([cancel, timeout]) : timeout;
  // rejectUnauthorized stated, so NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment cannot turn the check off.
  const tlsOptions = https ? { rejectUnauthorized: true, minVersion: 'TLSv1.2' as const, ...(trust?.ca && { ca: trust.ca }) } : {};
  return new Promise((resolve, reject) => {
    const req = send(url, { method, headers, signal, ...tlsOptions, agent: trust?.agent }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
      });
      res.on('end', () => resolve({
        status: res.statusCode ?? 0,
        contentType: String(res.headers['content-type'] ?? ''),
        text: Buffer.concat(chunks).toString('utf8'),
      }));
      res.on('error', reject);
    });
    // An aborted request reports a bare AbortError; the signal's reason says it was the timeout.
    req.on('error', (err) => reject(signal.aborted ? signal.reason : err));
    req.end(payload);
  });
}

function classify(route: string, answer: Answer): Error {
  const message = `remote ${route} answered ${answer.status}: ${serverMessage(answer)}`;
  if (answer.status >= 500 || answer.status === 408 || answer.status === 429) return new RemoteUnavailableError(message, answer.status);
  return new RemoteRejectedError(message, answer.status);
}

/** The service's own words: JSON message/detail/error/response, else the start of the text. */
function serverMessage(answer: Answer): string {
  const body = answer.body as Record<string, unknown> | null;
  for (const key of ['message', 'detail', 'error', 'response']) {
    const value = body?.[key];
    if (typeof value === 'string' && value) return value;
  }
  return answer.text.trim().slice(0, 300) || '(no message)';
}
