import type { IncomingMessage } from 'node:http';
import type { Principal, Role } from './auth/credentials.js';
import type { Session } from './auth/sessions.js';

export interface ApiRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  /** Parsed JSON body (undefined when the request had none). */
  body: unknown;
  /** Raw body for routes declared with `raw: true` (uploads). */
  raw?: IncomingMessage;
  /** Who asks (absent on routes open to anyone). */
  principal?: Principal;
  /** The dashboard session the request came with (cookie), if any. */
  session?: Session;
  /** The client's address, for the audit log. */
  clientAddress: string;
}

export interface ApiResponse {
  status?: number;
  /** JSON-serialised unless `contentType` is given with a Buffer/string body. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** e.g. /tasks/:id/retry */
  path: string;
  /** The roles that may call it (default: operators only); 'anyone' for the dashboard's files and the login. */
  allow?: readonly Role[] | 'anyone';
  /** A submitter may call it only for a task (params.id) it submitted. */
  ownTask?: boolean;
  /** Recorded in the audit log, with who and the request body, when it succeeds (e.g. "qc.approve"). */
  audit?: string;
  /** Hand the request stream to the handler instead of parsing JSON (uploads). */
  raw?: boolean;
  handler(req: ApiRequest): Promise<ApiResponse> | ApiResponse;
}

/**
 * Refusals of operations the API shares with the CLI (task operations, uploads) say what kind
 * they are; the server answers them with the matching status.
 */
export type OperationProblem = 'not_found' | 'conflict' | 'invalid';
export const STATUS_OF_PROBLEM: Record<OperationProblem, number> = { not_found: 404, conflict: 409, invalid: 400 };

export function operationProblemOf(err: unknown): OperationProblem | undefined {
  const problem = (err as { problem?: unknown } | null)?.problem;
  return typeof problem === 'string' && problem in STATUS_OF_PROBLEM ? problem as OperationProblem : undefined;
}

/** Who made a change, as the task history names them (operator routes always have a caller). */
export function actorOf(req: ApiRequest): string {
  return req.principal?.name ?? 'unknown';
}

/** An error a handler throws to answer with a status and a message. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers?: Record<string, string>) {
    super(message);
    this.name = 'HttpError';
  }
}

interface CompiledRoute { route: Route; pattern: RegExp; names: string[] }

/** Matches "/tasks/:id" style paths; parameters are URI-decoded. */
export class Router {
  private readonly compiled: CompiledRoute[] = [];

  add(...routes: Route[]): this {
    for (const route of routes) {
      const names: string[] = [];
      const source = route.path.split('/').map((part) => {
        if (!part.startsWith(':')) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        names.push(part.slice(1));
        return '([^/]+)';
      }).join('/');
      this.compiled.push({ route, pattern: new RegExp(`^${source}/?$`), names });
    }
    return this;
  }

  /** The route for a request, or 404 / 405 as an HttpError. */
  match(method: string, path: string): { route: Route; params: Record<string, string> } {
    let pathMatched = false;
    for (const c of this.compiled) {
      const m = c.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (c.route.method !== method) continue;
      const params: Record<string, string> = {};
      c.names.forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
      return { route: c.route, params };
    }
    throw pathMatched ? new HttpError(405, `${method} is not allowed on ${path}`) : new HttpError(404, `no such route: ${path}`);
  }
}
