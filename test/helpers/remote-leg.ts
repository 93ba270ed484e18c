/**
 * A real remote leg on loopback for integration tests: Spool, Store and Runner in a temp folder,
 * the embedded reference service (connectRemote), the API server with the process_ready route,
 * and the packer, uploader and downloader stages. The share is a plain temp folder.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { processReadyRoutes } from '../../src/api/routes/process-ready.js';
import type { ApplianceParts } from '../../src/runner/appliance-parts.js';
import { validateConfig, type LoadedConfig } from '../../src/config/load.js';
import { Store } from '../../src/db/store.js';
import { synthesizePetSeries, type SynthOptions } from '../../src/series/synth.js';
import { silentLogger } from '../../src/log/logger.js';
import { callbackUrlFor, connectRemote } from '../../src/app/connect-remote.js';
import type { ReferenceFaults } from '../../src/reference-service/reference-faults.js';
import { startReferenceService, type ReferenceService } from '../../src/reference-service/reference-service.js';
import { Runner, type StageTransition } from '../../src/runner/runner.js';
import { Spool } from '../../src/spool/spool.js';
import type { TaskFolder } from '../../src/spool/layout.js';
import { INSTANCES_DIR } from '../../src/spool/layout.js';
import { newTaskId, newTaskRecord, type TaskRecord } from '../../src/spool/task-record.js';
import { downloaderStage } from '../../src/stages/downloader.js';
import { ResultHandoff } from '../../src/stages/result-handoff.js';
import { packerStage } from '../../src/stages/packer.js';
import { uploaderStage } from '../../src/stages/uploader.js';
import { REPO_ROOT } from './cli.js';
import { accessFor } from './api-access.js';

/** The remote service's callback token (api.callback_token). */
export const API_TOKEN = 'api-callback-secret-token';
export const REMOTE_TOKEN = 'remote-secret-token';

export interface LegOptions {
  /** Merged over the test config (share paths relative to the temp root). */
  share?: Partial<LoadedConfig['share']>;
  remote?: Partial<LoadedConfig['remote']>;
  api?: Partial<LoadedConfig['api']>;
  faults?: ReferenceFaults;
  /**
   * Run the reference service on its own over https (certFile/keyFile) rather than embedded:
   * remote.url is its https URL and remote.ca_file is `caFile`; `callbackCaFile` is what the
   * service checks an https callback URL against.
   */
  https?: { certFile: string; keyFile: string; caFile: string; callbackCaFile?: string };
}

export interface Leg {
  root: string;
  config: LoadedConfig;
  parts: ApplianceParts;
  service: ReferenceService;
  api: ApiServer;
  transitions: StageTransition[];
  /** Where the downloader hands its verified results over (to the unpacker, which this leg lacks). */
  results: ResultHandoff;
  addValidatedTask(synth?: SynthOptions): Promise<string>;
  /** Resolves with the record once the task sits in `folder`; throws after `ms`. */
  waitFor(id: string, folder: TaskFolder, ms?: number): Promise<TaskRecord>;
  close(): Promise<void>;
}

export async function startLeg(opts: LegOptions = {}): Promise<Leg> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'petspool-remote-leg-'));
  const doc = YAML.parse(await readFile(path.join(REPO_ROOT, 'config.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  const standalone = opts.https && await startHttpsService(root, opts.https);
  const config = validateConfig({
    ...doc,
    spool_dir: './spool',
    database: './spool/petspool.json',
    share: { outbox: './share/outbox', inbox: './share/inbox', poll_seconds: 0.2, ...opts.share },
    api: { ...doc.api, callback_token: API_TOKEN, ...opts.api },
    remote: {
      ...doc.remote, url: 'embedded', token: REMOTE_TOKEN, give_up_after_seconds: 60, processing_timeout_seconds: 30,
      ...(standalone && { url: standalone.url, ca_file: opts.https!.caFile }), ...opts.remote,
    },
  }, path.join(root, 'config.yaml'));

  const spool = new Spool(config.spool_dir);
  await spool.init();
  const store = await Store.open(config.database);
  const runner = new Runner(spool, silentLogger, { scanIntervalMs: 100 });
  const transitions: StageTransition[] = [];
  runner.on('transition', (t: StageTransition) => transitions.push(t));
  const parts: ApplianceParts = { config, log: silentLogger, spool, store, runner };

  const remote = await connectRemote(parts);
  const service = standalone ?? remote.embedded!;
  if (opts.faults) service.setFaults(opts.faults);
  const api = await startApiServer({ host: '127.0.0.1', port: 0, access: accessFor(config), log: silentLogger, routes: processReadyRoutes(parts) });
  const fast = { initialMs: 200, maxMs: 1000 };
  const results = new ResultHandoff();
  runner.register([
    packerStage(parts),
    uploaderStage(parts, remote.client, { callbackUrl: callbackUrlFor(config, api.url), backoff: fast }),
    downloaderStage(parts, remote.client, { backoff: fast, results }),
  ]);
  runner.start();

  return {
    root, config, parts, service, api, transitions, results,
    async addValidatedTask(synth: SynthOptions = {}) {
      const id = newTaskId();
      // What the validator leaves on a task it passed (validator.ts).
      const record = newTaskRecord({
        id, sender: 'hotfolder', series_instance_uid: '1.2.3', study_instance_uid: '1.2.3.4',
        facts: { radiopharmaceutical: 'fdg', radiopharmaceutical_name: 'FDG', nuclide: 'F-18' },
      });
      await spool.createTask('validated', record, async (dir) => {
        await synthesizePetSeries(path.join(dir, INSTANCES_DIR), { slices: 12, size: 24, ...synth });
      });
      runner.nudge('packer');
      return id;
    },
    async waitFor(id, folder, ms = 20_000) {
      const end = Date.now() + ms;
      for (;;) {
        const located = await spool.locateTask(id).catch(() => undefined);
        if (located?.folder === folder) return located.record;
        if (Date.now() > end) {
          throw new Error(`task ${id} not in ${folder}/ within ${ms} ms: it is in ${located?.folder}/ (${located?.record.reason ?? located?.record.facts.last_error ?? ''})`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      await runner.stop();
      await api.close();
      await service.close();
      await store.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** The reference service over https on the leg's share folders (made here: connectRemote leaves a real share to the operator). */
async function startHttpsService(root: string, https: NonNullable<LegOptions['https']>): Promise<ReferenceService> {
  const [outboxDir, inboxDir] = [path.join(root, 'share', 'outbox'), path.join(root, 'share', 'inbox')];
  for (const dir of [outboxDir, inboxDir]) await mkdir(dir, { recursive: true });
  return startReferenceService({
    token: REMOTE_TOKEN, callbackToken: API_TOKEN, outboxDir, inboxDir, licences: { active: true }, logger: silentLogger,
    tls: { certFile: https.certFile, keyFile: https.keyFile }, callbackCaFile: https.callbackCaFile,
  });
}
