import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { isSpoolLocked } from '../../src/spool/lock.js';
import { Spool } from '../../src/spool/spool.js';
import { newTaskId, newTaskRecord } from '../../src/spool/task-record.js';
import { startReferenceService, type ReferenceLicences } from '../../src/reference-service/reference-service.js';
import { runCli, tempConfig } from '../helpers/cli.js';
import { placeCompiledTask } from '../helpers/compiled-task.js';
import { startApplianceProcess } from '../helpers/appliance-process.js';
import { testApiCredentials } from '../helpers/appliance.js';
import { freePort } from '../fixtures/dcmtk.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function config(changes: Record<string, unknown> = {}) {
  const made = await tempConfig(changes);
  cleanups.push(() => rm(made.dir, { recursive: true, force: true }));
  const spool = new Spool(loadConfig(made.file).spool_dir);
  await spool.init();
  return { ...made, spool };
}

/** A task record made directly in `folder` (no instances: list/show/retry/abort only read task.json). */
async function taskIn(spool: Spool, folder: 'compiled' | 'validated' | 'sent', description: string): Promise<string> {
  const id = newTaskId();
  await spool.createTask(folder, newTaskRecord({ id, sender: 'ae:SCANNER1', series_instance_uid: `1.2.3.${description.length}`,
    study_instance_uid: '1.2.3', series_description: description, images: 81 }), undefined, `made by the test in ${folder}`);
  return id;
}

test('offline: list, show, retry and abort work on the spool folders directly', async () => {
  const { file, spool } = await config();
  const failedId = await taskIn(spool, 'compiled', 'PET WB');
  await spool.failTask(failedId, 'compiled', 'validator', 'PatientWeight missing on all 81 slices');
  const validatedId = await taskIn(spool, 'validated', 'PET Brain');
  const doneId = await taskIn(spool, 'sent', 'PET Legs');

  // The read-only commands, side by side (each is a separate process).
  const [list, failedOnlyRun, badState, table, show, showJsonRun, unknown] = await Promise.all([
    ['tasks', 'list', '--json'], ['tasks', 'list', '--state', 'failed', '--json'], ['tasks', 'list', '--state', 'sleeping'],
    ['tasks', 'list'], ['tasks', 'show', failedId], ['tasks', 'show', failedId, '--json'], ['tasks', 'show', '20990101-000000-abcdef'],
  ].map((args) => runCli([...args, '--config', file])));
  assert.equal(list.code, 0, list.stderr);
  const tasks = JSON.parse(list.stdout) as Record<string, unknown>[];
  assert.deepEqual(tasks.map((t) => [t.id, t.state]).sort(), [[failedId, 'failed'], [validatedId, 'validated'], [doneId, 'done']].sort());
  for (const t of tasks) {
    for (const key of ['id', 'state', 'series_instance_uid', 'study_instance_uid', 'images', 'reason', 'outputs', 'sender', 'created_at', 'updated_at']) {
      assert.ok(key in t, `${key} in ${JSON.stringify(t)}`);
    }
    assert.equal(t.reason, t.id === failedId ? 'PatientWeight missing on all 81 slices' : null);
  }
  const failedOnly = JSON.parse(failedOnlyRun.stdout) as { id: string }[];
  assert.deepEqual(failedOnly.map((t) => t.id), [failedId]);
  assert.equal(badState.code, 2);
  assert.match(badState.stderr, /unknown state "sleeping"; one of collecting, compiled/);

  assert.equal(table.code, 0);
  assert.match(table.stdout, /^ID\s+STATE\s+IMAGES\s+SENDER/);
  assert.match(table.stdout, new RegExp(`${failedId}\\s+failed\\s+81\\s+ae:SCANNER1 .*PET WB\\s+PatientWeight missing`));
  assert.match(table.stdout, /3 tasks/);

  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /state\s+failed/);
  assert.match(show.stdout, /reason\s+PatientWeight missing on all 81 slices/);
  assert.match(show.stdout, /\d{4}-\d\d-\d\dT[\d:.]+Z\s+compiled\s+made by the test in compiled/);
  assert.match(show.stdout, /\d{4}-\d\d-\d\dT[\d:.]+Z\s+failed\s+validator: PatientWeight missing/);
  assert.match(show.stdout, /reason\.json\n\s+\{\n\s+"stage": "validator"/);
  const showJson = JSON.parse(showJsonRun.stdout);
  assert.equal(showJson.folder, 'failed');
  assert.equal(showJson.record.id, failedId);
  assert.equal(showJson.reason_json.from, 'compiled');
  assert.deepEqual(showJson.files, ['reason.json', 'task.json']);

  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, new RegExp(`no task 20990101-000000-abcdef in ${spool.root.replace(/[/.]/g, '\\$&')}`));

  // Three changes at once: each command waits for the others' short hold of the spool.
  const [notFailed, retry, abort] = await Promise.all([
    runCli(['tasks', 'retry', doneId, '--config', file]),
    runCli(['tasks', 'retry', failedId, '--config', file]),
    runCli(['tasks', 'abort', validatedId, '--reason', 'wrong patient', '--config', file]),
  ]);
  assert.equal(notFailed.code, 1);
  assert.match(notFailed.stderr, new RegExp(`task ${doneId} is done, not failed: nothing to retry`));
  assert.equal(retry.code, 0, retry.stderr);
  assert.match(retry.stdout, /is compiled again \(retry of validator\)/);
  const back = await spool.locateTask(failedId);
  assert.equal(back.folder, 'compiled');
  assert.equal(back.record.reason, null);
  assert.equal(abort.code, 0, abort.stderr);
  assert.equal((await spool.locateTask(validatedId)).record.reason, 'wrong patient');
  assert.equal((await spool.locateTask(validatedId)).folder, 'aborted');
  const [again, defaultReason] = await Promise.all([runCli(['tasks', 'abort', validatedId, '--config', file]),
    runCli(['tasks', 'abort', failedId, '--config', file])]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /is aborted: nothing to abort/);
  assert.equal(defaultReason.code, 0);
  const defaultAborted = (await spool.locateTask(failedId)).record;
  assert.equal(defaultAborted.reason, 'aborted by admin', 'the default reason names the operator (config.yaml\'s only one)');
  assert.equal(defaultAborted.history.at(-1)?.by, 'admin');

  // The direct path mirrored the changes into the database and let go of the spool.
  const db = JSON.parse(await readFile(loadConfig(file).database, 'utf8'));
  assert.equal(db.tasks[validatedId].state, 'aborted');
  assert.equal(db.tasks[failedId].state, 'aborted');
  assert.equal(await isSpoolLocked(spool.root), false);
});

test('with the appliance running, retry and abort go through its API', async () => {
  const licences: ReferenceLicences = { active: false };
  const service = await startReferenceService({ port: 0, token: 'remote-secret', outboxDir: '/nonexistent', inboxDir: '/nonexistent', licences });
  cleanups.push(() => service.close());
  const apiPort = await freePort();
  const { file, dir, spool } = await config({
    dicom: { host: '127.0.0.1', port: await freePort() }, api: { port: apiPort, ...(await testApiCredentials()) },
    remote: { url: service.url, token: 'remote-secret' },
  });
  const refusedId = await placeCompiledTask(spool);
  const waitingId = await taskIn(spool, 'sent', 'PET done');
  // Failed before the appliance starts: no stage touches it, so aborting it cannot race a stage.
  const parkedId = await taskIn(spool, 'compiled', 'PET parked');
  await spool.failTask(parkedId, 'compiled', 'validator', 'Units missing on all 81 slices');
  const appliance = await startApplianceProcess(file);
  cleanups.push(() => appliance.stop());

  const failed = await waitFor(async () => {
    const t = await spool.locateTask(refusedId);
    return t.folder === 'failed' ? t : undefined;
  });
  assert.equal(failed.record.reason, 'no active licence (405): no active licence');
  assert.equal(await isSpoolLocked(spool.root), true, 'the appliance holds the spool: a direct change is impossible');

  // The same spool with a wrong operator token: the command must be talking to the appliance's API.
  // And with a port nobody listens on: unreachable is exit 3 with a clear message.
  const original = YAML.parse(await readFile(file, 'utf8'));
  const wrongToken = path.join(dir, 'wrong-token.yaml');
  await writeFile(wrongToken, YAML.stringify({ ...original, api: { ...original.api, operators: [{ name: 'alice', token: 'not-alice-s-real-token' }] } }));
  const wrongPort = path.join(dir, 'wrong-port.yaml');
  await writeFile(wrongPort, YAML.stringify({ ...original, api: { ...original.api, port: await freePort() } }));
  const [refused, unreachable] = await Promise.all([
    runCli(['tasks', 'retry', refusedId, '--config', wrongToken]), runCli(['tasks', 'abort', parkedId, '--config', wrongPort])]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /refused operator alice's token from .*wrong-token\.yaml \(401\): unknown token/);
  assert.equal(unreachable.code, 3);
  assert.match(unreachable.stderr, /the appliance is running on this spool but its API at http:\/\/127\.0\.0\.1:\d+ does not answer \(ECONNREFUSED\)/);

  licences.active = true;
  const retry = await runCli(['tasks', 'retry', refusedId, '--config', file]);
  assert.equal(retry.code, 0, retry.stderr);
  // The running appliance's runner was nudged and validated the retried task.
  // (Later stages may already have taken it further: the history tells.)
  const validated = await waitFor(async () => {
    const t = await spool.locateTask(refusedId);
    return t.record.history.some((h) => h.state === 'validated') ? t : undefined;
  });
  assert.deepEqual(validated.record.history.slice(0, 4).map((h) => h.state), ['compiled', 'failed', 'compiled', 'validated']);

  const [conflict, unknown] = await Promise.all([runCli(['tasks', 'retry', waitingId, '--config', file]),
    runCli(['tasks', 'abort', '20990101-000000-abcdef', '--config', file])]);
  assert.equal(conflict.code, 1);
  assert.match(conflict.stderr, /is done, not failed: nothing to retry/);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no task 20990101-000000-abcdef in /);
  const abort = await runCli(['tasks', 'abort', parkedId, '--reason', 'not needed', '--config', file]);
  assert.equal(abort.code, 0, abort.stderr);
  assert.equal((await spool.locateTask(parkedId)).folder, 'aborted');

  // Reading needs no API: the folders answer while the appliance runs.
  const list = JSON.parse((await runCli(['tasks', 'list', '--json', '--config', file])).stdout) as { id: string; state: string; reason: string | null }[];
  assert.deepEqual(list.find((t) => t.id === parkedId), { ...list.find((t) => t.id === parkedId), state: 'aborted', reason: 'not needed' });
  assert.equal(await appliance.stop(), 0);
});

async function waitFor<T>(pick: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pick();
    if (v !== undefined) return v;
    assert.ok(Date.now() < end, 'timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
