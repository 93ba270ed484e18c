import path from 'node:path';
import lockfile from 'proper-lockfile';

export class SpoolLockedError extends Error {
  constructor(readonly spoolDir: string) {
    super(`another petspool process is running on ${spoolDir} (lock ${lockPath(spoolDir)}). `
      + 'Stop it first (systemctl stop petspool, or Ctrl-C in its terminal), or point this one at another spool_dir.');
    this.name = 'SpoolLockedError';
  }
}

function lockPath(spoolDir: string): string {
  return path.join(spoolDir, '.petspool.lock');
}

/**
 * Hold the spool for this process: one appliance (one database writer) per spool. If the lock is
 * lost (the lock folder removed, the clock jumped), `onLost` is told instead of proper-lockfile's
 * default of throwing from a timer, so the appliance can stop cleanly.
 */
export async function acquireSpoolLock(spoolDir: string, onLost: (err: Error) => void): Promise<() => Promise<void>> {
  try {
    return await lockfile.lock(spoolDir, {
      lockfilePath: lockPath(spoolDir), stale: 20_000, update: 5_000, retries: 0, onCompromised: onLost,
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') throw new SpoolLockedError(spoolDir);
    throw err;
  }
}

/** Is an appliance holding this spool right now? */
export async function isSpoolLocked(spoolDir: string): Promise<boolean> {
  return lockfile.check(spoolDir, { lockfilePath: lockPath(spoolDir), stale: 20_000 }).catch(() => false);
}
