import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { validateConfig } from '../../src/config/load.js';
import { Store } from '../../src/db/store.js';
import { silentLogger } from '../../src/log/logger.js';
import { RemoteClient } from '../../src/remote/client.js';
import { startReferenceService, type ReferenceLicences, type ReferenceService } from '../../src/reference-service/reference-service.js';
import { Runner, type StageTransition } from '../../src/runner/runner.js';
import { Spool, type FailureReason } from '../../src/spool/spool.js';
import type { TaskRecord } from '../../src/spool/task-record.js';
import { validatorStage } from '../../src/stages/validator.js';
import { TaskOperations } from '../../src/operations/task-operations.js';
import { addRadiopharmaceutical } from '../../src/settings/effective-settings.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { placeCompiledTask } from '../helpers/compiled-task.js';
import { freePort } from '../fixtures/dcmtk.js';

const TOKEN = 'remote-secret';
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-validator-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function referenceService(licences: ReferenceLicences, port = 0): Promise<ReferenceService> {
  const dir = await tempDir();
  const service = await startReferenceService({ port, token: TOKEN, outboxDir: dir, inboxDir: dir, licences });
  cleanups.push(() => service.close());
  return service;
}

interface Bench {
  spool: Spool;
  store: Store;
  runner: Runner;
  transitions: StageTransition[];
  /** Wait until the task has left compiled/ (a retry keeps it there) and the runner told of the move. */
  settled(id: string, ms?: number): Promise<{ folder: string; record: TaskRecord }>;
}

/** A real spool, store and runner with only the validator stage, talking to the service at `url`. */
async function bench(url: string, configChanges: Record<string, unknown> = {}): Promise<Bench> {
  const dir = await tempDir();
  const doc = YAML.parse(await readFile(path.join(REPO_ROOT, 'config.yaml'), 'utf8'));
  const config = validateConfig({ ...doc, spool_dir: './spool', database: './spool/db.json', ...configChanges }, path.join(dir, 'config.yaml'));
  const spool = new Spool(config.spool_dir);
  await spool.init();
  const store = await Store.open(config.database, 50);
  const runner = new Runner(spool, silentLogger, { scanIntervalMs: 100 });
  const transitions: StageTransition[] = [];
  runner.on('transition', (t: StageTransition) => {
    transitions.push(t);
    if (t.record) store.recordTask(t.record);
  });
  const remote = new RemoteClient({ baseUrl: url, token: TOKEN, clientId: config.remote.client_id, timeoutMs: 5000 });
  runner.register([validatorStage({ config, log: silentLogger, spool, store, runner }, remote)]);
  runner.start();
  cleanups.push(async () => {
    await runner.stop();
    await store.close();
  });
  return {
    spool, store, runner, transitions,
    settled: async (id, ms = 20_000) => {
      const end = Date.now() + ms;
      for (;;) {
        const located = await spool.locateTask(id);
        // The runner emits the transition (which the database mirrors) just after the folder moved.
        const told = transitions.some((t) => t.taskId === id && t.record !== undefined && t.record.state !== 'compiled');
        if (located.folder !== 'compiled' && told) return located;
        assert.ok(Date.now() < end, `task ${id} still in compiled/: ${JSON.stringify(located.record.facts)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

test('each licence answer: 200 validated, 405/406/407 failed with the meaning and the service\'s message', async () => {
  const cases: { licences: ReferenceLicences; folder: string; reason?: RegExp }[] = [
    { licences: { active: true }, folder: 'validated' },
    { licences: { active: false }, folder: 'failed', reason: /^no active licence \(405\): no active licence$/ },
    { licences: { active: true, radiopharmaceuticals: ['NaF'] }, folder: 'failed',
      reason: /^no licence for this radiopharmaceutical \(406\): no licence for radiopharmaceutical FDG$/ },
    { licences: { active: true, reconstructionMethods: ['FBP'] }, folder: 'failed',
      reason: /^no model for these reconstruction parameters \(407\): no model for reconstruction method OSEM3D 4i16s$/ },
  ];
  for (const c of cases) {
    const service = await referenceService(c.licences);
    const b = await bench(service.url);
    const id = await placeCompiledTask(b.spool);
    const { folder, record } = await b.settled(id);
    assert.equal(folder, c.folder, JSON.stringify(c.licences));
    if (c.reason) {
      assert.match(record.reason ?? '', c.reason);
      const reasonJson = JSON.parse(await readFile(path.join(b.spool.layout.taskDir('failed', id), 'reason.json'), 'utf8')) as FailureReason;
      assert.equal(reasonJson.stage, 'validator');
      assert.equal(reasonJson.from, 'compiled');
    } else {
      assert.equal(record.state, 'validated');
      assert.equal(record.history.at(-1)?.detail, 'valid; licence confirmed');
      assert.equal(record.facts.radiopharmaceutical, 'fdg');
      assert.equal(record.facts.nuclide, 'F-18');
      assert.equal(b.store.data.tasks[id]?.state, 'validated', 'the database mirrors the move');
    }
  }
});

test('a lossy-compressed series is validated with the fact recorded, or refused with the reason where validator.accept_lossy is false', async () => {
  const service = await referenceService({ active: true });
  const accepting = await bench(service.url);
  const lossy = await placeCompiledTask(accepting.spool, { compression: 'j2k-irreversible' });
  const lossless = await placeCompiledTask(accepting.spool, { compression: 'j2k-reversible' });
  const validated = await accepting.settled(lossy);
  assert.equal(validated.folder, 'validated');
  assert.deepEqual(validated.record.facts.source_lossy_compression, {
    slices: 6, methods: ['ISO_15444_1'], mean_ratio: (validated.record.facts.source_lossy_compression as { mean_ratio: number }).mean_ratio,
    evidence: ['transfer syntax JPEG 2000 with the irreversible (9-7) wavelet'],
  });
  const plain = await accepting.settled(lossless);
  assert.equal(plain.folder, 'validated');
  assert.equal(plain.record.facts.source_lossy_compression, undefined, 'a reversible JPEG 2000 codestream is lossless');

  const refusing = await bench(service.url, { validator: { accept_lossy: false } });
  const refused = await refusing.settled(await placeCompiledTask(refusing.spool, { compression: 'jpeg-baseline' }));
  assert.equal(refused.folder, 'failed');
  assert.match(refused.record.reason ?? '', /^lossy-compressed pixel data in 6 of 6 slices \(transfer syntax JPEG Baseline; about [\d.]+:1\); this site takes no lossy input \(validator\.accept_lossy: false\)/);
  const stillTaken = await refusing.settled(await placeCompiledTask(refusing.spool, { compression: 'jpeg-ls-lossless' }));
  assert.equal(stillTaken.folder, 'validated', 'lossless compression is no lossy input');
});

test('every missing header item is named in one failure; no destination is a failure too', async () => {
  const service = await referenceService({ active: true });
  const b = await bench(service.url);
  const id = await placeCompiledTask(b.spool, { omit: ['PatientWeight', 'RadionuclideTotalDose', 'Units', 'PixelSpacing'] });
  const { folder, record } = await b.settled(id);
  assert.equal(folder, 'failed');
  for (const item of ['PatientWeight missing on all 6 slices', 'RadionuclideTotalDose missing on all 6 slices',
    'Units missing on all 6 slices', 'PixelSpacing missing on all 6 slices']) {
    assert.ok(record.reason?.includes(item), `${item} in ${record.reason}`);
  }
  assert.equal(record.reason?.split('; ').length, 4);

  b.store.data.destinations.removed.push('pacs');
  const noDestination = await placeCompiledTask(b.spool);
  const settled = await b.settled(noDestination);
  assert.equal(settled.folder, 'failed');
  assert.equal(settled.record.reason, 'no destination configured');
});

test('an unknown tracer fails; once an operator adds it, retry validates the task', async () => {
  const service = await referenceService({ active: true, radiopharmaceuticals: ['Fluoro-pentixafor'] });
  const b = await bench(service.url);
  const id = await placeCompiledTask(b.spool, { tracerName: 'Fluoro-pentixafor' });
  const failed = await b.settled(id);
  assert.equal(failed.folder, 'failed');
  assert.match(failed.record.reason ?? '', /unknown radiopharmaceutical "Fluoro-pentixafor": add it with petspool radiopharmaceuticals add/);

  const added = addRadiopharmaceutical(b.store, { id: 'f18-pentixafor', name: 'Fluoro-pentixafor', synonyms: [], codes: [],
    nuclide: '18F', halfLifeSeconds: 6586.2 });
  assert.equal(added.ok, true);
  await new TaskOperations(b.spool, { store: b.store, runner: b.runner }).retry(id, 'alice');
  const validated = await b.settled(id);
  assert.equal(validated.folder, 'validated');
  assert.equal(validated.record.facts.radiopharmaceutical, 'f18-pentixafor');
  assert.deepEqual(validated.record.history.map((h) => h.state), ['compiled', 'failed', 'compiled', 'validated']);
});

test('a service that is down is retried with backoff; when it comes up the task is validated', async () => {
  const port = await freePort();
  const b = await bench(`http://127.0.0.1:${port}`);
  const id = await placeCompiledTask(b.spool);
  const deadline = Date.now() + 10_000;
  while (!b.transitions.some((t) => t.taskId === id && t.outcome === 'retry')) {
    assert.ok(Date.now() < deadline, 'no retry seen');
    await new Promise((r) => setTimeout(r, 20));
  }
  const waiting = await b.spool.locateTask(id);
  assert.equal(waiting.folder, 'compiled');
  assert.match(String(waiting.record.facts.last_error), /licence check: remote service unreachable .*ECONNREFUSED/);

  await referenceService({ active: true }, port);
  const { folder, record } = await b.settled(id);
  assert.equal(folder, 'validated');
  assert.equal(record.attempts, 0);
  assert.equal(record.facts.retrying_since, undefined);
});

test('503 answers are retried too; past remote.give_up_after_seconds the task fails', async () => {
  const flaky = await referenceService({ active: true });
  flaky.setFaults({ failNextCalls: 1 });
  const b = await bench(flaky.url);
  const id = await placeCompiledTask(b.spool);
  const { folder } = await b.settled(id);
  assert.equal(folder, 'validated');
  assert.ok(b.transitions.some((t) => t.taskId === id && t.outcome === 'retry'), 'the 503 was a retry');

  const gone = await bench(`http://127.0.0.1:${await freePort()}`, { remote: {
    url: 'embedded', client_id: 'site-01', token: TOKEN, give_up_after_seconds: 1, processing_timeout_seconds: 60 } });
  const doomed = await placeCompiledTask(gone.spool);
  const given = await gone.settled(doomed);
  assert.equal(given.folder, 'failed');
  assert.match(given.record.reason ?? '', /^gave up after \d+ attempts: licence check: remote service unreachable/);
});
