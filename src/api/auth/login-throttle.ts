/**
 * Slows password guessing at the dashboard login: after a few failures for one operator name or
 * from one client address, further attempts are refused (429 with Retry-After) for a delay that
 * doubles with every further failure, up to a ceiling. A success clears both counts.
 */
export interface ThrottleOptions {
  /** Failures allowed before the first lock. */
  freeAttempts: number;
  firstDelayMs: number;
  maxDelayMs: number;
  /** Failures older than this (since the last one) are forgotten. */
  forgetAfterMs: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = { freeAttempts: 5, firstDelayMs: 1000, maxDelayMs: 15 * 60_000, forgetAfterMs: 3600_000 };

interface Failures { count: number; lastAt: number; lockedUntil: number }

export class LoginThrottle {
  private readonly failures = new Map<string, Failures>();

  constructor(private readonly opts: ThrottleOptions = DEFAULT_THROTTLE, private readonly now: () => number = Date.now) {}

  /** Milliseconds until an attempt for these keys (account, address) is heard again; 0 = now. */
  waitMs(keys: string[]): number {
    const at = this.now();
    return Math.max(0, ...keys.map((k) => (this.current(k, at)?.lockedUntil ?? 0) - at));
  }

  failed(keys: string[]): void {
    const at = this.now();
    for (const key of keys) {
      const f = this.current(key, at) ?? { count: 0, lastAt: at, lockedUntil: 0 };
      f.count++;
      f.lastAt = at;
      const over = f.count - this.opts.freeAttempts;
      if (over >= 0) f.lockedUntil = at + Math.min(this.opts.firstDelayMs * 2 ** over, this.opts.maxDelayMs);
      this.failures.set(key, f);
    }
  }

  succeeded(keys: string[]): void {
    for (const key of keys) this.failures.delete(key);
  }

  private current(key: string, at: number): Failures | undefined {
    const f = this.failures.get(key);
    if (f && at - f.lastAt > this.opts.forgetAfterMs && at >= f.lockedUntil) {
      this.failures.delete(key);
      return undefined;
    }
    return f;
  }
}
