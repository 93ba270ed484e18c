/**
 * syncfs(2) on the file system holding `dir`: every file written there so far, and every rename,
 * is on disk when this returns. One call instead of an fsync per file and per folder. Node has
 * no binding for it; coreutils' `sync -f` (present on every Debian) is that call, and reports a
 * failed writeback in its exit status. Blocking: for threads that have nothing else to do
 * meanwhile (the intake journal's checkpoint thread), or for start-up.
 */
import { execFileSync } from 'node:child_process';

export function syncFilesystem(dir: string): void {
  try {
    execFileSync('sync', ['-f', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const { stderr, message } = err as Error & { stderr?: Buffer };
    throw new Error(`sync -f ${dir} failed: ${stderr?.toString().trim() || message}`);
  }
}
