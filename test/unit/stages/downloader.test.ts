/**
 * The downloader stage's process() called directly on tasks waiting in processing/ (no runner),
 * with a real spool, real share folders and the real reference service to ask about overdue
 * tasks: a complete, verified archive is kept as result.zip and cleared from the share with its
 * upload; an archive still being written is left alone; damaged bytes are looked at again before
 * the task fails; an archive breaking the rules is refused at once; a task the service does not
 * know fails with that reason; a task retried after such a failure is uploaded again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_CONFIG_PATH, loadConfig, validateConfig, type LoadedConfig } from '../../../src/config/load.js';
import { silentLogger } from '../../../src/log/logger.js';
import { RemoteClient } from '../../../src/remote/client.js';
import { sha256File } from '../../../src/remote/metadata.js';
import { readResultArchive, RESULT_ARCHIVE, resultArchiveLimits } from '../../../src/remote/result-archive.js';
import { corruptZipInPlace, writeCraftedZip } from '../../../src/reference-service/reference-faults.js';
import { startReferenceService, type ReferenceService } from '../../../src/reference-service/reference-service.js';
import type { StageJob, StageOutcome } from '../../../src/runner/stage.js';
import { Spool } from '../../../src/spool/spool.js';
import { downloaderStage } from '../../../src/stages/downloader.js';
import { ResultHandoff } from '../../../src/stages/result-handoff.js';
import { makeTask, writeResultZip, type BuiltTask } from '../../helpers/results-task.js';

const TOKEN = 'downloader-test-token';
let root: string;
let spool: Spool;
let service: ReferenceService;

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'petspool-downloader-unit-'));
  spool = new Spool(path.join(root, 'spool'));
  await spool.init();
  await mkdir(path.join(root, 'share', 'outbox'), { recursive: true });
  await mkdir(path.join(root, 'share', 'inbox'), { recursive: true });
  service = await startReferenceService({
    port: 0, token: TOKEN, outboxDir: path.join(root, 'share', 'outbox'), inboxDir: path.join(root, 'share', 'inbox'),
    licences: { active: true },
  });
});
after(async () => {
  await service.close();
  await rm(root, { recursive: true, force: true });
});

function configWith(processingTimeoutSeconds: number): LoadedConfig {
  const shipped = loadConfig(DEFAULT_CONFIG_PATH);
  const { configPath: _configPath, ...doc } = shipped;
  return validateConfig({
    ...doc,
    spool_dir: spool.layout.root,
    share: { outbox: path.join(root, 'share', 'outbox'), inbox: path.join(root, 'share', 'inbox'), poll_seconds: 0.05 },
    remote: { ...doc.remote, url: service.url, token: TOKEN, processing_timeout_seconds: processingTimeoutSeconds },
  }, path.join(root, 'config.yaml'));
}

function stageWith(config: LoadedConfig, opts: { results?: ResultHandoff; pollMs?: number } = {}) {
  const remote = new RemoteClient({ baseUrl: service.url, token: TOKEN, clientId: config.remote.client_id, timeoutMs: 5000 });
  return downloaderStage({ config }, remote, { pollMs: opts.pollMs ?? 50, results: opts.results });
}

/** A task in processing/, uploaded `uploadedAgoMs` ago, as the uploader leaves it. */
async function waitingTask(uploadedAgoMs = 0, facts: Record<string, unknown> = {}): Promise<BuiltTask> {
  return makeTask(spool, {
    result: 'none', folder: 'processing', synth: { slices: 6, size: 16 },
    facts: { uploaded_at: new Date(Date.now() - uploadedAgoMs).toISOString(), ...facts },
  });
}

async function jobOf(task: BuiltTask): Promise<StageJob> {
  const { dir, record } = await spool.locateTask(task.id);
  return { id: task.id, dir, record, log: silentLogger };
}

/** The stage's outcome, its facts merged into task.json as the runner would (for the next look). */
async function look(stage: ReturnType<typeof stageWith>, task: BuiltTask): Promise<StageOutcome> {
  const job = await jobOf(task);
  const outcome = await stage.process(job);
  if (outcome.kind === 'wait' && outcome.facts) {
    const merged = { ...job.record, facts: { ...job.record.facts, ...outcome.facts } };
    await writeFile(path.join(job.dir, 'task.json'), JSON.stringify(merged, null, 2));
  }
  return outcome;
}

const names = (config: LoadedConfig, task: BuiltTask) => {
  const archive = `${task.id}_${config.remote.client_id}.zip`;
  return { archive, inShare: path.join(config.share.inbox, archive), upload: path.join(config.share.outbox, archive) };
};
/** An archive written long enough ago to count as complete without a callback. */
async function settled(file: string): Promise<void> {
  const past = new Date(Date.now() - 60_000);
  await utimes(file, past, past);
}

test('a complete, sound archive is kept as result.zip, handed over, and cleared from the share with its upload', async () => {
  const config = configWith(3600);
  const results = new ResultHandoff();
  const stage = stageWith(config, { results });
  const task = await waitingTask();
  const { inShare, upload } = names(config, task);
  await writeResultZip(inShare, task.uploaded, task.original.data.map((v) => v * 0.5), task.original.shape);
  await writeFile(upload, 'the upload this result answers');
  await settled(inShare);
  const archiveSha = await sha256File(inShare);
  const expected = await readResultArchive(inShare, task.id, resultArchiveLimits(task.original.data.length));

  const outcome = await look(stage, task);
  assert.equal(outcome.kind, 'done', JSON.stringify(outcome));
  assert.equal(outcome.kind === 'done' && outcome.facts?.result_sha256, expected.npySha256);
  const { dir } = await spool.locateTask(task.id);
  assert.equal(await sha256File(path.join(dir, RESULT_ARCHIVE)), archiveSha, 'result.zip is the archive, byte for byte');
  assert.ok(!(await readdir(dir)).some((name) => name.startsWith('.tmp-')));
  assert.deepEqual(await readdir(config.share.inbox), [], 'the result left the share');
  assert.deepEqual(await readdir(config.share.outbox), [], 'and so did the upload');
  const handed = results.take(task.id);
  assert.ok(handed, 'the verified volume is held for the unpacker');
  assert.deepEqual(handed.volume.data, task.original.data.map((v) => v * 0.5));
});

test('no archive yet: wait; an archive still changing and not announced: wait, then taken once unchanged', async () => {
  const config = configWith(3600);
  // A poll interval of an hour: "older than one poll interval" cannot make the archive complete here.
  const stage = stageWith(config, { pollMs: 3_600_000 });
  const task = await waitingTask();
  assert.deepEqual(await look(stage, task), { kind: 'wait', afterMs: 3_600_000 });

  const { inShare } = names(config, task);
  await writeResultZip(inShare, task.uploaded, task.original.data, task.original.shape);
  const fresh = await look(stage, task);
  assert.equal(fresh.kind, 'wait', 'just written, no callback: it may still be growing');
  const again = await look(stage, task);
  assert.equal(again.kind, 'done', 'the same size and mtime at the next look: complete');
});

test('an announced archive whose .npy does not match its sha256 is looked at three times, then the task fails', async () => {
  const config = configWith(3600);
  const stage = stageWith(config);
  const task = await waitingTask(0, { callback_at: new Date().toISOString() });
  const { inShare } = names(config, task);
  await writeResultZip(inShare, task.uploaded, task.original.data, task.original.shape, { npy_sha256: 'f'.repeat(64) });

  const first = await look(stage, task);
  const second = await look(stage, task);
  const third = await look(stage, task);
  assert.deepEqual([first.kind, second.kind], ['wait', 'wait'], 'a writer may still be busy');
  assert.equal(third.kind, 'fail');
  assert.match(third.kind === 'fail' ? third.reason : '', /^the result archive is damaged: .*sha256.*\(unchanged after 3 looks\)$/);
  assert.ok((await readdir(config.share.inbox)).includes(names(config, task).archive), 'a refused archive stays on the share');
  await rm(inShare);
});

test('damaged bytes (an interrupted copy) are damage too; an entry escaping the folder is refused at once', async () => {
  const config = configWith(3600);
  const stage = stageWith(config);

  const corrupt = await waitingTask(0, { callback_at: new Date().toISOString() });
  await writeResultZip(names(config, corrupt).inShare, corrupt.uploaded, corrupt.original.data, corrupt.original.shape);
  await corruptZipInPlace(names(config, corrupt).inShare);
  const looked = await look(stage, corrupt);
  assert.equal(looked.kind, 'wait');
  assert.match(String(looked.kind === 'wait' && looked.facts?.last_error), /^result archive damaged: /);
  await rm(names(config, corrupt).inShare);

  const slip = await waitingTask(0, { callback_at: new Date().toISOString() });
  await writeCraftedZip(names(config, slip).inShare, [{ name: '../../escaped.npy', data: Buffer.from('not a volume') }]);
  const refused = await look(stage, slip);
  assert.equal(refused.kind, 'fail');
  assert.match(refused.kind === 'fail' ? refused.reason : '', /^the result archive was refused: /);
  assert.deepEqual((await readdir(root)).filter((n) => n.startsWith('escaped')), []);
  await rm(names(config, slip).inShare);
});

test('a result for another task is not usable: the task fails with the reason', async () => {
  const config = configWith(3600);
  const stage = stageWith(config);
  const task = await waitingTask(0, { callback_at: new Date().toISOString() });
  const other = await waitingTask();
  // Another task's (sound) archive under this task's name.
  const elsewhere = path.join(root, 'other.zip');
  await writeResultZip(elsewhere, other.uploaded, other.original.data, other.original.shape);
  await copyFile(elsewhere, names(config, task).inShare);
  const outcome = await look(stage, task);
  assert.equal(outcome.kind, 'fail');
  assert.match(outcome.kind === 'fail' ? outcome.reason : '', /^the result archive is not usable: /);
  await rm(names(config, task).inShare);
});

test('overdue: the remote service is asked, and a task it does not know fails as lost', async () => {
  const config = configWith(1);
  const stage = stageWith(config);
  const task = await waitingTask(5_000);
  const outcome = await look(stage, task);
  assert.equal(outcome.kind, 'fail');
  assert.match(outcome.kind === 'fail' ? outcome.reason : '', new RegExp(`^the remote service has lost task ${task.id} \\(no result after \\d+ s; it does not know the task\\)$`));
});

test('a task put back by tasks retry after the downloader failed it is uploaded again, its old result removed', async () => {
  const config = configWith(3600);
  const stage = stageWith(config);
  const task = await waitingTask();
  const { inShare } = names(config, task);
  await writeResultZip(inShare, task.uploaded, task.original.data, task.original.shape);
  const job = await jobOf(task);
  const at = new Date().toISOString();
  job.record.history.push({ state: 'failed', at, detail: 'downloader: lost' }, { state: 'processing', at, detail: 'retry of downloader' });
  await writeFile(path.join(job.dir, RESULT_ARCHIVE), 'a result of the failed round');

  const outcome = await stage.process(job);
  assert.equal(outcome.kind, 'done');
  assert.equal(outcome.kind === 'done' && outcome.to, 'packed');
  assert.deepEqual(await readdir(config.share.inbox), [], 'the old result is not mistaken for the new one');
  assert.ok(!(await readdir(job.dir)).includes(RESULT_ARCHIVE));
});
