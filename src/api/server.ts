import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { AuditLog } from '../audit/audit-log.js';
import { HttpError, Router, STATUS_OF_PROBLEM, operationProblemOf, type ApiRequest, type ApiResponse, type Route } from './router.js';
import { AccessDeniedError, type AccessControl } from './auth/access-control.js';

const MAX_JSON_BODY = 1024 * 1024;

export interface ApiServerOptions {
  host: string;
  port: number;
  /** PEM certificate (chain) and key: HTTPS. Without: plain HTTP (config allows it on loopback only). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  access: AccessControl;
  /** Where routes with `audit` and refused requests are recorded. */
  audit?: AuditLog;
  log: Logger;
  routes: Route[];
}

export interface ApiServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * The appliance's HTTP(S) API: JSON routes, each reachable by the roles it allows (AccessControl),
 * changes recorded in the audit log. Handler errors become JSON answers; an unexpected one is
 * logged and answered 500, never crashing the appliance.
 */
export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const router = new Router().add(...opts.routes);
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    void handle(router, opts, req, res);
  };
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest) : http.createServer(onRequest);
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  return {
    port,
    url: `${opts.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

async function handle(router: Router, opts: ApiServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  // Under HTTPS a browser that came once keeps using HTTPS for this host (a downgrade is refused).
  if (opts.tls) res.setHeader('strict-transport-security', 'max-age=31536000');
  const clientAddress = req.socket.remoteAddress ?? 'unknown';
  try {
    const { route, params } = router.match(req.method ?? 'GET', url.pathname);
    const { principal, session } = route.allow === 'anyone' ? {} : await opts.access.authorise(req, route, params);
    const body = route.raw ? undefined : await readJson(req);
    const request: ApiRequest = {
      method: req.method ?? 'GET', path: url.pathname, params, query: url.searchParams, headers: req.headers, body,
      raw: route.raw ? req : undefined, principal, session, clientAddress,
    };
    const answer = await route.handler(request);
    if (route.audit && principal && (answer.status ?? 200) < 300) {
      await audit(opts, { who: principal.name, role: principal.role, action: route.audit, task: params.id, details: auditDetails(params, body), client: clientAddress });
    }
    send(res, answer);
  } catch (err) {
    const problem = operationProblemOf(err);
    if (err instanceof AccessDeniedError) {
      await audit(opts, { who: err.principal.name, role: err.principal.role, action: 'access_denied',
        details: { method: req.method, path: url.pathname, why: err.message }, client: clientAddress });
    }
    if (err instanceof HttpError) {
      send(res, { status: err.status, body: { error: err.message }, headers: err.headers });
    } else if (problem) {
      send(res, { status: STATUS_OF_PROBLEM[problem], body: { error: (err as Error).message } });
    } else {
      opts.log.error(`API ${req.method} ${url.pathname} failed: ${(err as Error).stack ?? String(err)}`);
      send(res, { status: 500, body: { error: (err as Error).message } });
    }
  }
}

/** What the audit line says about a change: the path's names (filter, destination) and the request body. */
function auditDetails(params: Record<string, string>, body: unknown): Record<string, unknown> | undefined {
  const { id: _task, ...names } = params;
  const fromBody = body === undefined ? {} : typeof body === 'object' && body !== null && !Array.isArray(body) ? body : { body };
  const details = { ...names, ...fromBody };
  return Object.keys(details).length ? details : undefined;
}

/** An audit line that cannot be written is logged loudly; the answer still goes out (the action is done). */
async function audit(opts: ApiServerOptions, entry: Parameters<AuditLog['append']>[0]): Promise<void> {
  try {
    await opts.audit?.append(entry);
  } catch (err) {
    opts.log.error(`cannot write the audit log ${opts.audit?.file}: ${(err as Error).message}; not recorded: ${JSON.stringify(entry)}`);
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_JSON_BODY) throw new HttpError(413, `request body over ${MAX_JSON_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}

function send(res: ServerResponse, r: ApiResponse): void {
  if (res.headersSent) return;
  const status = r.status ?? 200;
  const raw = r.contentType !== undefined;
  const payload = raw ? (r.body as Buffer | string) : r.body === undefined ? '' : JSON.stringify(r.body);
  res.writeHead(status, {
    'content-type': r.contentType ?? 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    ...r.headers,
  });
  res.end(payload);
}
