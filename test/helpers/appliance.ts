import { readFile } from 'node:fs/promises';
import { Appliance } from '../../src/app/appliance.js';
import { assembleAppliance } from '../../src/app/assembly.js';
import { loadConfig, type LoadedConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log/logger.js';
import type { TaskFolder } from '../../src/spool/layout.js';
import type { TaskRecord } from '../../src/spool/task-record.js';
import { freePort } from '../fixtures/dcmtk.js';
import { tempConfig } from './cli.js';
import { hashPassword } from '../../src/api/auth/password-hash.js';

/** The credentials of a test appliance (startTestAppliance), one per role. */
export const TEST_OPERATOR = { name: 'alice', password: 'correct horse battery staple', token: 'alice-operator-token-0001' };
export const TEST_SUBMITTER = { name: 'ward-pc', token: 'ward-pc-submitter-token-01' };
export const TEST_OTHER_SUBMITTER = { name: 'other-pc', token: 'other-pc-submitter-token-1' };
export const TEST_CALLBACK_TOKEN = 'remote-callback-token-0001';
export const TEST_METRICS_TOKEN = 'prometheus-metrics-token-01';

let operatorHash: Promise<string> | undefined;

/** config `api:` credentials of a test appliance: TEST_OPERATOR with password and token, two submitters, callback and metrics tokens. */
export async function testApiCredentials(): Promise<Record<string, unknown>> {
  operatorHash ??= hashPassword(TEST_OPERATOR.password);
  return {
    callback_token: TEST_CALLBACK_TOKEN, metrics_token: TEST_METRICS_TOKEN,
    submitters: [{ name: TEST_SUBMITTER.name, token: TEST_SUBMITTER.token }, { name: TEST_OTHER_SUBMITTER.name, token: TEST_OTHER_SUBMITTER.token }],
    operators: [{ name: TEST_OPERATOR.name, token: TEST_OPERATOR.token, password_scrypt: await operatorHash }],
  };
}

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
 * assembly, the credentials of testApiCredentials(). `changes` are applied to the shipped config.yaml
 * (deep merge: `api: {...}` changes single keys).
 */
export async function startTestAppliance(changes: Record<string, unknown> = {}): Promise<RunningAppliance> {
  const { api, ...rest } = changes as { api?: Record<string, unknown> };
  const { dir, file } = await tempConfig({
    dicom: { host: '127.0.0.1', port: await freePort(), min_free_mb: 1 },
    api: { port: await freePort(), ...(await testApiCredentials()), ...api },
    ...rest,
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
