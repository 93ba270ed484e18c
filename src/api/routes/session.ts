/**
 * Dashboard login: an operator's name and password (scrypt hash in api.operators) open a session
 * (cookie) and hand the page its CSRF token. Failed logins are slowed per operator name and per
 * client address (429 with Retry-After while locked); every login, failure and logout is audited.
 */
import { HttpError, type ApiRequest, type Route } from '../router.js';
import { SESSION_COOKIE } from '../auth/access-control.js';
import type { Credentials } from '../auth/credentials.js';
import type { SessionStore } from '../auth/sessions.js';
import type { LoginThrottle } from '../auth/login-throttle.js';
import { hashPassword, verifyPassword } from '../auth/password-hash.js';
import type { AuditLog } from '../../audit/audit-log.js';
import { ACCOUNT_NAME } from '../../config/api-schema.js';

export interface SessionRouteDeps {
  credentials: Credentials;
  sessions: SessionStore;
  throttle: LoginThrottle;
  audit: AuditLog;
  /** HTTPS: the cookie is marked Secure. */
  secure: boolean;
}

/** GET /session and POST /login: what the dashboard's scripts need. */
export interface SessionInfo {
  name: string;
  /** Send it back as the X-CSRF-Token header on every POST. */
  csrf_token: string;
}

const MAX_PASSWORD_LENGTH = 1024;

/** Compared against when the operator is unknown or has no password, so the answer time does not tell. */
let decoyHash: Promise<string> | undefined;

export function sessionRoutes(deps: SessionRouteDeps): Route[] {
  const { credentials, sessions, throttle, audit } = deps;
  const cookie = (value: string, extra = '') => `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict${deps.secure ? '; Secure' : ''}${extra}`;
  return [
    {
      method: 'POST', path: '/login', allow: 'anyone',
      handler: async (req) => {
        refuseCrossSite(req);
        const { name, password } = (req.body ?? {}) as { name?: unknown; password?: unknown };
        if (typeof name !== 'string' || typeof password !== 'string' || !name || !password) {
          throw new HttpError(400, 'send {"name": "<operator>", "password": "..."}');
        }
        // A name no operator can have is audited as such (the log keeps no attacker-chosen text).
        const who = { who: ACCOUNT_NAME.test(name) ? name : '(not an operator name)', role: 'operator', client: req.clientAddress };
        const keys = [`operator:${who.who}`, `address:${req.clientAddress}`];
        const waitMs = throttle.waitMs(keys);
        if (waitMs > 0) {
          const seconds = Math.ceil(waitMs / 1000);
          await audit.append({ ...who, action: 'login_throttled', details: { retry_after_seconds: seconds } });
          throw new HttpError(429, `too many failed logins: try again in ${seconds} s`, { 'retry-after': String(seconds) });
        }
        // Counted as failed until it succeeds: guesses sent in parallel are locked out like guesses in a row.
        throttle.failed(keys);
        const stored = password.length <= MAX_PASSWORD_LENGTH ? credentials.operator(name)?.password_scrypt : undefined;
        decoyHash ??= hashPassword('decoy');
        const matches = await verifyPassword(password, stored ?? await decoyHash) && stored !== undefined;
        if (!matches) {
          await audit.append({ ...who, action: 'login_failed' });
          throw new HttpError(401, 'wrong operator name or password');
        }
        throttle.succeeded(keys);
        const session = sessions.create(name);
        await audit.append({ ...who, action: 'login' });
        const body: SessionInfo = { name, csrf_token: session.csrfToken };
        return { body, headers: { 'set-cookie': cookie(session.id) } };
      },
    },
    {
      method: 'POST', path: '/logout', audit: 'logout',
      handler: (req) => {
        if (req.session) sessions.end(req.session.id);
        return { body: { logged_out: true }, headers: { 'set-cookie': cookie('', '; Max-Age=0') } };
      },
    },
    {
      method: 'GET', path: '/session',
      handler: (req) => {
        if (!req.session) throw new HttpError(400, 'this request came with a token, not a dashboard session');
        const body: SessionInfo = { name: req.session.operator, csrf_token: req.session.csrfToken };
        return { body };
      },
    },
  ];
}

/** A login posted by another site's page (login CSRF) is refused: the Origin must be this host. */
function refuseCrossSite(req: ApiRequest): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  if (host !== req.headers.host) throw new HttpError(403, `login refused: posted from ${origin}, not from this appliance's own login page`);
}
