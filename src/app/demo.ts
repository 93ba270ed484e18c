import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { Appliance } from './appliance.js';
import { assembleAppliance } from './assembly.js';
import { validateConfig, type LoadedConfig } from '../config/load.js';
import { synthesizePetSeries } from '../series/synth.js';
import { sendFiles } from '../dicom/scu.js';
import { startStoreScp } from '../dicom/scp.js';
import type { InstanceHeader } from '../dicom/instance-header.js';
import { assembleVolume } from '../imaging/assemble-volume.js';
import { backgroundMask, backgroundNoise, type BackgroundNoise } from '../imaging/noise.js';
import type { Logger } from '../log/logger.js';
import type { TaskRecord } from '../spool/task-record.js';

export interface DemoOptions {
  /** The configuration the demo derives its own from (filters, compilator rules, ...). */
  base: LoadedConfig;
  log: Logger;
  /** Keep the work folder (spool, share, destination) instead of removing it. */
  workDir?: string;
  slices: number;
  size: number;
  tracer: string;
  timeoutMs: number;
  /** Progress lines for the person watching. */
  say: (line: string) => void;
}

export interface DemoSummary {
  workDir: string;
  taskId: string;
  totalSeconds: number;
  stages: { state: string; seconds: number }[];
  outputs: { seriesInstanceUid: string; description: string; instances: number; noise: BackgroundNoise }[];
  inputNoise: BackgroundNoise;
  inputInstances: number;
}

const DEMO_DESTINATION_AE = 'DEMO-PACS';
const DEMO_SCANNER_AE = 'DEMO-SCANNER';

/**
 * The whole flow on this machine: a synthetic PET series, the appliance with the embedded
 * reference service, a local destination SCP, C-STORE in, and every filtered series out.
 */
export async function runDemo(opts: DemoOptions): Promise<DemoSummary> {
  const work = opts.workDir ?? await mkdtemp(path.join(os.tmpdir(), 'petspool-demo-'));
  const started = Date.now();
  // Only what the summary needs: the received bytes stay on disk.
  const received = new Map<string, { path: string; header: InstanceHeader }[]>();
  const destination = await startStoreScp({
    host: '127.0.0.1', port: 0, aeTitle: DEMO_DESTINATION_AE, allowedCallingAeTitles: [], maxAssociations: 4,
    minFreeMb: 0, receivedDir: path.join(work, 'destination'), logger: opts.log.child({ stage: 'demo-pacs' }),
    onStored: ({ path: file, header, unreadable }) => {
      // Thrown here, it is logged by the SCP, and the wait below names what is missing.
      if (!header) throw new Error(`the demo destination cannot read ${file}: ${unreadable}`);
      received.set(header.seriesInstanceUid, [...(received.get(header.seriesInstanceUid) ?? []), { path: file, header }]);
    },
  });
  const config = await demoConfig(opts.base, work, destination.port, opts.slices);
  const appliance = new Appliance(config, opts.log, assembleAppliance);
  try {
    opts.say(`work folder ${work}`);
    const input = await synthesizePetSeries(path.join(work, 'input'), { slices: opts.slices, size: opts.size, tracer: opts.tracer });
    opts.say(`synthesised a ${opts.tracer} PET series: ${input.length} slices of ${opts.size}×${opts.size}`);
    await appliance.start();
    const result = await sendFiles({
      host: '127.0.0.1', port: config.dicom.port, calledAeTitle: config.ae_title, callingAeTitle: DEMO_SCANNER_AE, files: input,
    });
    if (result.failed.length) throw new Error(`C-STORE to petspool failed for ${result.failed.length} instances: ${result.failed[0].message}`);
    opts.say(`sent ${result.sent} instances to ${config.ae_title} on port ${config.dicom.port}`);
    const task = await waitForTask(appliance, opts.timeoutMs, opts.say);
    const filters = config.filters.length;
    const deadline = Date.now() + 30_000;
    while ([...received.values()].reduce((n, l) => n + l.length, 0) < filters * input.length) {
      if (Date.now() > deadline) throw new Error('the destination did not receive every output instance');
      await new Promise((r) => setTimeout(r, 100));
    }
    const original = await assembleVolume(input);
    const mask = await backgroundMask(original);
    const outputs: DemoSummary['outputs'] = [];
    for (const [uid, instances] of received) {
      const vol = await assembleVolume(instances.map((i) => i.path));
      outputs.push({ seriesInstanceUid: uid, description: instances[0].header.seriesDescription ?? '', instances: instances.length,
        noise: backgroundNoise(vol.data, mask) });
    }
    return {
      workDir: work, taskId: task.id, totalSeconds: (Date.now() - started) / 1000, stages: stageTimes(task),
      outputs, inputNoise: backgroundNoise(original.data, mask), inputInstances: input.length,
    };
  } finally {
    await appliance.stop().catch(() => undefined);
    await destination.close();
    if (!opts.workDir) await rm(work, { recursive: true, force: true });
  }
}

async function waitForTask(appliance: Appliance, timeoutMs: number, say: (line: string) => void): Promise<TaskRecord> {
  const end = Date.now() + timeoutMs;
  let lastState = '';
  for (;;) {
    const [task] = (await appliance.parts.spool.listTasks()).map((t) => t.record);
    if (task && task.state !== lastState) {
      lastState = task.state;
      say(`task ${task.id}: ${task.state}`);
    }
    if (task?.state === 'done') return task;
    if (task && (task.state === 'failed' || task.state === 'aborted')) {
      throw new Error(`task ${task.id} ${task.state}: ${task.reason}`);
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s with the task ${task ? `in ${task.state}` : 'not created'}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Seconds spent in each state, from the task's history. */
function stageTimes(task: TaskRecord): { state: string; seconds: number }[] {
  return task.history.slice(0, -1).map((h, i) => ({
    state: h.state, seconds: (Date.parse(task.history[i + 1].at) - Date.parse(h.at)) / 1000,
  }));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** The base config with everything local to the work folder: ports, spool, share, destination. */
async function demoConfig(base: LoadedConfig, work: string, destinationPort: number, slices: number): Promise<LoadedConfig> {
  const { configPath: _ignored, ...doc } = base;
  return validateConfig({
    ...doc,
    dicom: { ...base.dicom, host: '127.0.0.1', port: await freePort(), allowed_calling_ae_titles: [], min_free_mb: 0 },
    api: { ...base.api, host: '127.0.0.1', port: await freePort() },
    spool_dir: path.join(work, 'spool'),
    database: path.join(work, 'spool', 'petspool.json'),
    share: { ...base.share, outbox: path.join(work, 'share', 'outbox'), inbox: path.join(work, 'share', 'inbox'), poll_seconds: 0.5 },
    remote: { ...base.remote, url: 'embedded' },
    destinations: [{ name: 'demo-pacs', ae_title: DEMO_DESTINATION_AE, host: '127.0.0.1', port: destinationPort, mirror: false }],
    compilator: { ...base.compilator, quiet_seconds: 1, min_images: Math.min(base.compilator.min_images, slices) },
    qc: { required: false },
  }, path.join(work, 'config.yaml'));
}
