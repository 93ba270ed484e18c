import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readNpyShared, writeNpy } from '../imaging/npy.js';
import { medianFilterInWorkers } from './median-filter-parallel.js';
import { parseTaskMetadata, sha256File, type TaskMetadata } from '../remote/metadata.js';
import { corruptZipInPlace, writeCraftedZip, writeZipBomb, ZIP_BOMB_BYTES, type ReferenceFaults } from './reference-faults.js';
import { extractZipSafely } from '../remote/zip-extract.js';
import { packZip } from '../remote/zip-pack.js';
import { copyIntoShare } from '../remote/share-copy.js';

export const PROCESSING_METHOD = 'median-3x3x3';
export const PROCESSING_DESCRIPTION =
  '3x3x3 median filter (each voxel replaced by the median of its 27-voxel neighbourhood; ' +
  'edges extended by repeating the border voxels), petspool reference service';

const GiB = 1024 ** 3;

/** An upload is two files with plain names; anything else in it is refused. */
const UPLOAD_LIMITS = { maxEntries: 2, maxEntryBytes: 2 * GiB, maxTotalBytes: 2 * GiB + 1024 ** 2, allowedNames: /^[A-Za-z0-9._-]+$/ };

export interface ProcessingJob {
  archivePath: string;
  taskId: string;
  clientId: string;
  inboxDir: string;
  /** What to write as the result (the 'result' fault); default a sound archive. */
  result?: ReferenceFaults['result'];
}

/**
 * The reference service's work on one task: unpack the upload, check it against its metadata,
 * denoise the volume, and place `{task_id}_{client_id}.zip` (result .npy + metadata.json) in the
 * results folder atomically. Throws with the reason when the upload is unusable. Returns the
 * result archive's path.
 */
export async function processUpload(job: ProcessingJob): Promise<string> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'petspool-reference-'));
  try {
    const uploadDir = path.join(work, 'upload');
    await extractZipSafely(job.archivePath, uploadDir, UPLOAD_LIMITS);
    const metadata = parseTaskMetadata(JSON.parse(await readFile(path.join(uploadDir, 'metadata.json'), 'utf8').catch(() => {
      throw new Error('upload has no metadata.json');
    })) as unknown);
    if (metadata.task_id !== job.taskId) throw new Error(`metadata.json is for task ${metadata.task_id}, not ${job.taskId}`);
    const npyName = `${job.taskId}.npy`;
    const npyPath = path.join(uploadDir, npyName);
    const sha = await sha256File(npyPath).catch(() => { throw new Error(`upload has no ${npyName}`); });
    if (sha !== metadata.npy_sha256) throw new Error(`sha256 of ${npyName} does not match metadata.json (upload damaged?)`);
    const volume = await readNpyShared(npyPath);
    if (volume.shape.length !== 3 || volume.shape.some((n, i) => n !== metadata.shape[i])) {
      throw new Error(`${npyName} has shape ${volume.shape.join('x')}, metadata.json says ${metadata.shape.join('x')}`);
    }

    const filtered = await medianFilterInWorkers(volume.data, metadata.shape);
    const resultDir = path.join(work, 'result');
    await mkdir(resultDir);
    const resultNpy = path.join(resultDir, npyName);
    await writeNpy(resultNpy, filtered, metadata.shape);
    const resultMetadata: TaskMetadata = {
      ...metadata,
      npy_sha256: await sha256File(resultNpy),
      processing: {
        method: PROCESSING_METHOD,
        description: PROCESSING_DESCRIPTION,
        service: 'petspool reference-server',
        processed_at: new Date().toISOString(),
      },
    };
    const resultJson = path.join(resultDir, 'metadata.json');
    await writeFile(resultJson, JSON.stringify(resultMetadata, null, 2));

    const target = path.join(job.inboxDir, `${job.taskId}_${job.clientId}.zip`);
    await writeResult(job.result ?? 'ok', target, resultNpy, resultJson, work);
    return target;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Every variant appears in the results folder in one rename, like a well-behaved writer. */
async function writeResult(kind: NonNullable<ReferenceFaults['result']>, target: string, npy: string, json: string, work: string): Promise<void> {
  switch (kind) {
    case 'ok':
      return packZip(target, [npy, json]);
    case 'corrupt': {
      const local = path.join(work, path.basename(target));
      await packZip(local, [npy, json]);
      await corruptZipInPlace(local);
      return copyIntoShare(local, target);
    }
    case 'zip-slip':
      // The escaping entry comes first, so an unsafe extractor writes outside before anything else.
      return writeCraftedZip(target, [
        { name: '../x', data: Buffer.from('written outside the target folder\n') },
        { name: path.basename(json), data: await readFile(json) },
        { name: path.basename(npy), data: await readFile(npy) },
      ]);
    case 'zip-bomb':
      return writeZipBomb(target, path.basename(npy), ZIP_BOMB_BYTES, {
        otherEntries: [{ name: path.basename(json), data: await readFile(json) }],
      });
  }
}

