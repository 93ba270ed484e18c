/**
 * Builds tasks the way the remote leg leaves them in downloaded/: the original instances, the
 * uploaded metadata.json, and result.zip (the service's archive, as the downloader keeps it once
 * verified), or result/ (its extracted content) as the previous version left it. The result is
 * either the reference service's real processing of the upload or a volume the test chooses.
 */
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { synthesizePetSeries, type SynthOptions } from '../../src/series/synth.js';
import { assembleVolume, type AssembledVolume } from '../../src/imaging/assemble-volume.js';
import { writeNpy } from '../../src/imaging/npy.js';
import { AXIS_ORDER } from '../../src/imaging/volume.js';
import { sha256File, type TaskMetadata } from '../../src/remote/metadata.js';
import { LEGACY_RESULT_DIR, RESULT_ARCHIVE } from '../../src/remote/result-archive.js';
import { processUpload } from '../../src/reference-service/reference-processing.js';
import { extractZipSafely } from '../../src/remote/zip-extract.js';
import { packZip } from '../../src/remote/zip-pack.js';
import { INSTANCES_DIR, type TaskFolder } from '../../src/spool/layout.js';
import type { Spool } from '../../src/spool/spool.js';
import { newTaskId, newTaskRecord } from '../../src/spool/task-record.js';

export const CLIENT_ID = 'site-01';

export interface TaskOptions {
  synth?: SynthOptions;
  /** "ae:<AE>" (default "ae:MODALITY") or "hotfolder". */
  sender?: string;
  facts?: Record<string, unknown>;
  /**
   * What the result holds: 'reference' runs the reference service on the upload; a function maps
   * the original volume to the result; 'none' leaves the result out for the test to write.
   */
  result?: 'reference' | 'none' | ((original: AssembledVolume) => Float32Array);
  /** 'result-zip' (default): result.zip as the downloader leaves it; 'legacy-dir': result/ as the previous version did. */
  layout?: 'result-zip' | 'legacy-dir';
  folder?: TaskFolder;
}

export interface BuiltTask {
  id: string;
  dir: string;
  original: AssembledVolume;
  uploaded: TaskMetadata;
}

export async function makeTask(spool: Spool, opts: TaskOptions = {}): Promise<BuiltTask> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'petspool-results-task-'));
  try {
    const id = newTaskId();
    const files = await synthesizePetSeries(path.join(work, 'series'), { slices: 12, size: 32, ...opts.synth });
    const original = await assembleVolume(files);
    const npy = path.join(work, `${id}.npy`);
    await writeNpy(npy, original.data, original.shape);
    const first = original.headers[0]!;
    const uploaded = uploadedMetadata(id, original, await sha256File(npy), first.manufacturerModelName ?? null);
    const metadataFile = path.join(work, 'metadata.json');
    await writeFile(metadataFile, JSON.stringify(uploaded, null, 2));

    let resultZip: string | undefined;
    const result = opts.result ?? 'reference';
    if (result === 'reference') {
      const upload = path.join(work, `${id}_${CLIENT_ID}.zip`);
      await packZip(upload, [npy, metadataFile]);
      await mkdir(path.join(work, 'inbox'));
      resultZip = await processUpload({ archivePath: upload, taskId: id, clientId: CLIENT_ID, inboxDir: path.join(work, 'inbox') });
    } else if (typeof result === 'function') {
      resultZip = path.join(work, 'result.zip');
      await writeResultZip(resultZip, uploaded, result(original), original.shape);
    }

    const record = newTaskRecord({
      id, sender: opts.sender ?? 'ae:MODALITY', series_instance_uid: first.seriesInstanceUid,
      study_instance_uid: first.studyInstanceUid, images: files.length, facts: opts.facts ?? {},
    });
    const dir = await spool.createTask(opts.folder ?? 'downloaded', record, async (tmp) => {
      await mkdir(path.join(tmp, INSTANCES_DIR));
      for (const [i, file] of files.entries()) await copyFile(file, path.join(tmp, INSTANCES_DIR, `IM${String(i).padStart(5, '0')}.dcm`));
      await copyFile(metadataFile, path.join(tmp, 'metadata.json'));
      if (resultZip && opts.layout === 'legacy-dir') await placeLegacyResult(tmp, resultZip);
      else if (resultZip) await placeResult(tmp, resultZip);
    });
    return { id, dir, original, uploaded };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const ROOMY = { maxEntries: 8, maxTotalBytes: 1024 ** 3, maxEntryBytes: 1024 ** 3 };

/**
 * A result archive as result.zip in a task folder, unchecked: what the downloader keeps once it
 * verified the archive, or what a test wants the unpacker to find there.
 */
export async function placeResult(taskDir: string, zipPath: string): Promise<void> {
  await copyFile(zipPath, path.join(taskDir, RESULT_ARCHIVE));
}

/** The content of a result archive as result/ in a task folder, unchecked, as the previous version left it. */
export async function placeLegacyResult(taskDir: string, zipPath: string): Promise<void> {
  await extractZipSafely(zipPath, path.join(taskDir, LEGACY_RESULT_DIR), ROOMY);
}

/** A result archive with `data` as {task_id}.npy (in `shape`) and a result metadata.json; `patch` overrides fields. */
export async function writeResultZip(zipPath: string, uploaded: TaskMetadata, data: Float32Array,
  shape: readonly number[], patch: Partial<TaskMetadata> = {}): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'petspool-result-zip-'));
  try {
    const npy = path.join(work, `${uploaded.task_id}.npy`);
    await writeNpy(npy, data, shape);
    const metadata: TaskMetadata = {
      ...uploaded, npy_sha256: await sha256File(npy),
      processing: { method: 'test', description: 'test result', service: 'test', processed_at: new Date().toISOString() },
      ...patch,
    };
    await writeFile(path.join(work, 'metadata.json'), JSON.stringify(metadata));
    await packZip(zipPath, [npy, path.join(work, 'metadata.json')]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function uploadedMetadata(id: string, volume: AssembledVolume, sha: string, scanner: string | null): TaskMetadata {
  const h = volume.headers[0]!;
  return {
    task_id: id, client_id: CLIENT_ID, shape: volume.shape, axis_order: AXIS_ORDER, spacing_mm: volume.spacing,
    orientation: volume.orientation, units: 'BQML',
    radiopharmaceutical: { name: h.radiopharmaceutical?.name ?? 'Fluorodeoxyglucose', code: null, nuclide: 'F-18' },
    half_life_s: 6586.2, dose_bq: 3.5e8, injection_datetime: '2025-01-01T10:00:00', series_date: '20250101', series_time: '110000',
    patient: { weight_kg: 75, size_m: 1.8, age: null }, scanner_model: scanner, reconstruction: { method: 'OSEM' }, npy_sha256: sha,
  };
}

/** SOPInstanceUIDs of the files DCMTK storescp wrote into `dir` (it names each file after its SOP instance). */
export async function receivedFiles(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));
}

/** Resolves with the folder once the task sits in one of `folders`; throws after `ms`. */
export async function waitForTask(spool: Spool, id: string, folders: TaskFolder[], ms = 20_000): Promise<TaskFolder> {
  const deadline = Date.now() + ms;
  for (;;) {
    for (const f of folders) if (await spool.hasTask(f, id)) return f;
    if (Date.now() > deadline) {
      const where = await spool.locateTask(id).then((t) => `${t.folder} (${JSON.stringify(t.record.facts.last_error ?? t.record.reason)})`, () => 'nowhere');
      throw new Error(`task ${id} did not reach ${folders.join('/')} within ${ms} ms; it is in ${where}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
