/**
 * Unpacker (downloaded → unpacked): reads the result the downloader left in the task folder,
 * checks it against what was uploaded, and turns the processed volume into one new DICOM series
 * per applicable post-filter, with a MIP preview of each.
 *
 * Without a quality-control hold the task goes from downloaded/ to unpacking_sending/ first and is
 * unpacked there (unpacking_sending → unpacked), each series but the last handed to the delivery
 * engine as soon as it is written, while the next is made; the sender stage then sends what is
 * left. The folder says so: a task in downloaded/ has sent nothing, nor has one unpacked under a
 * quality-control hold.
 *
 * Task folder layout it reads and writes:
 *   metadata.json              what the packer uploaded (shape, scanner, tracer)
 *   result.zip                 the service's archive, verified by the downloader, which normally
 *                              hands its content over in memory; read and verified again here
 *                              after a restart (a folder of the previous version has result/,
 *                              the extracted content, instead)
 *   outputs/<filter>/, previews/<filter>.png   the output series (spool/output-series.ts)
 * An output folder is written as outputs/.tmp-<filter>/ and renamed whole, so after a crash it is
 * either complete (and reused) or gone (start-up recovery removes .tmp- entries).
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import type { FilterConfig } from '../config/schema.js';
import type { Store } from '../db/store.js';
import { prepareDerivedSeries, SourceHeaders, writePreparedSeries, type PreparedSeries } from '../series/derived-series.js';
import { arrangeSlices } from '../imaging/assemble-volume.js';
import { gaussianOutputSlices } from '../imaging/gaussian.js';
import { ImagingPool } from '../imaging/worker-pool.js';
import type { OutputSlices } from '../imaging/output-slices.js';
import { voxelCount, type Volume, type VolumeGeometry } from '../imaging/volume.js';
import { parseTaskMetadata, type TaskMetadata } from '../remote/metadata.js';
import {
  readPlacedResult, RESULT_ARCHIVE, resultArchiveLimits, ResultArchiveError, ResultChecksumError,
  type VerifiedResult,
} from '../remote/result-archive.js';
import { ZipRefusedError } from '../remote/zip-extract.js';
import { METADATA_FILE } from '../remote/upload-archive.js';
import { INSTANCES_DIR, TMP_PREFIX } from '../spool/layout.js';
import { ensureDir, renameDurably, writeFileDurably } from '../spool/durable.js';
import {
  OUTPUTS_DIR, PREVIEWS_DIR, readSeriesManifest, SERIES_MANIFEST, type OutputSeries, type OutputSeriesFact, type SeriesManifest,
} from '../spool/output-series.js';
import { deliverSeries, type DeliveryOptions } from '../delivery/deliver-series.js';
import { PermanentError, type Stage, type StageJob, type StageOutcome } from '../runner/stage.js';
import { applicableFilters, derivationText, type FilterSubject } from './post-filters.js';
import { readTaskInstances } from './task-headers.js';
import { countsConversion, describeCountsConversion } from '../rules/activity-units.js';
import type { SourceHeaderPrefetch } from './source-header-prefetch.js';
import type { ResultHandoff } from './result-handoff.js';
import { effectiveFilters } from '../settings/effective-settings.js';

export interface UnpackerOptions {
  config: Pick<LoadedConfig, 'filters' | 'output'>;
  /** Operator edits of the filters (read live: an edit applies to the next task). */
  store: Store;
  /** Threads of the Gaussian filter (default: every core). */
  threads?: number;
  /** Source headers read while the task waited for the service (source-header-prefetch.ts). */
  prefetch?: SourceHeaderPrefetch;
  /** The result the downloader verified, in memory (result-handoff.ts); else result.zip is read. */
  results?: ResultHandoff;
  /**
   * Deliver each series but the last while the next one is made, as the sender would (the sender
   * stage then sends only what the destinations lack), when `allowed()` says so at the time (no
   * quality-control hold): the task is then unpacked in unpacking_sending/ (unpackingSendingStage).
   */
  earlyDelivery?: { delivery: DeliveryOptions; allowed: () => boolean };
}

/** downloaded → unpacked; or, when early delivery is allowed, → unpacking_sending (nothing made yet). */
export function unpackerStage(opts: UnpackerOptions): Stage {
  return {
    name: 'unpacker',
    from: 'downloaded',
    to: 'unpacked',
    maxAttempts: 3,
    process: async (job) => opts.earlyDelivery?.allowed()
      ? { kind: 'done', to: 'unpacking_sending', detail: 'no QC hold: each series is sent once it is written' }
      : unpack(job, opts),
  };
}

/** unpacking_sending → unpacked: unpacks with early delivery (registered with unpackerStage when earlyDelivery is set). */
export function unpackingSendingStage(opts: UnpackerOptions & Required<Pick<UnpackerOptions, 'earlyDelivery'>>): Stage {
  return {
    name: 'unpacker-sender',
    from: 'unpacking_sending',
    to: 'unpacked',
    maxAttempts: 3,
    process: (job) => unpack(job, opts, opts.earlyDelivery),
  };
}

/** `earlyDelivery`: the task is in unpacking_sending/ and its finished series go out at once. */
async function unpack(job: StageJob, opts: UnpackerOptions, earlyDelivery?: UnpackerOptions['earlyDelivery']): Promise<StageOutcome> {
  const uploaded = await readMetadata(path.join(job.dir, METADATA_FILE), 'the uploaded metadata.json');
  const { metadata: result, volume: resultVolume } = checkedResult(opts.results?.take(job.id) ?? await resultInTaskFolder(job, uploaded), uploaded);

  const instances = await readTaskInstances(job.dir);
  if (instances.length === 0) throw new PermanentError(`the task has no original instances in ${INSTANCES_DIR}/`);
  // The original's geometry and slice order come from its headers; its voxels are not needed.
  const original = arrangeSlices(instances.map((i) => i.file), instances.map((i) => i.header));
  if (!sameShape(original.shape, resultVolume.shape)) {
    throw new PermanentError(`the original series is ${original.shape.join('x')}, the result ${resultVolume.shape.join('x')}`);
  }
  const volume: Volume = {
    data: resultVolume.data, shape: original.shape, spacing: original.spacing,
    orientation: original.orientation, positions: original.positions,
  };

  const all = effectiveFilters(opts.config, opts.store.data);
  const subject = filterSubject(uploaded, job.record.facts);
  const filters = applicableFilters(all, subject);
  if (filters.length === 0) {
    return {
      kind: 'fail',
      reason: `no post-filter applies to this task (scanner model ${subject.scannerModel ?? 'unknown'}, `
        + `tracer ${subject.tracerNames[0] ?? 'unknown'}); add one with "petspool filters add" and retry`,
    };
  }

  const outputs: OutputSeriesFact[] = [];
  // Philips counts were sent as Bq/ml: the new series say so, and how (rules/activity-units.ts).
  const conversion = countsConversion(instances.map((i) => i.header));
  const sourceHeaders = opts.prefetch?.take(job.id) ?? new SourceHeaders();
  // The next filter runs (in worker threads) while this thread writes the previous filter's series.
  const filtering = filters.map(() => undefined as Promise<FilteredVolume> | undefined);
  const startFilter = (i: number): void => {
    if (i >= filters.length || filtering[i]) return;
    filtering[i] = filterUnlessWritten(job, filters[i]!, volume, opts.threads);
    filtering[i].catch(() => {}); // awaited in its turn; not unhandled if an earlier write fails first
  };
  startFilter(0);
  // Meanwhile this thread prepares the series in filter order: everything but their slopes and
  // pixels, which come from the filters.
  const prepare = (filter: FilterConfig): Promise<PreparedSeries> => prepareDerivedSeries({
    geometry: volume, sourceFiles: original.files, sourceHeaders, outDir: temporaryOutputDir(job, filter),
    seriesNumberOffset: opts.config.output.series_number_offset + all.indexOf(filter),
    filterName: filter.name, seriesDescriptionTemplate: filter.series_description,
    derivationDescription: [conversion && describeCountsConversion(conversion), derivationText(filter, result.processing)].filter(Boolean).join('; '),
    units: conversion?.to,
  });
  const preparing: Promise<PreparedSeries>[] = [];
  for (const filter of filters) {
    const turn = (preparing.at(-1) ?? Promise.resolve()).catch(() => undefined).then(() => prepare(filter));
    turn.catch(() => {}); // awaited in its turn, as the filters are
    preparing.push(turn);
  }
  let delivering: Promise<void> = Promise.resolve();
  const previews: Promise<void>[] = [];
  for (const [i, filter] of filters.entries()) {
    const filtered = await filtering[i]!;
    startFilter(i + 1);
    const { manifest, preview } = filtered.existing
      ? { manifest: filtered.existing, preview: Promise.resolve() }
      : await writeFilterOutput(job, filter, filtered.output!, await preparing[i]!, filtered.ms);
    preview.catch(() => {}); // awaited below
    previews.push(preview);
    filtering[i] = undefined; // let its output slices go
    outputs.push({ filter: filter.name, series_instance_uid: manifest.series_instance_uid, files: manifest.instances.length });
    if (earlyDelivery && i < filters.length - 1) {
      const series = { manifest, dir: path.join(job.dir, OUTPUTS_DIR, filter.name) };
      delivering = delivering.then(() => deliverEarly(job, earlyDelivery, series));
    }
  }
  await delivering;
  await Promise.all(previews);
  const skipped = all.filter((f) => !filters.includes(f)).map((f) => f.name);
  return {
    kind: 'done',
    detail: `${outputs.length} series: ${outputs.map((o) => o.filter).join(', ')}`,
    facts: {
      output_series: outputs,
      ...(skipped.length ? { filters_not_applicable: skipped } : {}),
      processing_method: result.processing?.method ?? null,
    },
  };
}

/**
 * Delivers a finished series while the unpacker makes the next (see UnpackerOptions.earlyDelivery).
 * Never fails the unpacker: what does not arrive now, the sender stage sends (and reports).
 */
async function deliverEarly(job: StageJob, earlyDelivery: NonNullable<UnpackerOptions['earlyDelivery']>, series: OutputSeries): Promise<void> {
  if (!earlyDelivery.allowed()) return;
  try {
    const { problems } = await deliverSeries(job, earlyDelivery.delivery, [series], 'unpacking_sending');
    if (problems.length > 0) job.log.info(`${series.manifest.filter} not delivered early (the sender tries again): ${problems.join('; ')}`);
  } catch (err) {
    job.log.info(`${series.manifest.filter} not delivered early (the sender tries again): ${(err as Error).message}`);
  }
}

async function readMetadata(file: string, what: string): Promise<TaskMetadata> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new PermanentError(`${what} is missing`);
  }
  try {
    return parseTaskMetadata(JSON.parse(text) as unknown);
  } catch (err) {
    throw new PermanentError(`${what}: ${(err as Error).message}`);
  }
}

/** The verified result in the task folder (readPlacedResult); a missing or unusable one fails the task. */
async function resultInTaskFolder(job: StageJob, uploaded: TaskMetadata): Promise<VerifiedResult> {
  let placed: VerifiedResult | undefined;
  try {
    placed = await readPlacedResult(job.dir, job.id, resultArchiveLimits(voxelCount(uploaded.shape)));
  } catch (err) {
    if (err instanceof ZipRefusedError) throw new PermanentError(`result archive refused: ${err.message}`);
    if (err instanceof ResultArchiveError || err instanceof ResultChecksumError) throw new PermanentError(err.message);
    throw err;
  }
  if (!placed) throw new PermanentError(`the task folder has no ${RESULT_ARCHIVE} (the downloader's verified result)`);
  return placed;
}

/** The result's volume, checked against the uploaded shape. */
function checkedResult(result: VerifiedResult, uploaded: TaskMetadata): { metadata: TaskMetadata; volume: { data: Float32Array; shape: [number, number, number] } } {
  const { metadata, volume } = result;
  if (!sameShape(metadata.shape, uploaded.shape)) {
    throw new PermanentError(`result shape ${metadata.shape.join('x')} differs from the uploaded ${uploaded.shape.join('x')}`);
  }
  if (volume.shape.length !== 3 || !sameShape(volume.shape, uploaded.shape)) {
    throw new PermanentError(`the result's .npy has shape ${volume.shape.join('x')}, the uploaded volume was ${uploaded.shape.join('x')}`);
  }
  return { metadata, volume: { data: volume.data, shape: volume.shape as [number, number, number] } };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

function filterSubject(uploaded: TaskMetadata, facts: Record<string, unknown>): FilterSubject {
  const names = [facts.radiopharmaceutical, facts.radiopharmaceutical_name, uploaded.radiopharmaceutical.name, uploaded.radiopharmaceutical.code];
  return {
    scannerModel: uploaded.scanner_model,
    tracerNames: names.filter((n): n is string => typeof n === 'string' && n.trim() !== ''),
  };
}

/** A filter's output: the complete series written before a restart, or the filtered volume to write. */
interface FilteredVolume {
  existing?: SeriesManifest;
  /** The filtered volume as the series needs it: its geometry and output slices (no float volume is kept). */
  output?: { geometry: VolumeGeometry; slices: OutputSlices };
  ms: number;
}

/** The filtered volume, unless outputs/<filter>/ is complete for the same settings (then reused). */
async function filterUnlessWritten(job: StageJob, filter: FilterConfig, volume: Volume, threads: number | undefined): Promise<FilteredVolume> {
  const finalDir = path.join(job.dir, OUTPUTS_DIR, filter.name);
  const blend = filter.blend ?? 0;
  const existing = await readSeriesManifest(finalDir).catch(() => undefined);
  if (existing && existing.fwhm_mm === filter.fwhm_mm && existing.blend === blend) {
    job.log.info(`filter ${filter.name}: reusing the complete series written before the restart`);
    return { existing, ms: 0 };
  }
  const started = Date.now();
  // Stored values, slopes and preview rows come from the filter's threads: this thread only writes files.
  const slices = await gaussianOutputSlices(volume, filter.fwhm_mm, { blend, threads });
  return { output: { geometry: volume, slices }, ms: Date.now() - started };
}

/** Where a filter's series is written before it is renamed whole to outputs/<filter>/. */
function temporaryOutputDir(job: StageJob, filter: FilterConfig): string {
  return path.join(job.dir, OUTPUTS_DIR, `${TMP_PREFIX}${filter.name}`);
}

/**
 * outputs/<filter>/ (written as .tmp-<filter>/, renamed whole), and previews/<filter>.png, which
 * a file-writing thread draws and writes meanwhile (`preview` settles when it is written).
 */
async function writeFilterOutput(job: StageJob, filter: FilterConfig, output: NonNullable<FilteredVolume['output']>, prepared: PreparedSeries, filterMs: number): Promise<{ manifest: SeriesManifest; preview: Promise<void> }> {
  const outputs = path.join(job.dir, OUTPUTS_DIR);
  const finalDir = path.join(outputs, filter.name);
  await rm(finalDir, { recursive: true, force: true });
  await ensureDir(outputs);
  const tmpDir = temporaryOutputDir(job, filter);
  await rm(tmpDir, { recursive: true, force: true });

  const started = Date.now();
  const series = await writePreparedSeries(prepared, output.slices);
  const instances = series.files.map((file, i) => ({ file: path.basename(file), sop_instance_uid: series.sopInstanceUids[i]! }));
  const manifest: SeriesManifest = {
    filter: filter.name, fwhm_mm: filter.fwhm_mm, blend: filter.blend ?? 0, series_instance_uid: series.seriesInstanceUid, instances,
  };
  await writeFileDurably(path.join(tmpDir, SERIES_MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
  await renameDurably(tmpDir, finalDir);

  const previews = path.join(job.dir, PREVIEWS_DIR);
  await ensureDir(previews);
  const { shape, orientation, spacing } = output.geometry;
  const preview = ImagingPool.writers().runOne({
    kind: 'write-preview', file: path.join(previews, `${filter.name}.png`), coronalRows: output.slices.coronalRows, geometry: { shape, orientation, spacing },
  });
  job.log.info(`filter ${filter.name} (FWHM ${filter.fwhm_mm} mm): ${instances.length} images, filter ${filterMs} ms, series ${Date.now() - started} ms`);
  return { manifest, preview };
}

