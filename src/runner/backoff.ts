/**
 * Exponential backoff with ±20 % jitter, so that many tasks waiting on the same outage do not
 * all knock again in the same second. attempt 1 waits about initialMs.
 */
export function backoffDelayMs(attempt: number, initialMs: number, maxMs: number, random = Math.random): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  const jitter = 1 + (random() * 0.4 - 0.2);
  return Math.round(Math.min(maxMs, base * jitter));
}
