/**
 * Packer stage: validated/ -> packed/. Builds the upload archive of the remote service contract
 * (DESIGN.md): the float32 activity volume as `{task_id}.npy` plus `metadata.json`, zipped into
 * `{task_id}_{client_id}.zip` in the task folder. metadata.json stays next to it (the uploader sends
 * it with POST /processing), and `previews/original.png` (a coronal MIP) is left for the dashboard.
 *
 * Everything is made inside a `.tmp-pack` folder in the task folder and renamed into place at the
 * end, so a crash leaves either nothing or the finished files (start-up recovery removes `.tmp-*`).
 * Peak memory is one volume plus a few compressed chunks: the slices are decoded into one array,
 * which is zipped straight from memory (no .npy file on disk), then dropped.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import type { ApplianceParts } from '../app/appliance.js';
import { effectiveRadiopharmaceuticals } from '../app/effective-settings.js';
import { assembleVolume, type AssembledVolume } from '../imaging/assemble-volume.js';
import { coronalProjectionFromRows, projectionPng } from '../imaging/mip.js';
import { npyHeader } from '../imaging/npy.js';
import { AXIS_ORDER, type Volume } from '../imaging/volume.js';
import type { TaskMetadata } from '../remote/metadata.js';
import { writeZip, type ZipContent } from '../remote/zip-write.js';
import { PermanentError, type Stage, type StageJob, type StageOutcome } from '../runner/stage.js';
import { fsyncPath, renameDurably, writeFileDurably } from '../spool/durable.js';
import { INSTANCES_DIR, TMP_PREFIX } from '../spool/layout.js';
import { IncompleteHeaderError, seriesMetadata, type HeaderMetadata } from './series-metadata.js';
import { readTaskInstances } from './task-headers.js';

export const METADATA_FILE = 'metadata.json';
export const PREVIEWS_DIR = 'previews';
export const ORIGINAL_PREVIEW = 'original.png';

/** `{task_id}_{client_id}.zip`: the archive name both directions of the contract use. */
export function archiveNameFor(taskId: string, clientId: string): string {
  return `${taskId}_${clientId}.zip`;
}

export function packerStage(parts: Pick<ApplianceParts, 'config' | 'store'>): Stage {
  const { config, store } = parts;
  return {
    name: 'packer',
    from: 'validated',
    to: 'packed',
    // One volume in memory at a time.
    concurrency: 1,
    maxAttempts: 5,
    async process(job: StageJob): Promise<StageOutcome> {
      const tracerId = job.record.facts.radiopharmaceutical;
      const tracer = effectiveRadiopharmaceuticals(store.data).find((t) => t.id === tracerId);
      if (!tracer) {
        return { kind: 'fail', reason: `radiopharmaceutical ${String(tracerId)} (set by the validator) is not in the table any more` };
      }
      const clientId = config.remote.client_id;
      const work = path.join(job.dir, `${TMP_PREFIX}pack`);
      await rm(work, { recursive: true, force: true });
      await mkdir(work);
      try {
        let volume: AssembledVolume | undefined = await assembleFrom(job.dir);
        let headerPart;
        try {
          headerPart = seriesMetadata(volume.headers, tracer, { taskId: job.id, clientId });
        } catch (err) {
          if (err instanceof IncompleteHeaderError) throw new PermanentError(err.message);
          throw err;
        }
        const { archive, metadata, preview } = await packVolume(volume, headerPart, work);
        const shape = volume.shape;
        volume = undefined; // zipped; let it go before the files are moved into place

        await mkdir(path.join(job.dir, PREVIEWS_DIR), { recursive: true });
        await writeFileDurably(path.join(job.dir, PREVIEWS_DIR, ORIGINAL_PREVIEW), preview);
        await renameDurably(path.join(work, METADATA_FILE), path.join(job.dir, METADATA_FILE));
        await renameDurably(path.join(work, archive), path.join(job.dir, archive));
        job.log.info(`packed ${shape.join('x')} volume into ${archive}`);
        return {
          kind: 'done',
          detail: `packed ${shape.join('x')} volume`,
          facts: { packed_at: new Date().toISOString(), archive, volume_shape: shape, npy_sha256: metadata.npy_sha256 },
        };
      } finally {
        await rm(work, { recursive: true, force: true });
        await fsyncPath(job.dir).catch(() => undefined);
      }
    },
  };
}

/**
 * The volume of the task's instances (headers from the task's headers.json). Geometry and
 * pixel-data problems cannot heal and fail the task; file-system errors (they carry an errno
 * code) are retried.
 */
async function assembleFrom(taskDir: string): Promise<AssembledVolume> {
  const instances = await readTaskInstances(taskDir);
  if (instances.length === 0) throw new PermanentError(`the task has no images in ${INSTANCES_DIR}/`);
  try {
    return await assembleVolume(instances.map((i) => i.file), instances.map((i) => i.header));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code) throw err;
    throw new PermanentError(`cannot assemble the volume: ${(err as Error).message}`);
  }
}

/**
 * Deflate strategy of the upload archive. Run-length matching only: the noisy float32 voxels offer
 * the full matcher almost nothing beyond runs of zero background, and it compresses about 2.5x
 * faster for archives about 5 % larger (400x256x256 FDG phantom: 22.6 MB instead of 21.4 MB).
 */
const ARCHIVE_DEFLATE_STRATEGY = zlib.constants.Z_RLE;

export interface PackedVolume {
  /** File name of the archive: `{task_id}_{client_id}.zip`. */
  archive: string;
  metadata: TaskMetadata;
  /** previews/original.png: a coronal MIP. */
  preview: Buffer;
}

/**
 * Writes `{task_id}_{client_id}.zip` (`{task_id}.npy` + metadata.json) and metadata.json into
 * `dir` from the assembled volume in memory. The voxels are compressed on the thread pool while
 * the main thread hashes them for metadata.json, which goes into the archive after the .npy, and
 * then draws the preview from the slices' column maxima.
 */
export async function packVolume(volume: Volume & Pick<AssembledVolume, 'coronalRows'>, headerPart: HeaderMetadata, dir: string): Promise<PackedVolume> {
  const npy: ZipContent = [npyHeader(volume.shape), volume.data];
  const metadata = sha256Of(npy).then((npySha256): TaskMetadata => ({
    ...headerPart,
    shape: volume.shape,
    axis_order: AXIS_ORDER,
    spacing_mm: volume.spacing,
    orientation: volume.orientation,
    npy_sha256: npySha256,
  }));
  const metadataBytes = metadata.then((m) => Buffer.from(JSON.stringify(m, null, 2) + '\n'));
  const preview = metadata.then(() => projectionPng(coronalProjectionFromRows(volume.coronalRows, volume)));
  preview.catch(() => undefined); // awaited below; not unhandled if the zip fails first
  const archive = archiveNameFor(headerPart.task_id, headerPart.client_id);
  await writeZip(path.join(dir, archive), [
    { name: `${headerPart.task_id}.npy`, content: npy },
    { name: METADATA_FILE, content: metadataBytes.then((bytes) => [bytes]) },
  ], { strategy: ARCHIVE_DEFLATE_STRATEGY });
  await writeFileDurably(path.join(dir, METADATA_FILE), await metadataBytes);
  return { archive, metadata: await metadata, preview: await preview };
}

const HASH_CHUNK_BYTES = 4 << 20;

/**
 * sha256 of the pieces laid end to end, hashed in chunks that give the event loop a turn in
 * between, so compressed chunks keep being written and new ones handed to the thread pool.
 */
async function sha256Of(pieces: ZipContent): Promise<string> {
  const hash = createHash('sha256');
  for (const piece of pieces) {
    const bytes = new Uint8Array(piece.buffer, piece.byteOffset, piece.byteLength);
    for (let offset = 0; offset < bytes.length; offset += HASH_CHUNK_BYTES) {
      hash.update(bytes.subarray(offset, offset + HASH_CHUNK_BYTES));
      await nextTurn();
    }
  }
  return hash.digest('hex');
}
