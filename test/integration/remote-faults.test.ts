/**
 * Every way the remote leg is told to fail ends in a retry that later succeeds or a failure with a
 * clear reason; other tasks keep flowing meanwhile. Real loopback sockets, a temp folder as the
 * share, the embedded reference service with injected faults.
 */
import assert from 'node:assert/strict';
import { appendFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { newTaskId, newTaskRecord } from '../../src/spool/task-record.js';
import { API_TOKEN, startLeg, type Leg, type LegOptions } from '../helpers/remote-leg.js';

async function withLeg(opts: LegOptions, work: (leg: Leg) => Promise<void>): Promise<void> {
  const leg = await startLeg(opts);
  try {
    await work(leg);
  } finally {
    await leg.close();
  }
}

async function postReady(leg: Leg, taskId: string): Promise<number> {
  const res = await fetch(`${leg.api.url}/process_ready`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${API_TOKEN}` },
    body: JSON.stringify({ task_id: taskId }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Every file (not folder) under `dir`, relative. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

async function until(what: string, cond: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    assert.ok(Date.now() < end, what);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function retriesOf(leg: Leg, stage: string, id: string): number {
  return leg.transitions.filter((t) => t.stage === stage && t.taskId === id && t.outcome === 'retry').length;
}

describe('remote leg faults', { concurrency: 4 }, () => {
  it('503 for the first calls: the upload is retried, then succeeds', () => withLeg({ faults: { failNextCalls: 2 } }, async (leg) => {
    const id = await leg.addValidatedTask();
    const record = await leg.waitFor(id, 'downloaded');
    assert.equal(retriesOf(leg, 'uploader', id), 2);
    assert.equal(record.attempts, 0);
    assert.equal(record.facts.retrying_since, undefined);
  }));

  it('share outbox unwritable (ENOTDIR): retried, and flows on once the share is back', () => withLeg(
    { share: { outbox: './blocked/outbox' } }, async (leg) => {
      const blocker = path.join(leg.root, 'blocked');
      await rm(blocker, { recursive: true, force: true });
      await writeFile(blocker, 'a regular file where the share folder should be\n');
      const id = await leg.addValidatedTask();
      await leg.waitFor(id, 'packed');
      const deadline = Date.now() + 10_000;
      while (retriesOf(leg, 'uploader', id) < 2) {
        assert.ok(Date.now() < deadline, 'uploader retries');
        await new Promise((r) => setTimeout(r, 50));
      }
      const waiting = await leg.parts.spool.locateTask(id);
      assert.equal(waiting.folder, 'packed');
      assert.match(String(waiting.record.facts.last_error), /upload folder .*ENOTDIR/);
      await rm(blocker);
      await mkdir(path.join(blocker, 'outbox'), { recursive: true });
      await leg.waitFor(id, 'downloaded');
    }));

  it('gives up after remote.give_up_after_seconds with the reason', () => withLeg(
    { share: { outbox: './blocked/outbox' }, remote: { give_up_after_seconds: 1 } }, async (leg) => {
      const blocker = path.join(leg.root, 'blocked');
      await rm(blocker, { recursive: true, force: true });
      await writeFile(blocker, 'not a folder\n');
      const id = await leg.addValidatedTask();
      const record = await leg.waitFor(id, 'failed');
      assert.equal(record.failed_stage, 'uploader');
      assert.match(record.reason ?? '', /^gave up after \d+ attempts: cannot write to the share's upload folder .*ENOTDIR/);
    }));

  it('no callback: after the timeout the service is asked, says processing, and the polled result is taken', () => withLeg(
    { faults: { neverCallBack: true, processingDelayMs: 2500 }, remote: { processing_timeout_seconds: 1 } }, async (leg) => {
      const id = await leg.addValidatedTask();
      const record = await leg.waitFor(id, 'downloaded');
      assert.equal(record.facts.callback_at, undefined, 'found by polling the share');
      assert.equal(record.facts.remote_state, 'processing', 'GET /tasks was asked while the service worked');
      assert.ok(record.facts.remote_checked_at);
    }));

  it('a lost task fails with "lost" while another task flows through; callbacks for it are answered 200 each time', () => withLeg(
    { faults: { loseTasks: true }, remote: { processing_timeout_seconds: 6 } }, async (leg) => {
      const lost = await leg.addValidatedTask();
      await leg.waitFor(lost, 'processing');
      leg.service.setFaults({});
      const other = await leg.addValidatedTask({ seed: 2 });
      assert.equal(await postReady(leg, lost), 200);
      assert.equal(await postReady(leg, lost), 200);
      const done = await leg.waitFor(other, 'downloaded');
      const record = await leg.waitFor(lost, 'failed');
      assert.ok(String(done.facts.uploaded_at) > String(record.facts.uploaded_at), 'the other task went through after the lost one was stuck');
      assert.equal(record.failed_stage, 'downloader');
      assert.match(record.reason ?? '', new RegExp(`the remote service has lost task ${lost}`));
    }));

  it('a service without GET /tasks: fails with a clear reason once overdue', () => withLeg(
    { faults: { noTasksRoute: true, neverCallBack: true, processingDelayMs: 30_000 }, remote: { processing_timeout_seconds: 1 } },
    async (leg) => {
      const id = await leg.addValidatedTask();
      const record = await leg.waitFor(id, 'failed');
      assert.match(record.reason ?? '', /cannot report on tasks \(it has no GET \/tasks\/\{id\} route\)/);
    }));

  it('a task the service failed: fails with the service\'s message', () => withLeg(
    { remote: { processing_timeout_seconds: 1 } }, async (leg) => {
      // A packed task whose archive is not a zip: the service accepts the request, then fails the task.
      const id = newTaskId();
      const archive = `${id}_${leg.config.remote.client_id}.zip`;
      await leg.parts.spool.createTask('packed', newTaskRecord({ id, sender: 'hotfolder', series_instance_uid: '1', study_instance_uid: '2' }),
        async (dir) => {
          await writeFile(path.join(dir, archive), 'this is not a zip archive');
          await writeFile(path.join(dir, 'metadata.json'), '{}');
        });
      leg.parts.runner.nudge('uploader');
      const record = await leg.waitFor(id, 'failed');
      assert.match(record.reason ?? '', /^the remote service failed the task: .*not a readable zip archive/);
    }));

  it('a result still being written is looked at again and taken once complete', () => withLeg(
    { faults: { neverCallBack: true, processingDelayMs: 1000 } }, async (leg) => {
      const id = await leg.addValidatedTask();
      const archive = `${id}_${leg.config.remote.client_id}.zip`;
      const inbox = leg.config.share.inbox;
      // Hold the service's result back (the runner is stopped meanwhile), then write it again slowly,
      // as a writer over a slow link would.
      await leg.waitFor(id, 'processing');
      await leg.parts.runner.stop();
      await until('result written by the service', async () => (await readdir(inbox)).includes(archive));
      const result = await readFile(path.join(inbox, archive));
      await rm(path.join(inbox, archive));
      leg.parts.runner.start();
      const half = Math.floor(result.length / 2);
      await writeFile(path.join(inbox, archive), result.subarray(0, half));
      await until('half a file seen as damaged', async () => {
        const { folder, record } = await leg.parts.spool.locateTask(id);
        assert.equal(folder, 'processing');
        return (record.facts.result_damage as { looks?: number } | undefined)?.looks === 1;
      });
      await appendFile(path.join(inbox, archive), result.subarray(half));
      const record = await leg.waitFor(id, 'downloaded');
      assert.equal(record.facts.result_damage, undefined);
      assert.equal(record.facts.callback_at, undefined);
    }));

  it('a corrupt result is looked at again, then the task fails as damaged', () => withLeg({ faults: { result: 'corrupt' } }, async (leg) => {
    const id = await leg.addValidatedTask();
    const record = await leg.waitFor(id, 'failed');
    assert.equal(record.failed_stage, 'downloader');
    assert.match(record.reason ?? '', /^the result archive is damaged: .*(corrupt|sha256).*\(unchanged after 3 looks\)/);
    const left = await readdir(leg.parts.spool.layout.taskDir('failed', id));
    assert.ok(!left.some((n) => n === 'result.zip' || n.startsWith('.tmp-')), `nothing of the damaged result kept: ${left.join(', ')}`);
  }));

  it('a zip-slip result is refused at once and nothing is written outside', () => withLeg({ faults: { result: 'zip-slip' } }, async (leg) => {
    const id = await leg.addValidatedTask();
    const record = await leg.waitFor(id, 'failed');
    assert.match(record.reason ?? '', /^the result archive was refused: entry \.\.\/x escapes the folder/);
    const written = await filesUnder(leg.root);
    assert.ok(!written.some((f) => path.basename(f) === 'x'), `no escaped file: ${written.join(', ')}`);
    assert.ok(!written.some((f) => path.basename(f) === 'result.zip' || f.split(path.sep).some((p) => p.startsWith('.tmp-'))),
      `nothing of the refused result kept: ${written.join(', ')}`);
  }));

  it('a zip bomb result is refused by the size limits', () => withLeg({ faults: { result: 'zip-bomb' } }, async (leg) => {
    const id = await leg.addValidatedTask();
    const record = await leg.waitFor(id, 'failed');
    // Limits are sized for the uploaded volume (12x24x24 float32 + 64 KiB slack), not 2 GiB: the result is written to disk.
    assert.match(record.reason ?? '', /^the result archive was refused: entry .*\.npy expands to 3 GiB, past the 91 KiB per-entry limit/);
  }));
});
