/**
 * The service's result archive (`{task_id}.npy` + `metadata.json`) in a task folder:
 *
 * - placeResultArchive copies it from the share once into a temporary folder beside the task's
 *   `result.zip`, reads and checks it there in memory while the copy is fsynced, and only then
 *   renames it to `result.zip`: so `result.zip` exists only as a verified, durable archive;
 * - readResultArchive is that check, for the unpacker after a restart: every entry through the
 *   checks of zip-extract.ts (names, counts, sizes) into memory, the .npy's sha256 computed on
 *   the way and compared with metadata.json, which must parse and name the task (the sha256
 *   stands in for the .npy's CRC-32; the other entries' CRC-32 is checked).
 *
 * The archive is kept rather than its extracted content: it is a fraction of the volume's size,
 * and what the unpacker needs it gets in memory from the downloader (result-handoff.ts).
 * A crash before the rename leaves only a `.tmp-` folder, which start-up recovery removes.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { npyView, readNpyShared, type NpyArray } from '../imaging/npy.js';
import { fsyncPath, renameDurably, tmpNameIn } from '../spool/durable.js';
import { parseTaskMetadata, type TaskMetadata } from './metadata.js';
import { readZipIntoMemory, type ExtractLimits } from './zip-extract.js';

/** The verified result archive in a task folder. */
export const RESULT_ARCHIVE = 'result.zip';
/** Where the previous version kept the result: the archive's content, extracted and verified. */
export const LEGACY_RESULT_DIR = 'result';
export const RESULT_METADATA_FILE = 'metadata.json';

const MAX_METADATA_BYTES = 1024 * 1024;
const KiB = 1024;

/**
 * Limits for a result archive whose volume has `voxels` float32 values: the .npy plus metadata.json,
 * a little slack for a service that adds a file; a bomb or a wrong volume is stopped early.
 */
export function resultArchiveLimits(voxels: number): ExtractLimits {
  const volumeBytes = voxels * 4;
  return {
    maxEntries: 4,
    maxEntryBytes: volumeBytes + 64 * KiB,
    maxTotalBytes: 4 * volumeBytes + 1024 * KiB,
    allowedNames: /^[A-Za-z0-9._-]+$/,
  };
}

export interface VerifiedResult {
  metadata: TaskMetadata;
  npySha256: string;
  /** The processed volume, in shared memory. */
  volume: NpyArray;
}

/** A result archive that is sound as a zip but does not hold a usable result. */
export class ResultArchiveError extends Error {
  override name = 'ResultArchiveError';
}

/** The .npy does not hash to its metadata.json's npy_sha256: damaged bytes (or a writer still busy). */
export class ResultChecksumError extends Error {
  override name = 'ResultChecksumError';
}

/**
 * Copy `sharedArchive` into `taskDir` and verify it as the module comment says; resolves once it
 * is durably in place as `result.zip` (replacing an earlier attempt's). Throws as
 * readResultArchive does, or for local I/O failures; then nothing of it is left in the task folder.
 */
export async function placeResultArchive(sharedArchive: string, taskDir: string, taskId: string, limits: ExtractLimits): Promise<VerifiedResult> {
  // In a folder of its own so that it keeps its name, which the refusal messages show.
  const temporary = tmpNameIn(taskDir, 'result');
  await mkdir(temporary);
  try {
    const copy = path.join(temporary, path.basename(sharedArchive));
    await copyFile(sharedArchive, copy, fsConstants.COPYFILE_EXCL);
    const synced = fsyncPath(copy);
    synced.catch(() => undefined); // awaited below, unless the check fails first
    const result = await readResultArchive(copy, taskId, limits);
    await synced;
    await renameDurably(copy, path.join(taskDir, RESULT_ARCHIVE));
    return result;
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
}

/**
 * The verified content of the result archive `zipPath`. Throws ZipRefusedError (zip-extract.ts)
 * for an archive that is damaged or breaks the limits, ResultArchiveError for one without a usable
 * result, ResultChecksumError for a sha256 mismatch.
 */
export async function readResultArchive(zipPath: string, taskId: string, limits: ExtractLimits): Promise<VerifiedResult> {
  const npyName = `${taskId}.npy`;
  const hash = createHash('sha256');
  const entries = await readZipIntoMemory(zipPath, limits, (name) => (name === npyName ? (chunk) => hash.update(chunk) : undefined));
  const metadataBytes = entries.get(RESULT_METADATA_FILE);
  if (!metadataBytes) throw new ResultArchiveError('the result archive has no metadata.json');
  if (metadataBytes.length > MAX_METADATA_BYTES) throw new ResultArchiveError('metadata.json is larger than 1 MiB');
  const npyBytes = entries.get(npyName);
  if (!npyBytes) throw new ResultArchiveError(`the result archive has no ${npyName}`);
  const metadata = parseResultMetadata(Buffer.from(metadataBytes).toString('utf8'), taskId);
  const npySha256 = hash.digest('hex');
  if (npySha256 !== metadata.npy_sha256) throw new ResultChecksumError(`sha256 of ${npyName} does not match the result metadata.json`);
  let volume: NpyArray;
  try {
    volume = npyView(npyBytes);
  } catch (err) {
    throw new ResultArchiveError(`${npyName} is unreadable: ${(err as Error).message}`);
  }
  return { metadata, npySha256, volume };
}

/**
 * The verified result placed in `taskDir` (placeResultArchive's result.zip, read and checked
 * again; or result/ of the previous version), or undefined when there is none.
 */
export async function readPlacedResult(taskDir: string, taskId: string, limits: ExtractLimits): Promise<VerifiedResult | undefined> {
  const archive = path.join(taskDir, RESULT_ARCHIVE);
  if (await stat(archive).then((s) => s.isFile(), () => false)) return readResultArchive(archive, taskId, limits);
  return readLegacyResultDir(path.join(taskDir, LEGACY_RESULT_DIR), taskId);
}

/**
 * The result as the previous version left it in `resultDir` (extracted and verified before its
 * rename, so not hashed again), or undefined when there is none.
 */
async function readLegacyResultDir(resultDir: string, taskId: string): Promise<VerifiedResult | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(resultDir, RESULT_METADATA_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const metadata = parseResultMetadata(text, taskId);
  const npyName = `${taskId}.npy`;
  let volume: NpyArray;
  try {
    volume = await readNpyShared(path.join(resultDir, npyName));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ResultArchiveError(`the result has no ${npyName}`);
    throw new ResultArchiveError(`${npyName} is unreadable: ${(err as Error).message}`);
  }
  return { metadata, npySha256: metadata.npy_sha256, volume };
}

function parseResultMetadata(text: string, taskId: string): TaskMetadata {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ResultArchiveError('metadata.json in the result archive is not JSON');
  }
  let metadata: TaskMetadata;
  try {
    metadata = parseTaskMetadata(parsed);
  } catch (err) {
    throw new ResultArchiveError((err as Error).message);
  }
  if (metadata.task_id !== taskId) throw new ResultArchiveError(`result metadata.json is for task ${metadata.task_id}, not ${taskId}`);
  return metadata;
}
