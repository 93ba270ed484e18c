import { readdir, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../log/logger.js';
import type { Service } from '../runner/appliance-parts.js';
import type { Receiver } from './receiver.js';
import { looksLikeZip, type ZipIntake } from './zip-intake.js';

export const HOT_FOLDER_SENDER = 'hotfolder';

export interface HotFolderOptions {
  dir: string;
  receiver: Receiver;
  /** Takes the zip archives dropped in (extracted, their files handed to the receiver). */
  zips: ZipIntake;
  log: Logger;
  /** A file is read once its size has not changed for this long (a copy in progress is never read). */
  stableMs?: number;
  /** Empty sub-folders older than this are removed (a person's drop, once consumed). */
  emptyFolderAgeMs?: number;
}

/**
 * The drag-and-drop hot folder: every file dropped into it (nested folders too) is handed to the
 * receiver once complete, zip archives to the zip intake. Files still being copied wait (chokidar
 * awaitWriteFinish), zips too; dot-files and temporary entries are never touched.
 */
export async function startHotFolder(opts: HotFolderOptions): Promise<Service & { idle(): Promise<void> }> {
  const stableMs = opts.stableMs ?? 2000;
  const log = opts.log.child({ stage: 'hotfolder' });
  const queue: string[] = [];
  const queued = new Set<string>();
  let active = 0;
  let idleWaiters: (() => void)[] = [];
  const CONCURRENCY = 2;

  const take = async (file: string): Promise<void> => {
    if (await looksLikeZip(file)) await opts.zips.take(file, HOT_FOLDER_SENDER);
    else await opts.receiver.receiveFile(file, HOT_FOLDER_SENDER);
  };
  const pump = () => {
    while (active < CONCURRENCY && queue.length) {
      const file = queue.shift()!;
      active++;
      take(file)
        .catch((err: Error) => log.error(`could not take ${path.relative(opts.dir, file)}: ${err.message}; it stays in the hot folder`))
        .finally(() => {
          active--;
          queued.delete(file);
          pump();
        });
    }
    if (active === 0 && queue.length === 0) {
      for (const w of idleWaiters) w();
      idleWaiters = [];
    }
  };

  const watcher: FSWatcher = watch(opts.dir, {
    ignored: (p) => path.basename(p).startsWith('.') && p !== opts.dir,
    awaitWriteFinish: { stabilityThreshold: stableMs, pollInterval: Math.min(250, stableMs / 4) },
    ignoreInitial: false,
    persistent: true,
  });
  let stopped = false;
  watcher.on('add', (file) => {
    // chokidar's write-finish timers outlive close(): a file found stable after stop waits for the next start.
    if (stopped || queued.has(file)) return;
    queued.add(file);
    queue.push(file);
    pump();
  });
  watcher.on('error', (err) => log.error(`watching ${opts.dir}: ${(err as Error).message}`));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  // Archives half handed over when the last run stopped; the hot folder may find the same ones (the intake takes each once).
  active++;
  void opts.zips.resumeLeftovers(HOT_FOLDER_SENDER)
    .catch((err: Error) => log.error(`resuming the zip archives of the last run: ${err.message}`))
    .finally(() => {
      active--;
      pump();
    });

  const sweep = setInterval(() => {
    void removeEmptyFolders(opts.dir, opts.emptyFolderAgeMs ?? 60_000, false).catch(() => undefined);
  }, 30_000);
  sweep.unref();

  return {
    name: 'hot folder',
    stop: async () => {
      stopped = true;
      queue.length = 0;
      opts.zips.stop();
      clearInterval(sweep);
      await watcher.close();
      while (active > 0) await new Promise((r) => setTimeout(r, 20));
    },
    /** Resolves when nothing is queued or being received (tests, submit). */
    idle: () => new Promise<void>((resolve) => {
      if (active === 0 && queue.length === 0) resolve();
      else idleWaiters.push(resolve);
    }),
  };
}

/** Remove empty sub-folders (deepest first) untouched for `minAgeMs`; never the hot folder itself. */
async function removeEmptyFolders(dir: string, minAgeMs: number, removeSelf: boolean): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true });
  let empty = true;
  for (const e of entries) {
    if (e.isDirectory() && !e.name.startsWith('.')) {
      if (!(await removeEmptyFolders(path.join(dir, e.name), minAgeMs, true))) empty = false;
    } else {
      empty = false;
    }
  }
  if (!removeSelf || !empty) return false;
  if (Date.now() - (await stat(dir)).mtimeMs < minAgeMs) return false;
  await rmdir(dir).catch(() => undefined);
  return true;
}
