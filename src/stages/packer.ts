/**
 * Packer stage: validated/ -> packed/. Writes the upload archive (remote/upload-archive.ts),
 * `{task_id}_{client_id}.zip`, into the task folder. metadata.json stays next to it (the uploader sends
 * it with POST /processing), and `previews/original.png` (a coronal MIP) is left for the dashboard.
 *
 * Everything is made inside a `.tmp-pack` folder in the task folder and renamed into place at the
 * end, so a crash leaves either nothing or the finished files (start-up recovery removes `.tmp-*`).
 * Peak memory is one volume and its compressed copy: the slices are decoded into one array, which
 * is compressed straight from memory (no .npy file on disk), then dropped. Usually that was done
 * while the series was quiet (pack-ahead.ts), and the packer only writes the archive.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ApplianceParts } from '../runner/appliance-parts.js';
import { effectiveRadiopharmaceuticals } from '../settings/effective-settings.js';
import { assembleVolume, type AssembledVolume } from '../imaging/assemble-volume.js';
import { PermanentError, type Stage, type StageJob, type StageOutcome } from '../runner/stage.js';
import { fsyncPath, renameDurably, writeFileDurably } from '../spool/durable.js';
import { PREVIEWS_DIR } from '../spool/output-series.js';
import { compressVolume, METADATA_FILE, writeUploadArchive } from '../remote/upload-archive.js';
import { INSTANCES_DIR, TMP_PREFIX } from '../spool/layout.js';
import { IncompleteHeaderError, seriesMetadata } from '../remote/series-metadata.js';
import { readTaskInstances, type TaskInstance } from './task-headers.js';
import type { PackAhead } from './pack-ahead.js';

export const ORIGINAL_PREVIEW = 'original.png';

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
