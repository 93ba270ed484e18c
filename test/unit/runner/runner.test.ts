import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Spool } from '../../../src/spool/spool.js';
import { newTaskId, newTaskRecord } from '../../../src/spool/task-record.js';
import { Runner, type StageTransition } from '../../../src/runner/runner.js';
import { PermanentError, type Stage, type StageOutcome } from '../../../src/runner/stage.js';
import { backoffDelayMs } from '../../../src/runner/backoff.js';
import { silentLogger } from '../../../src/log/logger.js';

async function setup(stages: Stage[], scanIntervalMs = 20) {
  const spool = new Spool(await mkdtemp(path.join(os.tmpdir(), 'petspool-runner-')));
  await spool.init();
  const runner = new Runner(spool, silentLogger, { scanIntervalMs });
  runner.register(stages);
  const transitions: StageTransition[] = [];
  runner.on('transition', (t: StageTransition) => transitions.push(t));
  return { spool, runner, transitions };
}

async function addTask(spool: Spool) {
  const id = newTaskId();
  await spool.createTask('compiled', newTaskRecord({ id, sender: 'hotfolder', series_instance_uid: '1', study_instance_uid: '2' }));
  return id;
}

function stage(process: Stage['process'], extra: Partial<Stage> = {}): Stage {
  return { name: 'validator', from: 'compiled', to: 'validated', backoff: { initialMs: 10, maxMs: 40 }, process, ...extra };
}

async function until(cond: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('done moves the task on and merges facts', async () => {
  const { spool, runner } = await setup([stage(async () => ({ kind: 'done', detail: 'ok', facts: { tracer: 'FDG' } }))]);
  const id = await addTask(spool);
  runner.start();
  await until(async () => (await spool.taskIds('validated')).includes(id));
  await runner.stop();
  const t = await spool.locateTask(id);
  assert.equal(t.record.state, 'validated');
  assert.equal(t.record.facts.tracer, 'FDG');
});

test('retry backs off and counts attempts, then succeeds', async () => {
  let calls = 0;
  const times: number[] = [];
  const { spool, runner } = await setup([stage(async (): Promise<StageOutcome> => {
    times.push(Date.now());
    calls++;
    return calls < 4 ? { kind: 'retry', reason: 'share full' } : { kind: 'done' };
  })]);
  const id = await addTask(spool);
  runner.start();
  await until(async () => (await spool.taskIds('validated')).includes(id));
  await runner.stop();
  assert.equal(calls, 4);
  // Delays ~10, ~20, ~40 ms (±20 %): each wait at least the previous one's lower bound.
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  assert.ok(gaps[0] >= 7 && gaps[1] >= 15 && gaps[2] >= 31, `gaps ${gaps.join(',')}`);
  assert.equal((await spool.locateTask(id)).record.attempts, 0, 'attempts reset after the move');
});

test('a thrown error is a retry; after maxAttempts the task fails with the reason', async () => {
  const { spool, runner } = await setup([stage(async () => { throw new Error('ECONNREFUSED 127.0.0.1:9'); }, { maxAttempts: 2 })]);
  const id = await addTask(spool);
  runner.start();
  await until(async () => (await spool.taskIds('failed')).includes(id));
  await runner.stop();
  const t = await spool.locateTask(id);
  assert.equal(t.record.attempts, 3);
  assert.equal(t.record.failed_stage, 'validator');
  assert.match(t.record.reason ?? '', /gave up after 3 attempts: ECONNREFUSED/);
});

test('PermanentError and fail outcomes fail at once; abort aborts', async () => {
  const { spool, runner, transitions } = await setup([stage(async (job) => {
    if (job.record.series_instance_uid === 'abort') return { kind: 'abort', reason: 'idle too long' };
    throw new PermanentError('PatientWeight missing');
  })]);
  const a = await addTask(spool);
  const b = newTaskId();
  await spool.createTask('compiled', newTaskRecord({ id: b, sender: 'x', series_instance_uid: 'abort', study_instance_uid: '2' }));
  runner.start();
  await until(async () => (await spool.taskIds('failed')).includes(a) && (await spool.taskIds('aborted')).includes(b));
  await runner.stop();
  assert.equal((await spool.locateTask(a)).record.reason, 'PatientWeight missing');
  assert.equal((await spool.locateTask(b)).record.reason, 'idle too long');
  assert.deepEqual(transitions.map((t) => t.outcome).sort(), ['abort', 'fail']);
});

test('wait looks again later without counting an attempt; concurrency is respected', async () => {
  let running = 0;
  let maxRunning = 0;
  const seen = new Map<string, number>();
  const { spool, runner } = await setup([stage(async (job) => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise((r) => setTimeout(r, 15));
    running--;
    const n = (seen.get(job.id) ?? 0) + 1;
    seen.set(job.id, n);
    return n < 3 ? { kind: 'wait', afterMs: 10 } : { kind: 'done' };
  }, { concurrency: 2 })]);
  const ids = [await addTask(spool), await addTask(spool), await addTask(spool), await addTask(spool)];
  runner.start();
  await until(async () => (await spool.taskIds('validated')).length === 4);
  await runner.stop();
  assert.equal(maxRunning, 2);
  for (const id of ids) {
    assert.equal(seen.get(id), 3);
    assert.equal((await spool.locateTask(id)).record.attempts, 0);
  }
});

test('a wait ends when it is due, not at the next periodic scan', async () => {
  const looks: number[] = [];
  // A scan interval far longer than the wait: the task must still be looked at once its wait is over.
  const { spool, runner } = await setup([stage(async (): Promise<StageOutcome> => {
    looks.push(Date.now());
    return looks.length < 3 ? { kind: 'wait', afterMs: 100 } : { kind: 'done' };
  })], 60_000);
  const id = await addTask(spool);
  runner.start();
  await until(async () => (await spool.taskIds('validated')).includes(id), 3000);
  await runner.stop();
  assert.equal(looks.length, 3);
  for (let i = 1; i < looks.length; i++) {
    const gap = looks[i]! - looks[i - 1]!;
    assert.ok(gap >= 95 && gap < 1000, `look ${i} came ${gap} ms after the previous one (wait was 100 ms)`);
  }
});

test('backoff doubles from the first delay up to the cap, with ±20 % jitter', () => {
  const mid = () => 0.5;
  assert.equal(backoffDelayMs(1, 1000, 300_000, mid), 1000);
  assert.equal(backoffDelayMs(2, 1000, 300_000, mid), 2000);
  assert.equal(backoffDelayMs(5, 1000, 300_000, mid), 16000);
  assert.equal(backoffDelayMs(30, 1000, 300_000, mid), 300_000);
  assert.equal(backoffDelayMs(1, 1000, 300_000, () => 0), 800);
  assert.equal(backoffDelayMs(1, 1000, 300_000, () => 0.999), 1200);
});
