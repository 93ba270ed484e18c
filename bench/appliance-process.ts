/**
 * The appliance as the benchmarks run it: `petspool start` in a child process (so its peak RSS is
 * its own and the bench's sender and destination do not share its event loop), on a config whose
 * spool, share and ports are local to a work folder, with the embedded reference service.
 * Used by bench/end-to-end.ts, bench/memory.ts and bench/ingest-history.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import type { Config, FilterConfig } from '../src/config/schema.js';
import { echo } from '../src/dicom/scu.js';
import { readTaskRecord, type TaskRecord } from '../src/spool/task-record.js';

const CLI_MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
export const BENCH_AE = 'PETSPOOL';
export const BENCH_DESTINATION_AE = 'BENCH-PACS';

export interface BenchConfigOptions {
  work: string;
  /** Port of the destination SCP; none = no destination (tasks stop at validation, which needs one). */
  destinationPort?: number;
  quietSeconds: number;
  filters: FilterConfig[];
}

/** Writes `<work>/config.yaml` and returns it with its path; every path lies under `work`. */
export async function writeBenchConfig(opts: BenchConfigOptions): Promise<{ configPath: string; config: Config }> {
  const spool = path.join(opts.work, 'spool');
  const config: Config = {
    ae_title: BENCH_AE,
    dicom: { host: '127.0.0.1', port: await freePort(), allowed_calling_ae_titles: [], max_associations: 8, min_free_mb: 0 },
    spool_dir: spool,
    database: path.join(spool, 'petspool.json'),
    share: { outbox: path.join(opts.work, 'share', 'outbox'), inbox: path.join(opts.work, 'share', 'inbox'), poll_seconds: 2 },
    api: {
      host: '127.0.0.1', port: await freePort(), callback_token: 'bench-callback-token', submitters: [],
      operators: [{ name: 'bench', token: 'bench-operator-token' }], sessions: { idle_minutes: 30, max_hours: 12 },
    },
    remote: { url: 'embedded', client_id: 'bench', token: 'bench-token', give_up_after_seconds: 86400, processing_timeout_seconds: 3600 },
    destinations: opts.destinationPort === undefined ? [] : [
      { name: 'bench-pacs', ae_title: BENCH_DESTINATION_AE, host: '127.0.0.1', port: opts.destinationPort, mirror: false },
    ],
    compilator: { quiet_seconds: opts.quietSeconds, min_images: 30, max_gap_ratio: 0.025, abort_incomplete_after_seconds: 1800 },
    filters: opts.filters,
    output: { series_number_offset: 1000 },
    zip_intake: { max_entries: 50_000, max_total_mb: 20_480, max_entry_mb: 1024 },
    validator: { accept_lossy: true },
    qc: { required: false },
    alerts: { stage_age_seconds: 900 },
  };
  await mkdir(opts.work, { recursive: true });
  const configPath = path.join(opts.work, 'config.yaml');
  await writeFile(configPath, YAML.stringify(config));
  return { configPath, config };
}

export interface ApplianceProcess {
  child: ChildProcess;
  config: Config;
  /** Peak resident set (VmHWM) of the appliance process so far, in MB. */
  peakRssMb(): number;
  /** The JSON log lines the appliance wrote to spool/logs so far. */
  logEntries(): Promise<Record<string, unknown>[]>;
  /** The record of the task in `folder` (e.g. 'sent'), once it is there; undefined if none yet. */
  taskIn(folder: string): Promise<TaskRecord | undefined>;
  /** SIGTERM and wait for the exit (in-flight jobs finish first). */
  stop(): Promise<void>;
}

/** Starts `petspool start --config configPath` and resolves once its SCP answers C-ECHO. */
export async function startApplianceProcess(configPath: string, config: Config): Promise<ApplianceProcess> {
  const stderrFile = path.join(path.dirname(configPath), 'appliance.stderr');
  const stderr = fs.openSync(stderrFile, 'w');
  // PETSPOOL_BENCH_LOG_LEVEL=info to see each stage's steps in spool/logs (PETSPOOL_BENCH_KEEP=1 keeps them);
  // e.g. PETSPOOL_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the appliance.
  const nodeArgs = (process.env.PETSPOOL_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // --expose-gc as bin/petspool starts it.
  const child = spawn(process.execPath, ['--expose-gc', ...nodeArgs, CLI_MAIN, 'start', '--config', configPath], {
    stdio: ['ignore', 'ignore', stderr], env: { ...process.env, PETSPOOL_LOG_LEVEL: process.env.PETSPOOL_BENCH_LOG_LEVEL ?? 'warn' },
  });
  fs.closeSync(stderr);
  let exited = false;
  child.once('exit', () => { exited = true; });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`the appliance exited at start: ${fs.readFileSync(stderrFile, 'utf8').slice(-2000)}`);
    try {
      await echo({ host: '127.0.0.1', port: config.dicom.port, calledAeTitle: config.ae_title, callingAeTitle: 'BENCH', timeoutMs: 2000 });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`the appliance did not answer C-ECHO within 30 s: ${(err as Error).message}`);
      await sleep(100);
    }
  }
  const logDir = path.join(config.spool_dir, 'logs');
  return {
    child,
    config,
    peakRssMb: () => {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024;
    },
    logEntries: async () => {
      const files = (await readdir(logDir).catch(() => [] as string[])).filter((f) => f.endsWith('.jsonl'));
      const lines = (await Promise.all(files.map((f) => readFile(path.join(logDir, f), 'utf8')))).join('\n').split('\n');
      return lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    taskIn: async (folder) => {
      const dir = path.join(config.spool_dir, folder);
      const ids = (await readdir(dir).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));
      return ids.length ? readTaskRecord(path.join(dir, ids[0]!)).catch(() => undefined) : undefined;
    },
    stop: () => new Promise<void>((resolve) => {
      if (exited) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

/** Seconds spent in each state, from a task's history (the last state has no end). */
export function secondsPerState(task: TaskRecord): { state: string; seconds: number }[] {
  return task.history.slice(0, -1).map((h, i) => ({
    state: h.state, seconds: (Date.parse(task.history[i + 1]!.at) - Date.parse(h.at)) / 1000,
  }));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
