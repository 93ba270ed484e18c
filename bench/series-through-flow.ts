/**
 * One synthetic PET series through the whole flow: C-STORE into an appliance child process, the
 * embedded reference service, the filters, and every output series C-STOREd to a DCMTK storescp
 * destination. Records the moments the end-to-end benchmark needs (last input acknowledged, last
 * output acknowledged), the task's history, the service's own processing time (its log field
 * processing_ms) and the appliance's peak RSS.
 *
 * The destination is storescp --fork, not petspool's own Store SCP in this process: like a PACS it
 * takes the sender's associations side by side in separate processes, so the bench times our
 * sender rather than a receiver sharing this event loop (ours spends ~1.4 ms of main thread per
 * instance, more than the sender needs). storescp's answers are not seen from here, so the last
 * output counts as acknowledged when the appliance recorded the task as sent (its history), which
 * is after the last Success: a slight overestimate.
 */
import fs from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FilterConfig } from '../src/config/schema.js';
import { sendFiles } from '../src/dicom/scu.js';
import { synthesizePetSeries } from '../src/series/synth.js';
import type { TaskRecord } from '../src/spool/task-record.js';
import { syncFilesystem } from '../src/util/sync-filesystem.js';
import { startStorescp } from '../test/fixtures/dcmtk.js';
import { startApplianceProcess, writeBenchConfig } from './appliance-process.js';

export interface FlowOptions {
  slices: number;
  size: number;
  filters: FilterConfig[];
  quietSeconds: number;
  timeoutMs: number;
}

export interface FlowRun {
  task: TaskRecord;
  /** performance.now() in this process when the appliance acknowledged the last input instance. */
  lastInputAckMs: number;
  /** The same moment in wall-clock ms (Date.now()), to compare with the task history's timestamps. */
  lastInputAckEpochMs: number;
  /**
   * When the last output instance was acknowledged, on this process's performance.now() clock: the
   * moment the task reached sent/ in its history (after every destination's last Success).
   */
  lastOutputAckMs: number;
  /** The reference service's own time for the task (unzip, median, zip), from its log. */
  serviceProcessingMs: number;
  /** Files the destination wrote (checked to be every output instance). */
  outputInstances: number;
  peakRssMb: number;
}

/**
 * The destination keeps its files on tmpfs when there is one: its storage is the destination's
 * cost, not petspool's (a PACS answers from its own storage at its own speed).
 */
function destinationRoot(): string {
  return fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
}

export async function runSeriesThroughFlow(opts: FlowOptions): Promise<FlowRun> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'petspool-bench-flow-'));
  const destinationDir = await mkdtemp(path.join(destinationRoot(), 'petspool-bench-destination-'));
  const destination = await startStorescp(destinationDir, ['--fork']);
  try {
    const input = await synthesizePetSeries(path.join(work, 'input'), { slices: opts.slices, size: opts.size });
    const { configPath, config } = await writeBenchConfig({
      work, destinationPort: destination.port, quietSeconds: opts.quietSeconds, filters: opts.filters,
    });
    const appliance = await startApplianceProcess(configPath, config);
    try {
      // The input just written is still dirty: its writeback is not petspool's work, but the
      // intake journal's checkpoint (a syncfs) would pay for it inside the clock.
      syncFilesystem(work);
      let lastInputAckMs = 0;
      let lastInputAckEpochMs = 0;
      const sent = await sendFiles({
        host: '127.0.0.1', port: config.dicom.port, calledAeTitle: config.ae_title, callingAeTitle: 'BENCH-SCANNER', files: input,
        onAccepted: () => { lastInputAckMs = performance.now(); lastInputAckEpochMs = Date.now(); },
      });
      if (sent.failed.length) throw new Error(`C-STORE into the appliance failed for ${sent.failed.length} instances: ${sent.failed[0]!.message}`);

      const deadline = Date.now() + opts.timeoutMs;
      let task: TaskRecord | undefined;
      while (!(task = await appliance.taskIn('sent'))) {
        const failed = (await appliance.taskIn('failed')) ?? (await appliance.taskIn('aborted'));
        if (failed) throw new Error(`task ${failed.id} ${failed.state}: ${failed.reason}`);
        if (Date.now() > deadline) throw new Error(`timed out: the task did not reach sent/ within ${opts.timeoutMs} ms`);
        await sleep(50);
      }
      const sentAt = task.history.find((h) => h.state === 'done')?.at;
      if (!sentAt) throw new Error(`task ${task.id} is in sent/ without a "done" entry in its history`);
      const expected = opts.filters.length * input.length;
      const outputInstances = (await readdir(destinationDir)).length;
      if (outputInstances !== expected) throw new Error(`the destination wrote ${outputInstances} files, expected ${expected}`);
      return {
        task, lastInputAckMs, lastInputAckEpochMs, outputInstances,
        lastOutputAckMs: lastInputAckMs + (Date.parse(sentAt) - lastInputAckEpochMs),
        serviceProcessingMs: await serviceProcessingMs(() => appliance.logEntries(), task.id),
        peakRssMb: appliance.peakRssMb(),
      };
    } finally {
      await appliance.stop();
    }
  } finally {
    await destination.stop();
    if (process.env.PETSPOOL_BENCH_KEEP) console.error(`kept ${work}`);
    else await rm(work, { recursive: true, force: true });
    await rm(destinationDir, { recursive: true, force: true });
  }
}

/** The processing_ms the reference service logged for the task (the log file is written asynchronously). */
async function serviceProcessingMs(entries: () => Promise<Record<string, unknown>[]>, taskId: string): Promise<number> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const entry = (await entries()).find((e) => e.task === taskId && typeof e.processing_ms === 'number');
    if (entry) return entry.processing_ms as number;
    if (Date.now() > deadline) throw new Error(`the reference service logged no processing_ms for task ${taskId}`);
    await sleep(100);
  }
}
