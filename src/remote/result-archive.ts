/**
 * Turns a result archive (`{task_id}.npy` + `metadata.json` from the remote service) into the task
 * folder's verified `result/` in one pass through the decompressor:
 *
 * - every entry goes through the checks of zip-extract.ts (names, counts, sizes, CRC-32) into a
 *   temporary `.tmp-…-result` folder beside `result/`, the .npy's sha256 computed on the way;
 * - metadata.json must parse, name the task, and carry that sha256;
 * - the files and the folder are fsynced, then the folder is renamed to `result/`.
 *
 * So `result/` exists only with verified, durable content, and readers need not hash the volume
 * again. A crash before the rename leaves only the `.tmp-` folder, which start-up recovery removes.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { renameDurably, tmpNameIn } from '../spool/durable.js';
import { parseTaskMetadata, type TaskMetadata } from './metadata.js';
import { extractZipInto, type ExtractLimits } from './zip-extract.js';

/** The verified result in a task folder. */
export const RESULT_DIR = 'result';
/** Where an earlier version kept the result: the archive itself, extracted by the unpacker. */
export const LEGACY_RESULT_ZIP = 'result.zip';
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
 * Extract `zipPath` into `resultDir` (replacing an earlier attempt's), verified as the module
 * comment says. Throws ZipRefusedError (zip-extract.ts) for an archive that is damaged or breaks
 * the limits, ResultArchiveError for one without a usable result, ResultChecksumError for a sha256
 * mismatch, anything else for local I/O failures; then nothing of it is left in the task folder.
 */
export async function extractResultArchive(zipPath: string, resultDir: string, taskId: string, limits: ExtractLimits): Promise<VerifiedResult> {
  const npyName = `${taskId}.npy`;
  const temporary = tmpNameIn(path.dirname(resultDir), path.basename(resultDir));
  await mkdir(temporary);
  try {
    const hash = createHash('sha256');
    const entries = await extractZipInto(zipPath, temporary, limits, (name) => (name === npyName ? (chunk) => hash.update(chunk) : undefined));
    const metadataEntry = entries.find((e) => e.name === RESULT_METADATA_FILE);
    if (!metadataEntry) throw new ResultArchiveError('the result archive has no metadata.json');
    if (metadataEntry.size > MAX_METADATA_BYTES) throw new ResultArchiveError('metadata.json is larger than 1 MiB');
    if (!entries.some((e) => e.name === npyName)) throw new ResultArchiveError(`the result archive has no ${npyName}`);
    const metadata = parseResultMetadata(await readFile(path.join(temporary, RESULT_METADATA_FILE), 'utf8'), taskId);
    const npySha256 = hash.digest('hex');
    if (npySha256 !== metadata.npy_sha256) throw new ResultChecksumError(`sha256 of ${npyName} does not match the result metadata.json`);
    // What is there was left by an attempt whose archive is still on the share (or in the task folder).
    await rm(resultDir, { recursive: true, force: true });
    await renameDurably(temporary, resultDir);
    return { metadata, npySha256 };
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
}

/**
 * The verified result already in `resultDir` (placed by extractResultArchive before a restart), or
 * undefined when there is none.
 */
export async function readVerifiedResult(resultDir: string, taskId: string): Promise<VerifiedResult | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(resultDir, RESULT_METADATA_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const metadata = parseResultMetadata(text, taskId);
  return { metadata, npySha256: metadata.npy_sha256 };
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
