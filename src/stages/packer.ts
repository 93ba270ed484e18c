/**
 * Packer stage: validated/ -> packed/. Builds the upload archive of the remote service contract
 * (DESIGN.md): the float32 activity volume as `{task_id}.npy` plus `metadata.json`, zipped into
 * `{task_id}_{client_id}.zip` in the task folder. metadata.json stays next to it (the uploader sends
 * it with POST /processing), and `previews/original.png` (a coronal MIP) is left for the dashboard.
 *
 * Everything is made inside a `.tmp-pack` folder in the task folder and renamed into place at the
 * end, so a crash leaves either nothing or the finished files (start-up recovery removes `.tmp-*`).
 * Peak memory is one volume: the slices are decoded into one array, written out, then dropped.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import path from 'node:path';
import type { ApplianceParts } from '../app/appliance.js';
import { effectiveRadiopharmaceuticals } from '../app/effective-settings.js';
import { assembleVolume, type AssembledVolume } from '../imaging/assemble-volume.js';
import { mipPng } from '../imaging/mip.js';
import { npyHeader, writeNpy } from '../imaging/npy.js';
import { AXIS_ORDER } from '../imaging/volume.js';
import type { TaskMetadata } from '../remote/metadata.js';
import { packZip } from '../remote/zip-pack.js';
import { PermanentError, type Stage, type StageJob, type StageOutcome } from '../runner/stage.js';
import { fsyncPath, renameDurably, writeFileDurably } from '../spool/durable.js';
import { INSTANCES_DIR, TMP_PREFIX } from '../spool/layout.js';
import { IncompleteHeaderError, seriesMetadata } from './series-metadata.js';

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
        let volume: AssembledVolume | undefined = await assembleFrom(path.join(job.dir, INSTANCES_DIR));
        let headerPart;
        try {
          headerPart = seriesMetadata(volume.headers, tracer, { taskId: job.id, clientId });
        } catch (err) {
          if (err instanceof IncompleteHeaderError) throw new PermanentError(err.message);
          throw err;
        }
        const npy = path.join(work, `${job.id}.npy`);
        // The checksum is taken from memory while the file is written, not read back afterwards.
        const writing = writeNpy(npy, volume.data, volume.shape);
        // (finally: never leave the write running, or its failure unhandled, if hashing throws)
        const npySha256 = await npySha256Of(volume.data, volume.shape).finally(() => writing.catch(() => undefined));
        await writing;
        const metadata: TaskMetadata = {
          ...headerPart,
          shape: volume.shape,
          axis_order: AXIS_ORDER,
          spacing_mm: volume.spacing,
          orientation: volume.orientation,
          npy_sha256: npySha256,
        };
        const preview = mipPng(volume);
        const shape = volume.shape;
        volume = undefined; // the volume is on disk now; let it go before 7z runs

        const metadataFile = path.join(work, METADATA_FILE);
        await writeFile(metadataFile, JSON.stringify(metadata, null, 2) + '\n');
        const archive = archiveNameFor(job.id, clientId);
        await packZip(path.join(work, archive), [npy, metadataFile]);

        await mkdir(path.join(job.dir, PREVIEWS_DIR), { recursive: true });
        await writeFileDurably(path.join(job.dir, PREVIEWS_DIR, ORIGINAL_PREVIEW), preview);
        await renameDurably(metadataFile, path.join(job.dir, METADATA_FILE));
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
 * The volume of the task's instances. Geometry and pixel-data problems cannot heal and fail the
 * task; file-system errors (they carry an errno code) are retried.
 */
async function assembleFrom(instancesDir: string): Promise<AssembledVolume> {
  const files = (await readdir(instancesDir)).filter((n) => n.endsWith('.dcm')).sort().map((n) => path.join(instancesDir, n));
  if (files.length === 0) throw new PermanentError(`the task has no images in ${INSTANCES_DIR}/`);
  try {
    return await assembleVolume(files);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code) throw err;
    throw new PermanentError(`cannot assemble the volume: ${(err as Error).message}`);
  }
}

const HASH_CHUNK_BYTES = 8 << 20;

/**
 * sha256 of the .npy writeNpy writes for this volume (header, then the voxels as they lie in
 * memory), hashed in chunks that give the event loop a turn in between, so the write proceeds
 * meanwhile.
 */
async function npySha256Of(data: Float32Array, shape: readonly number[]): Promise<string> {
  const hash = createHash('sha256').update(npyHeader(shape));
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let offset = 0; offset < bytes.length; offset += HASH_CHUNK_BYTES) {
    hash.update(bytes.subarray(offset, offset + HASH_CHUNK_BYTES));
    await nextTurn();
  }
  return hash.digest('hex');
}
