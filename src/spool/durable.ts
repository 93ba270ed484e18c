import { writevSync } from 'node:fs';
import { open, rename, rm, mkdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { TMP_PREFIX } from './layout.js';

/**
 * fsync a file (its bytes survive a power cut) or a folder (entries created or renamed in it do).
 */
export async function fsyncPath(target: string): Promise<void> {
  const fh = await open(target, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function tmpNameIn(dir: string, hint: string): string {
  return path.join(dir, `${TMP_PREFIX}${randomBytes(4).toString('hex')}-${hint}`);
}

/** Write a file under a temporary name, fsync it, rename it into place and fsync the folder. */
export async function writeFileDurably(file: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  const tmp = tmpNameIn(dir, path.basename(file));
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncPath(dir);
}

/** rename(2) then fsync both parents: after this returns the move survives a crash. */
export async function renameDurably(from: string, to: string): Promise<void> {
  await rename(from, to);
  const a = path.dirname(from);
  const b = path.dirname(to);
  await fsyncPath(b);
  if (a !== b) await fsyncPath(a);
}

export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}

/** writev until every byte is written: a short write must not pass for a complete file. */
export async function writeAll(handle: FileHandle, buffers: readonly Uint8Array[]): Promise<void> {
  let pending = buffers;
  while (pending.length > 0) pending = unwritten(pending, (await handle.writev([...pending])).bytesWritten);
}

/**
 * writeAll for a file descriptor, blocking (for worker threads, which have nothing else to do
 * meanwhile, and the intake journal's page-cache writes); at `position` when given.
 */
export function writeAllSync(fd: number, buffers: readonly Uint8Array[], position?: number): void {
  let pending = buffers;
  let at = position;
  while (pending.length > 0) {
    const written = writevSync(fd, [...pending], at);
    if (at !== undefined) at += written;
    pending = unwritten(pending, written);
  }
}

/** What is left of `pending` after a write took its first `bytesWritten` bytes. */
function unwritten(pending: readonly Uint8Array[], bytesWritten: number): readonly Uint8Array[] {
  if (bytesWritten === 0) throw new Error('the disk accepted no more bytes');
  let rest = pending;
  while (rest.length > 0 && bytesWritten >= rest[0]!.length) {
    bytesWritten -= rest[0]!.length;
    rest = rest.slice(1);
  }
  if (rest.length > 0 && bytesWritten > 0) rest = [rest[0]!.subarray(bytesWritten), ...rest.slice(1)];
  return rest;
}
