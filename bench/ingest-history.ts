/**
 * Benchmark: ingest rate with a long history in the database vs an empty one. Two appliance child
 * processes run side by side: one on an empty spool, one whose database holds what 100 000
 * received instances in 250 series leave behind (patient, study and series rows and counters,
 * written by Store.recordInstance itself, and 250 finished tasks, their folders in sent/ as before
 * the nightly cleanup). DCMTK storescu sends the same 400 × 256² slices to each, alternating which
 * goes first, in RUNS runs, each with a fresh pair of processes on the same spools and a warm-up
 * batch each; the figure is the median time until every instance is acknowledged (the receiver
 * is left to file each batch before the next one is sent). The "empty" database holds only what
 * the benchmark's own batches leave (at most 2 × RUNS × 400 instances).
 * quiet_seconds is long so no task leaves collecting while the clock runs. Target: within 10 %.
 * Run: node dist/bench/ingest-history.js
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../src/config/schema.js';
import { Store } from '../src/db/store.js';
import type { InstanceHeader } from '../src/dicom/instance-header.js';
import { holdsRecords } from '../src/dicom/journal-record.js';
import { newTaskId, newTaskRecord, withState, writeTaskRecord, type TaskRecord } from '../src/spool/task-record.js';
import type { TaskState } from '../src/spool/layout.js';
import { runDcmtk } from '../test/fixtures/dcmtk.js';
import { makePetSeries } from '../test/fixtures/make-pet.js';
import { startApplianceProcess, writeBenchConfig, type ApplianceProcess } from './appliance-process.js';

const SLICES = 400;
const SIZE = 256;
const RUNS = 7;
const HISTORY_INSTANCES = 100_000;
const HISTORY_SERIES = 250;
/** Long enough that nothing is compiled (and no CPU spent on processing) while the clock runs. */
const QUIET_SECONDS = 3600;
export const INGEST_HISTORY_TARGET_RATIO = 1.1;

export interface IngestHistoryBenchResult {
  slices: number;
  runs: number;
  historyInstances: number;
  historySeries: number;
  databaseBytes: number;
  emptySeconds: number[];
  historySeconds: number[];
  emptyMedian: number;
  historyMedian: number;
  /** historyMedian / emptyMedian: the target is ≤ 1.10 */
  ratio: number;
  /** Median of history/empty over the back-to-back pairs of each run: less sensitive to load drifting between runs. */
  pairedRatio: number;
}

export async function benchIngestHistory(): Promise<IngestHistoryBenchResult> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'petspool-bench-history-'));
  const appliances: ApplianceProcess[] = [];
  try {
    const files = await makePetSeries(path.join(work, 'series'), { slices: SLICES, size: SIZE });
    const empty = await writeBenchConfig({ work: path.join(work, 'empty'), quietSeconds: QUIET_SECONDS, filters: [{ name: 'fwhm4', fwhm_mm: 4 }] });
    const full = await writeBenchConfig({ work: path.join(work, 'history'), quietSeconds: QUIET_SECONDS, filters: [{ name: 'fwhm4', fwhm_mm: 4 }] });
    await writeHistory(full.config, HISTORY_INSTANCES, HISTORY_SERIES);
    const databaseBytes = (await stat(full.config.database)).size;
    const emptySeconds: number[] = [];
    const historySeconds: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      // A fresh pair of processes each run: one process can stay slower than the other for its
      // whole life (ratios of 0.7 and 1.4 in runs of one pair), which is not the database's doing.
      const emptyAppliance = await startApplianceProcess(empty.configPath, empty.config);
      appliances.push(emptyAppliance);
      const historyAppliance = await startApplianceProcess(full.configPath, full.config);
      appliances.push(historyAppliance);
      // Alternate the order so a trend in the machine's load does not favour one side.
      const order = run % 2 === 0 ? [emptyAppliance, historyAppliance] : [historyAppliance, emptyAppliance];
      // A first batch each warms the process up (JIT, page cache) and is not counted.
      for (const counted of [false, true]) {
        for (const a of order) {
          const seconds = await timeStorescu(a.config, files);
          if (counted) (a === emptyAppliance ? emptySeconds : historySeconds).push(seconds);
          // The receiver files the instances after they were acknowledged: let it finish, so its
          // work does not fall into the other appliance's measurement.
          await untilReceivedIsEmpty(a.config);
        }
      }
      for (const a of appliances.splice(0)) await a.stop();
    }
    const emptyMedian = median(emptySeconds);
    const historyMedian = median(historySeconds);
    return {
      slices: SLICES, runs: RUNS, historyInstances: HISTORY_INSTANCES, historySeries: HISTORY_SERIES, databaseBytes,
      emptySeconds, historySeconds, emptyMedian, historyMedian, ratio: historyMedian / emptyMedian,
      pairedRatio: median(historySeconds.map((h, i) => h / emptySeconds[i]!)),
    };
  } finally {
    for (const a of appliances) await a.stop();
    await rm(work, { recursive: true, force: true });
  }
}

async function timeStorescu(config: Config, files: string[]): Promise<number> {
  const start = performance.now();
  const run = await runDcmtk('storescu', ['-aet', 'BENCH-SCANNER', '-aec', config.ae_title, '127.0.0.1', String(config.dicom.port), ...files]);
  const seconds = (performance.now() - start) / 1000;
  if (run.code !== 0) throw new Error(`storescu failed: ${run.stderr.slice(0, 500)}`);
  return seconds;
}

/** Waits until the receiver has moved every acknowledged instance out of spool/received/. */
async function readStart(file: string): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(4), 0, 4, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function untilReceivedIsEmpty(config: Config): Promise<void> {
  const received = path.join(config.spool_dir, 'received');
  const journal = path.join(received, '.journal');
  const deadline = Date.now() + 60_000;
  for (;;) {
    let waiting = 0;
    for (const ae of (await readdir(received)).filter((name) => !name.startsWith('.'))) waiting += (await readdir(path.join(received, ae)).catch(() => [])).length;
    // Instances the intake journal holds are not in received/<AE>/ yet.
    for (const segment of await readdir(journal)) if (holdsRecords(await readStart(path.join(journal, segment)))) waiting++;
    if (waiting === 0) return;
    if (Date.now() > deadline) throw new Error(`${waiting} instances still in ${received} after 60 s`);
    await sleep(50);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const STATES_OF_A_DELIVERED_TASK: TaskState[] = [
  'collecting', 'compiled', 'validated', 'packed', 'processing', 'downloaded', 'unpacked', 'sending', 'done',
];

/**
 * The database and sent/ folder an appliance has after receiving `instances` PET instances in
 * `seriesCount` series over the last 30 days, every one delivered: the rows come from
 * Store.recordInstance and Store.recordTask themselves, so they are what the code leaves.
 */
export async function writeHistory(config: Config, instances: number, seriesCount: number): Promise<void> {
  const store = await Store.open(config.database);
  const perSeries = Math.ceil(instances / seriesCount);
  const sentDir = path.join(config.spool_dir, 'sent');
  await mkdir(sentDir, { recursive: true });
  const monthAgo = Date.now() - 30 * 86_400_000;
  const root = `2.25.${randomDigits()}`;
  let recorded = 0;
  for (let s = 0; s < seriesCount; s++) {
    const start = monthAgo + s * (30 * 86_400_000 / seriesCount);
    // About 1.25 series per study and 1.2 studies per patient, as follow-up scans do.
    const patient = Math.floor(s / 1.5);
    const study = Math.floor(s / 1.25);
    const header: InstanceHeader = {
      transferSyntaxUid: '1.2.840.10008.1.2.1', sopClassUid: '1.2.840.10008.5.1.4.1.1.128', sopInstanceUid: '',
      studyInstanceUid: `${root}.1.${study}`, seriesInstanceUid: `${root}.2.${s}`,
      modality: 'PT', patientId: `PID${String(patient).padStart(7, '0')}`, patientName: `HISTORY^PATIENT${patient}`,
      patientBirthDate: '19600101', patientSex: patient % 2 ? 'F' : 'M', studyDate: isoDate(start), studyDescription: 'PET WB',
      accessionNumber: `ACC${study}`, seriesNumber: 3, seriesDescription: 'PET WB AC',
    };
    for (let i = 0; i < perSeries && recorded < instances; i++, recorded++) {
      store.recordInstance({ ...header, sopInstanceUid: `${header.seriesInstanceUid}.${i + 1}` }, false,
        new Date(start + i * 50).toISOString());
    }
    const task = deliveredTask(header, perSeries, new Date(start));
    const dir = path.join(sentDir, task.id);
    await mkdir(dir);
    await writeTaskRecord(dir, task);
    store.recordTask(task);
  }
  await store.close();
}

function deliveredTask(h: InstanceHeader, images: number, created: Date): TaskRecord {
  let record = newTaskRecord({
    id: newTaskId(created), sender: 'ae:SCANNER', series_instance_uid: h.seriesInstanceUid,
    study_instance_uid: h.studyInstanceUid, modality: 'PT', series_description: h.seriesDescription, images,
  }, created);
  const outputs = [`2.25.${randomDigits()}`, `2.25.${randomDigits()}`];
  STATES_OF_A_DELIVERED_TASK.forEach((state, i) => {
    record = withState(record, state, state === 'sending' ? '2 series: fwhm4, fwhm6' : undefined, new Date(created.getTime() + i * 20_000));
  });
  return {
    ...record,
    outputs,
    facts: {
      slice_spacing_mm: 3.27, radiopharmaceutical: 'fdg', radiopharmaceutical_name: 'Fluorodeoxyglucose F18', nuclide: 'F-18',
      reconstruction_method: 'OSEM', archive: `${record.id}_site-01.zip`, volume_shape: [images, 256, 256],
      npy_sha256: randomBytes(32).toString('hex'), result_sha256: randomBytes(32).toString('hex'),
      output_series: [{ filter: 'fwhm4', series_instance_uid: outputs[0], files: images }, { filter: 'fwhm6', series_instance_uid: outputs[1], files: images }],
      processing_method: 'median-3x3x3',
      delivery: { 'pacs': { fwhm4: `${images}/${images}`, fwhm6: `${images}/${images}` } },
      delivered_at: record.updated_at,
    },
  };
}

function randomDigits(): string {
  return BigInt(`0x${randomBytes(12).toString('hex')}`).toString();
}

function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
}

export function formatIngestHistory(r: IngestHistoryBenchResult): string {
  const list = (xs: number[]) => xs.map((x) => x.toFixed(3)).join(' ');
  return [
    `ingest with history: ${r.slices} × ${SIZE}² slices by storescu into a running appliance, ${r.runs} runs each after a warm-up, alternating`,
    `  empty database                      median ${r.emptyMedian.toFixed(3)} s   (runs: ${list(r.emptySeconds)})`,
    `  history database (${(r.databaseBytes / 1024).toFixed(0).padStart(5)} KB)        median ${r.historyMedian.toFixed(3)} s   (runs: ${list(r.historySeconds)})`,
    `    = ${r.historyInstances} instances in ${r.historySeries} series, ${r.historySeries} delivered tasks in sent/`,
    `  ratio of the medians history/empty ${r.ratio.toFixed(2)} (target ≤ ${INGEST_HISTORY_TARGET_RATIO.toFixed(2)}); median of the per-run ratios ${r.pairedRatio.toFixed(2)}`,
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(formatIngestHistory(await benchIngestHistory()));
}
