import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';
import { HttpError, Router, STATUS_OF_PROBLEM, operationProblemOf, type ApiRequest, type ApiResponse, type Route } from './router.js';

const MAX_JSON_BODY = 1024 * 1024;
export const SESSION_COOKIE = 'petspool_token';

export interface ApiServerOptions {
  host: string;
  port: number;
  token: string;
  log: Logger;
  routes: Route[];
}

export interface ApiServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * The appliance's HTTP API: JSON routes guarded by `Authorization: Bearer <api.token>` (or the
 * dashboard's session cookie holding the same token). Handler errors become JSON answers; an
 * unexpected one is logged and answered 500, never crashing the appliance.
 */
export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const router = new Router().add(...opts.routes);
  const server = http.createServer((req, res) => {
    void handle(router, opts, req, res);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  return {
    port,
    url: `http://${host}:${port}`,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

async function handle(router: Router, opts: ApiServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  try {
    const { route, params } = router.match(req.method ?? 'GET', url.pathname);
    if (route.auth !== false && !authorised(req, opts.token)) {
      throw new HttpError(401, 'missing or wrong token: send Authorization: Bearer <api.token>');
    }
    const body = route.raw ? undefined : await readJson(req);
    const request: ApiRequest = {
      method: req.method ?? 'GET', path: url.pathname, params, query: url.searchParams, headers: req.headers, body,
      raw: route.raw ? req : undefined,
    };
    send(res, await route.handler(request));
  } catch (err) {
    const problem = operationProblemOf(err);
    if (err instanceof HttpError) {
      send(res, { status: err.status, body: { error: err.message } });
    } else if (problem) {
      send(res, { status: STATUS_OF_PROBLEM[problem], body: { error: (err as Error).message } });
    } else {
      opts.log.error(`API ${req.method} ${url.pathname} failed: ${(err as Error).stack ?? String(err)}`);
      send(res, { status: 500, body: { error: (err as Error).message } });
    }
  }
}

function authorised(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization ?? '';
  const bearer = header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
  const cookie = (req.headers.cookie ?? '').split(';').map((c) => c.trim())
    .find((c) => c.startsWith(`${SESSION_COOKIE}=`))?.slice(SESSION_COOKIE.length + 1);
  const given = bearer ?? (cookie ? decodeURIComponent(cookie) : undefined);
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
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
    ...r.headers,
  });
  res.end(payload);
}
