import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Spool, TaskNotFoundError } from '../../../src/spool/spool.js';
import { newTaskId, newTaskRecord, readTaskRecord, writeTaskRecord } from '../../../src/spool/task-record.js';

async function freshSpool(): Promise<Spool> {
  const spool = new Spool(await mkdtemp(path.join(os.tmpdir(), 'petspool-spool-')));
  await spool.init();
  return spool;
}

function record(id = newTaskId()) {
  return newTaskRecord({ id, sender: 'ae:SCANNER', series_instance_uid: '1.2.3', study_instance_uid: '1.2' });
}

test('createTask makes the folder appear whole, with task.json and its content', async () => {
  const spool = await freshSpool();
  const r = record();
  const dir = await spool.createTask('collecting', r, async (tmp) => {
    assert.match(path.basename(tmp), /^\.tmp-/);
    assert.deepEqual(await spool.taskIds('collecting'), [], 'a task being made is not visible');
    await writeFile(path.join(tmp, 'payload'), 'x');
  });
  assert.equal(dir, spool.layout.taskDir('collecting', r.id));
  assert.deepEqual(await spool.taskIds('collecting'), [r.id]);
  assert.equal((await readTaskRecord(dir)).state, 'collecting');
  assert.equal(await readFile(path.join(dir, 'payload'), 'utf8'), 'x');
});

test('moves keep the state and history in task.json; fail writes reason.json; retry puts it back', async () => {
  const spool = await freshSpool();
  const r = record();
  await spool.createTask('compiled', r);
  await spool.moveTask(r.id, 'compiled', 'validated', 'all checks passed');
  const failed = await spool.failTask(r.id, 'validated', 'packer', '7z exited with code 2');
  assert.equal(failed.state, 'failed');
  assert.equal(failed.reason, '7z exited with code 2');
  const reason = JSON.parse(await readFile(path.join(spool.layout.taskDir('failed', r.id), 'reason.json'), 'utf8'));
  assert.equal(reason.stage, 'packer');
  assert.equal(reason.from, 'validated');
  assert.equal(reason.reason, '7z exited with code 2');
  assert.ok(Date.parse(reason.at) > 0);
  assert.equal(reason.attempts, 0);

  const retried = await spool.retryTask(r.id);
  assert.equal(retried.state, 'validated');
  assert.equal(retried.reason, null);
  const located = await spool.locateTask(r.id);
  assert.equal(located.folder, 'validated');
  assert.deepEqual(await readdir(located.dir), ['task.json']);
  assert.deepEqual(located.record.history.map((h) => h.state), ['compiled', 'validated', 'failed', 'validated']);
  assert.equal(located.record.history[1].detail, 'all checks passed');
  assert.equal(located.record.history[3].detail, 'retry of packer');
});

test('a task that moves on while the folders are listed is listed once, where it was found last', async () => {
  const spool = await freshSpool();
  const moving = record();
  const other = record();
  await spool.createTask('compiled', moving);
  await spool.createTask('compiled', other);
  // What a listing sees when the task moves from compiled/ to failed/ between reading the two folders.
  await cp(spool.layout.taskDir('compiled', moving.id), spool.layout.taskDir('failed', moving.id), { recursive: true });
  const listed = await spool.listTasks();
  assert.deepEqual(listed.map((t) => [t.folder, t.record.id]), [['compiled', other.id], ['failed', moving.id]]);
});

test('retry refuses a task that is not failed, with a clear error', async () => {
  const spool = await freshSpool();
  const r = record();
  await spool.createTask('packed', r);
  await assert.rejects(spool.retryTask(r.id), (err: unknown) => err instanceof TaskNotFoundError && /not in failed\//.test(String(err)));
  await assert.rejects(spool.locateTask('nonsense'), TaskNotFoundError);
});

test('abort moves the task to aborted/ with the reason', async () => {
  const spool = await freshSpool();
  const r = record();
  await spool.createTask('collecting', r);
  const aborted = await spool.abortTask(r.id, 'collecting', '80 of 81 slices');
  assert.equal(aborted.state, 'aborted');
  assert.equal((await spool.locateTask(r.id)).record.reason, '80 of 81 slices');
});

test('recover rolls back temporary entries and makes task.json agree with its folder', async () => {
  const spool = await freshSpool();
  const r = record();
  await spool.createTask('packed', r);
  // A crash after task.json was rewritten for the next folder but before the rename:
  const dir = spool.layout.taskDir('packed', r.id);
  await writeTaskRecord(dir, { ...(await readTaskRecord(dir)), state: 'processing' });
  // Half-made task, half-written file inside a task, half-received instance:
  await mkdir(path.join(spool.layout.folder('validated'), '.tmp-20260101-000000-aaaaaa'));
  await writeFile(path.join(dir, '.tmp-1234-archive.zip'), 'partial');
  await mkdir(path.join(spool.layout.folder('received'), 'SCANNER', '.tmp-x'), { recursive: true });
  const report = await spool.recover();
  assert.equal(report.removedTemporaryEntries.length, 3);
  assert.deepEqual(report.correctedStates, [{ id: r.id, was: 'processing', now: 'packed' }]);
  assert.deepEqual(await readdir(spool.layout.folder('validated')), []);
  assert.deepEqual(await readdir(dir), ['task.json']);
  assert.equal((await readTaskRecord(dir)).state, 'packed');
});

test('task ids sort by creation time', () => {
  const a = newTaskId(new Date('2026-01-02T03:04:05Z'));
  const b = newTaskId(new Date('2026-01-02T03:04:06Z'));
  assert.match(a, /^20260102-030405-[0-9a-f]{6}$/);
  assert.ok(a < b);
});
