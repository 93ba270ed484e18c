import { readFile } from 'node:fs/promises';
import { Appliance } from '../../src/app/appliance.js';
import { assembleAppliance } from '../../src/app/assembly.js';
import { loadConfig, type LoadedConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log/logger.js';
import type { TaskFolder } from '../../src/spool/layout.js';
import type { TaskRecord } from '../../src/spool/task-record.js';
import { freePort } from '../fixtures/dcmtk.js';
import { tempConfig } from './cli.js';

export interface RunningAppliance {
  appliance: Appliance;
  config: LoadedConfig;
  dir: string;
  stop(): Promise<void>;
  /** Wait until `pick` returns a value (polling the spool), or fail after `ms`. */
  waitFor<T>(what: string, pick: () => Promise<T | undefined>, ms?: number): Promise<T>;
  tasks(folders?: TaskFolder[]): Promise<TaskRecord[]>;
}

/**
 * A real appliance in this process: real ports (free ones), a temp spool and share, the full
 * assembly. `changes` are applied to the shipped config.yaml.
 */
export async function startTestAppliance(changes: Record<string, unknown> = {}): Promise<RunningAppliance> {
  const { dir, file } = await tempConfig({
    dicom: { host: '127.0.0.1', port: await freePort(), min_free_mb: 1 },
    api: { port: await freePort() },
    ...changes,
  });
  const config = loadConfig(file);
  const appliance = new Appliance(config, silentLogger, assembleAppliance);
  await appliance.start();
  const tasks = async (folders?: TaskFolder[]) => (await appliance.parts.spool.listTasks(folders)).map((t) => t.record);
  return {
    appliance, config, dir, tasks,
    stop: () => appliance.stop(),
    waitFor: async <T>(what: string, pick: () => Promise<T | undefined>, ms = 30_000) => {
      const end = Date.now() + ms;
      for (;;) {
        const v = await pick();
        if (v !== undefined) return v;
        if (Date.now() > end) {
          const state = (await tasks()).map((t) => `${t.id} ${t.state} ${t.reason ?? ''}`).join('\n');
          throw new Error(`timed out waiting for ${what}; tasks:\n${state}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

export async function readJsonFile<T>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}
