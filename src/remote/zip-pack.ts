import { randomBytes } from 'node:crypto';
import { rename, rm, stat } from 'node:fs/promises';
import { fsyncPath } from '../spool/durable.js';
import path from 'node:path';
import Seven from 'node-7z';

export interface PackZipOptions {
  /** 7z executable; default $PETSPOOL_7Z or `7z` on PATH (Debian: p7zip-full, /usr/bin/7z). */
  sevenZipBin?: string;
  /** Deflate level 0-9. Default 1: float voxels gain little from harder work, and packing is on the critical path. */
  level?: number;
}

/**
 * Name for an archive being written: hidden and ending in `.tmp`, so watchers of the folder (the
 * downloader polls `*.zip` in the share) never pick up a half-written archive.
 */
/** Names temporaryNameFor gives, for the start-up sweep of leftovers in the share. */
export const TEMPORARY_NAME = /^\..+\.\d+-[0-9a-f]{8}\.tmp$/;

export function temporaryNameFor(finalPath: string): string {
  return path.join(path.dirname(finalPath), `.${path.basename(finalPath)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Zip `files` (stored under their base names) into `zipPath` with 7z. Written under a temporary
 * name in the same folder, checked (7z exit status), fsynced, then renamed into place, so
 * `zipPath` either does not exist or is a complete archive.
 */
export async function packZip(zipPath: string, files: string[], opts: PackZipOptions = {}): Promise<void> {
  if (files.length === 0) throw new Error('packZip: no files to pack');
  const names = files.map((f) => path.basename(f));
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate) throw new Error(`packZip: two files are named ${duplicate}`);
  for (const file of files) {
    const st = await stat(file).catch(() => null);
    if (!st?.isFile()) throw new Error(`packZip: ${file} is not a readable file`);
  }

  const bin = opts.sevenZipBin ?? process.env.PETSPOOL_7Z ?? '7z';
  const level = opts.level ?? 1;
  const temporary = temporaryNameFor(zipPath);
  try {
    await run7zAdd(bin, temporary, files.map((f) => path.resolve(f)), level, path.basename(zipPath));
    await fsyncPath(temporary);
    await rename(temporary, zipPath);
    await fsyncPath(path.dirname(zipPath));
  } catch (err) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * node-7z reports 'end' even when 7z failed or was killed, so the child's own exit status is
 * what decides success; 7z's stderr text (node-7z's 'error') explains the failure.
 */
function run7zAdd(bin: string, archive: string, files: string[], level: number, displayName: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = Seven.add(archive, files, {
      $bin: bin,
      archiveType: 'zip',
      // -mx: deflate level; -bd: no progress indicator.
      $raw: [`-mx=${level}`, '-bd'],
    });
    const child = (stream as unknown as { _childProcess: import('node:child_process').ChildProcess })._childProcess;
    let stderrMessage = '';
    let spawnError: NodeJS.ErrnoException | null = null;
    stream.on('error', (err: Error & { stderr?: string }) => {
      stderrMessage ||= (err.stderr ?? err.message).trim().split('\n').filter(Boolean).join(' ');
    });
    // Consume the object stream so node-7z never stalls on back-pressure.
    stream.on('data', () => undefined);
    child.once('error', (err: NodeJS.ErrnoException) => { spawnError = err; });
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      if (spawnError?.code === 'ENOENT') reject(new Error(`7z not found (${bin}): install p7zip-full`));
      else if (spawnError) reject(new Error(`7z could not be started (${bin}): ${spawnError.message}`));
      else if (signal) reject(new Error(`7z was killed by ${signal} while writing ${displayName}`));
      else if (code !== 0) {
        reject(new Error(`7z failed with exit code ${code} writing ${displayName}${stderrMessage ? `: ${stderrMessage}` : ''}`));
      } else resolve();
    });
  });
}

