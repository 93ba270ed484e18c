/**
 * Dashboard sessions: a random id in an HttpOnly, SameSite=Strict cookie, and a CSRF token the
 * dashboard's scripts send back in a header on every change (a cross-site form carries the cookie
 * at most, never the header). Sessions live in memory: a restart logs everyone out.
 */
import { randomBytes } from 'node:crypto';

export interface Session {
  id: string;
  operator: string;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
}

export type SessionLookup = { state: 'valid'; session: Session } | { state: 'expired' } | { state: 'unknown' };

export interface SessionLimits {
  /** A session unused this long has expired. */
  idleMs: number;
  /** A session this old has expired, however busy. */
  maxMs: number;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly limits: SessionLimits, private readonly now: () => number = Date.now) {}

  create(operator: string): Session {
    this.forgetOld();
    const at = this.now();
    const session: Session = { id: randomBytes(32).toString('base64url'), operator, csrfToken: randomBytes(32).toString('base64url'), createdAt: at, lastSeenAt: at };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The session of a cookie; a valid one counts as used now. */
  lookup(id: string): SessionLookup {
    const session = this.sessions.get(id);
    if (!session) return { state: 'unknown' };
    const at = this.now();
    if (at - session.lastSeenAt > this.limits.idleMs || at - session.createdAt > this.limits.maxMs) return { state: 'expired' };
    session.lastSeenAt = at;
    return { state: 'valid', session };
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  /** Expired sessions are kept a while (to answer "expired" rather than "not logged in"), then dropped. */
  private forgetOld(): void {
    const at = this.now();
    for (const [id, s] of this.sessions) {
      if (at - s.createdAt > 2 * this.limits.maxMs || at - s.lastSeenAt > 2 * Math.max(this.limits.idleMs, 3600_000)) this.sessions.delete(id);
    }
  }
}
