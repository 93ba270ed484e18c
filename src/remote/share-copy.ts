import { copyFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fsyncPath } from '../spool/durable.js';
import { temporaryNameFor } from './zip-pack.js';

/**
 * Copy a file into a share folder so that the other side never sees it partial: copy under a
 * hidden temporary name, fsync, rename, fsync the folder. Used by both ends of the share (the
 * uploader and the reference service writing its result).
 */
export async function copyIntoShare(source: string, target: string): Promise<void> {
  const temporary = temporaryNameFor(target);
  try {
    await copyFile(source, temporary);
    await fsyncPath(temporary);
    await rename(temporary, target);
  } catch (err) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw err;
  }
  await fsyncPath(path.dirname(target));
}
