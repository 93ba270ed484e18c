/**
 * Packer stage: validated/ -> packed/. Builds the upload archive of the remote service contract
 * (DESIGN.md): the float32 activity volume as `{task_id}.npy` plus `metadata.json`, zipped into
 * `{task_id}_{client_id}.zip` in the task folder. metadata.json stays next to it (the uploader sends
 * it with POST /processing), and `previews/original.png` (a coronal MIP) is left for the dashboard.
 *
 * Everything is made inside a `.tmp-pack` folder in the task folder and renamed into place at the
 * end, so a crash leaves either nothing or the finished files (start-up recovery removes `.tmp-*`).
 * Peak memory is one volume and its compressed copy: the slices are decoded into one array, which
 * is compressed straight from memory (no .npy file on disk), then dropped. Usually that was done
 * while the series was quiet (pack-ahead.ts), and the packer only writes the archive.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import type { ApplianceParts } from '../runner/appliance-parts.js';
import { effectiveRadiopharmaceuticals } from '../settings/effective-settings.js';
import { assembleVolume, type AssembledVolume } from '../imaging/assemble-volume.js';
import { coronalProjectionFromRows, projectionPng } from '../imaging/mip.js';
import { npyHeader } from '../imaging/npy.js';
import { AXIS_ORDER, type Volume } from '../imaging/volume.js';
import type { TaskMetadata } from '../remote/metadata.js';
import { deflateInMemory, writeZip, type DeflatedContent, type ZipContent } from '../remote/zip-write.js';
import { PermanentError, type Stage, type StageJob, type StageOutcome } from '../runner/stage.js';
import { fsyncPath, renameDurably, writeFileDurably } from '../spool/durable.js';
import { INSTANCES_DIR, TMP_PREFIX } from '../spool/layout.js';
import { IncompleteHeaderError, seriesMetadata, type HeaderMetadata } from '../remote/series-metadata.js';
import { readTaskInstances, type TaskInstance } from './task-headers.js';
import type { PackAhead } from './pack-ahead.js';
import type { InstanceHeader } from '../dicom/instance-header.js';

export const METADATA_FILE = 'metadata.json';
export const PREVIEWS_DIR = 'previews';
export const ORIGINAL_PREVIEW = 'original.png';

/** `{task_id}_{client_id}.zip`: the archive name both directions of the contract use. */
export function archiveNameFor(taskId: string, clientId: string): string {
  return `${taskId}_${clientId}.zip`;
}

export function packerStage(parts: Pick<ApplianceParts, 'config' | 'store'>, packAhead?: PackAhead): Stage {
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
        const instances = await readTaskInstances(job.dir);
        if (instances.length === 0) throw new PermanentError(`the task has no images in ${INSTANCES_DIR}/`);
        const ahead = await packAhead?.take(job.id, instances.map((i) => i.file));
        const compressed = ahead ?? await compressVolume(await assembleFrom(instances));
        let headerPart;
        try {
          headerPart = seriesMetadata(compressed.headers, tracer, { taskId: job.id, clientId });
        } catch (err) {
          if (err instanceof IncompleteHeaderError) throw new PermanentError(err.message);
          throw err;
        }
        const { archive, metadata } = await writeUploadArchive(compressed, headerPart, work);
        await mkdir(path.join(job.dir, PREVIEWS_DIR), { recursive: true });
        await writeFileDurably(path.join(job.dir, PREVIEWS_DIR, ORIGINAL_PREVIEW), compressed.preview);
        await renameDurably(path.join(work, METADATA_FILE), path.join(job.dir, METADATA_FILE));
        await renameDurably(path.join(work, archive), path.join(job.dir, archive));
        const shape = compressed.shape;
        job.log.info(`packed ${shape.join('x')} volume into ${archive}${ahead ? ' (compressed while the series was quiet)' : ''}`);
        return {
          kind: 'done',
          detail: `packed ${shape.join('x')} volume`,
          facts: { packed_at: new Date().toISOString(), archive, volume_shape: shape, npy_sha256: metadata.npy_sha256, packed_ahead: ahead !== undefined },
        };
      } finally {
        await rm(work, { recursive: true, force: true });
        await fsyncPath(job.dir).catch(() => undefined);
      }
    },
  };
}

/**
 * The volume of the task's instances. Geometry and pixel-data problems cannot heal and fail the
 * task; file-system errors (they carry an errno code) are retried.
 */
async function assembleFrom(instances: readonly TaskInstance[]): Promise<AssembledVolume> {
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

/** A series' volume as the upload archive holds it, compressed, with what metadata.json and the preview need. */
export interface CompressedVolume extends Omit<Volume, 'data'> {
  /** `{task_id}.npy`, deflated. */
  npy: DeflatedContent;
  npySha256: string;
  /** Headers in the volume's slice order (metadata.json's series part comes from them). */
  headers: InstanceHeader[];
  /** previews/original.png: a coronal MIP. */
  preview: Buffer;
}

/**
 * The volume's .npy compressed on the thread pool while this thread hashes it for metadata.json,
 * then draws the preview from the slices' column maxima.
 */
export async function compressVolume(volume: AssembledVolume): Promise<CompressedVolume> {
  const npy: ZipContent = [npyHeader(volume.shape), volume.data];
  const deflating = deflateInMemory(npy, { strategy: ARCHIVE_DEFLATE_STRATEGY });
  deflating.catch(() => undefined); // awaited below; not unhandled if hashing fails first
  const npySha256 = await sha256Of(npy);
  const preview = projectionPng(coronalProjectionFromRows(volume.coronalRows, volume));
  const { shape, spacing, orientation, positions, headers } = volume;
  return { npy: await deflating, npySha256, preview, shape, spacing, orientation, positions, headers };
}

/**
 * Writes `{task_id}_{client_id}.zip` (`{task_id}.npy` + metadata.json) and metadata.json into
 * `dir`; returns the archive's file name and the metadata.
 */
export async function writeUploadArchive(volume: CompressedVolume, headerPart: HeaderMetadata, dir: string): Promise<{ archive: string; metadata: TaskMetadata }> {
  const metadata: TaskMetadata = {
    ...headerPart,
    shape: volume.shape,
    axis_order: AXIS_ORDER,
    spacing_mm: volume.spacing,
    orientation: volume.orientation,
    npy_sha256: volume.npySha256,
  };
  const metadataBytes = Buffer.from(JSON.stringify(metadata, null, 2) + '\n');
  const archive = archiveNameFor(headerPart.task_id, headerPart.client_id);
  await writeZip(path.join(dir, archive), [
    { name: `${headerPart.task_id}.npy`, deflated: volume.npy },
    { name: METADATA_FILE, content: [metadataBytes] },
  ]);
  await writeFileDurably(path.join(dir, METADATA_FILE), metadataBytes);
  return { archive, metadata };
}

const HASH_CHUNK_BYTES = 4 << 20;

/**
 * sha256 of the pieces laid end to end, hashed in chunks that give the event loop a turn in
 * between, so compressed chunks keep being collected and new ones handed to the thread pool.
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
