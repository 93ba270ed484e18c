/**
 * Who is asking, and may they: the bearer token or the dashboard session of a request, checked
 * against the route's roles, with the CSRF token for a change made from the dashboard and, for a
 * submitter, ownership of the task. Every refusal says what to do: 401 (who are you?) or 403
 * (you may not).
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError, type Route } from '../router.js';
import type { Credentials, Principal, Role } from './credentials.js';
import type { Session, SessionStore } from './sessions.js';

export const SESSION_COOKIE = 'petspool_session';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD']);

export interface AccessControlOptions {
  credentials: Credentials;
  sessions: SessionStore;
  /** Whether submitter `name` sent the task `taskId` (routes with `ownTask`). */
  submitterOwns(name: string, taskId: string): Promise<boolean>;
}

/** A 403: the caller is known, and the audit log records the refusal. */
export class AccessDeniedError extends HttpError {
  constructor(message: string, readonly principal: Principal) {
    super(403, message);
    this.name = 'AccessDeniedError';
  }
}

export interface Authorised {
  principal: Principal;
  session?: Session;
}

export class AccessControl {
  constructor(private readonly opts: AccessControlOptions) {}

  /** The caller of a request to `route`, or an HttpError 401/403. */
  async authorise(req: IncomingMessage, route: Route, params: Record<string, string>): Promise<Authorised> {
    const { principal, session } = this.identify(req);
    const allowed = allowedRoles(route);
    if (!allowed.includes(principal.role)) {
      throw new AccessDeniedError(`${principal.role} ${principal.name} may not ${req.method} ${route.path}: that is for ${allowed.map(plural).join(' or ')}`, principal);
    }
    if (session && !SAFE_METHODS.has(req.method ?? 'GET') && !sameSecret(header(req, CSRF_HEADER), session.csrfToken)) {
      throw new AccessDeniedError(`missing or wrong ${CSRF_HEADER} header: changes are accepted only from the dashboard's own page (reload it)`, principal);
    }
    if (route.ownTask && principal.role === 'submitter' && !(await this.opts.submitterOwns(principal.name, params.id ?? ''))) {
      throw new AccessDeniedError(`task ${params.id} was not submitted by ${principal.name}: a submitter sees only its own tasks`, principal);
    }
    return { principal, session };
  }

  private identify(req: IncomingMessage): Authorised {
    const authorization = header(req, 'authorization');
    if (authorization !== undefined) {
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
      if (!bearer) throw new HttpError(401, 'the Authorization header must be "Bearer <token>"');
      const principal = this.opts.credentials.byToken(bearer);
      if (!principal) throw new HttpError(401, 'unknown token: check the token for your role in config api: (callback_token, metrics_token, submitters, operators)');
      return { principal };
    }
    const id = cookie(req, SESSION_COOKIE);
    if (id === undefined) throw new HttpError(401, 'not logged in: send Authorization: Bearer <token>, or log in to the dashboard at /login');
    const found = this.opts.sessions.lookup(id);
    if (found.state === 'expired') throw new HttpError(401, 'session expired, log in again');
    if (found.state === 'unknown') throw new HttpError(401, 'not logged in (the session ended or the appliance restarted), log in again');
    return { principal: { role: 'operator', name: found.session.operator, via: 'session' }, session: found.session };
  }
}

/** Routes are for operators unless they say otherwise. */
export function allowedRoles(route: Route): readonly Role[] {
  return route.allow === undefined ? ['operator'] : route.allow === 'anyone' ? [] : route.allow;
}

const PLURAL: Record<Role, string> = { operator: 'operators', submitter: 'submitters', callback: 'the remote service\'s callback token', metrics: 'the metrics token' };
function plural(role: Role): string {
  return PLURAL[role];
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
