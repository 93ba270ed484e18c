import { readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';

export class SpoolLockedError extends Error {
  constructor(readonly spoolDir: string, readonly ownerPid?: number) {
    super(`another petspool process${ownerPid ? ` (pid ${ownerPid})` : ''} is running on ${spoolDir} (lock ${lockPath(spoolDir)}). `
      + 'Stop it first (systemctl stop petspool, or Ctrl-C in its terminal), or point this one at another spool_dir.');
    this.name = 'SpoolLockedError';
  }
}

const STALE_MS = 20_000;

function lockPath(spoolDir: string): string {
  return path.join(spoolDir, '.petspool.lock');
}

/** Who holds the lock, written by the holder beside proper-lockfile's lock folder (which must stay empty). */
function ownerFile(spoolDir: string): string {
  return `${lockPath(spoolDir)}.owner`;
}

interface LockOwner { pid: number; host: string }

async function readOwner(spoolDir: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await readFile(ownerFile(spoolDir), 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A lock whose holder died on this machine (SIGKILL, power cut) is stale at once: waiting for
 * proper-lockfile's staleness timeout would refuse the restart that systemd makes right away.
 */
async function holderIsDead(spoolDir: string): Promise<boolean> {
  const owner = await readOwner(spoolDir);
  return owner !== undefined && owner.host === os.hostname() && owner.pid !== process.pid && !processAlive(owner.pid);
}

/**
 * Hold the spool for this process: one appliance (one database writer) per spool. If the lock is
 * lost (the lock folder removed, the clock jumped), `onLost` is told instead of proper-lockfile's
 * default of throwing from a timer, so the appliance can stop cleanly.
 */
export async function acquireSpoolLock(spoolDir: string, onLost: (err: Error) => void): Promise<() => Promise<void>> {
  const lock = () => lockfile.lock(spoolDir, {
    lockfilePath: lockPath(spoolDir), stale: STALE_MS, update: 5_000, retries: 0, onCompromised: onLost,
  });
  let release: () => Promise<void>;
  try {
    release = await lock();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
    if (!(await holderIsDead(spoolDir))) throw new SpoolLockedError(spoolDir, (await readOwner(spoolDir))?.pid);
    await rm(lockPath(spoolDir), { recursive: true, force: true });
    release = await lock().catch((again: NodeJS.ErrnoException) => {
      throw again.code === 'ELOCKED' ? new SpoolLockedError(spoolDir) : again;
    });
  }
  await writeFile(ownerFile(spoolDir), JSON.stringify({ pid: process.pid, host: os.hostname() } satisfies LockOwner));
  return async () => {
    await rm(ownerFile(spoolDir), { force: true });
    await release();
  };
}

/** Is an appliance (or an operator command) holding this spool right now? */
export async function isSpoolLocked(spoolDir: string): Promise<boolean> {
  const held = await lockfile.check(spoolDir, { lockfilePath: lockPath(spoolDir), stale: STALE_MS }).catch(() => false);
  return held && !(await holderIsDead(spoolDir));
}
