/**
 * The downloader's take of a result archive written into the share by hand (the runner, spool and
 * share are real): the archive is copied once, verified, kept as result.zip and only then removed
 * from the share, its volume handed to the unpacker in memory; a sha256 mismatch, a wrong task, a
 * volume bigger than uploaded are refused as before; a crash before the rename leaves a .tmp-
 * folder that start-up recovery removes, with the archive still on the share; a restart after the
 * rename (or with result/ of the previous version) moves the task on.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sha256File } from '../../src/remote/metadata.js';
import { readResultArchive, resultArchiveLimits } from '../../src/remote/result-archive.js';
import { tmpNameIn } from '../../src/spool/durable.js';
import { startLeg, type Leg } from '../helpers/remote-leg.js';
import { makeTask, placeLegacyResult, placeResult, writeResultZip, type BuiltTask } from '../helpers/results-task.js';

describe('downloader: taking a result archive from the share', () => {
  let leg: Leg;
  let work: string;
  before(async () => {
    leg = await startLeg();
    work = await mkdtemp(path.join(os.tmpdir(), 'petspool-downloader-'));
  });
  after(async () => {
    await leg.close();
    await rm(work, { recursive: true, force: true });
  });

  /** A task waiting in processing/ for its result, as the uploader leaves it. */
  function waitingTask(): Promise<BuiltTask> {
    return makeTask(leg.parts.spool, { result: 'none', folder: 'processing', facts: { uploaded_at: new Date().toISOString() } });
  }
  const archiveOf = (t: BuiltTask): string => `${t.id}_${leg.config.remote.client_id}.zip`;
  const inShare = (t: BuiltTask): string => path.join(leg.config.share.inbox, archiveOf(t));
  const taskFiles = async (t: BuiltTask): Promise<string[]> => {
    const { folder } = await leg.parts.spool.locateTask(t.id);
    return (await readdir(leg.parts.spool.layout.taskDir(folder, t.id))).sort();
  };

  it('a sound archive becomes result.zip, with the sha256 fact, leaves the share, and its volume is handed over', async () => {
    const task = await waitingTask();
    await writeResultZip(inShare(task), task.uploaded, task.original.data, task.original.shape);
    const archiveSha256 = await sha256File(inShare(task));
    const expected = await readResultArchive(inShare(task), task.id, resultArchiveLimits(task.original.data.length));
    const record = await leg.waitFor(task.id, 'downloaded');
    const kept = path.join(leg.parts.spool.layout.taskDir('downloaded', task.id), 'result.zip');
    assert.equal(await sha256File(kept), archiveSha256, 'result.zip is the archive, byte for byte');
    assert.equal(record.facts.result_sha256, expected.npySha256);
    assert.ok(!(await taskFiles(task)).some((n) => n === 'result' || n.startsWith('.tmp-')));
    assert.ok(!(await readdir(leg.config.share.inbox)).includes(archiveOf(task)));
    const handed = leg.results.take(task.id);
    assert.ok(handed, 'the verified result is held for the unpacker');
    assert.deepEqual(handed.volume.shape, [...task.original.shape]);
    assert.deepEqual(handed.volume.data, task.original.data);
  });

  it('a sha256 mismatch is looked at again, then fails as damaged; the archive stays on the share', async () => {
    const task = await waitingTask();
    await writeResultZip(inShare(task), task.uploaded, task.original.data, task.original.shape, { npy_sha256: 'a'.repeat(64) });
    const record = await leg.waitFor(task.id, 'failed');
    assert.equal(record.failed_stage, 'downloader');
    assert.match(record.reason ?? '',
      new RegExp(`^the result archive is damaged: sha256 of ${task.id}\\.npy does not match the result metadata\\.json \\(unchanged after 3 looks\\)`));
    assert.ok(!(await taskFiles(task)).some((n) => n === 'result.zip' || n.startsWith('.tmp-')), 'nothing of it kept in the task folder');
    assert.ok((await readdir(leg.config.share.inbox)).includes(archiveOf(task)), 'nothing lost');
  });

  it('a result for another task and a volume bigger than the upload are refused at once', async () => {
    const wrongTask = await waitingTask();
    await writeResultZip(inShare(wrongTask), wrongTask.uploaded, wrongTask.original.data, wrongTask.original.shape, { task_id: 'other-task' });
    const tooBig = await waitingTask();
    const [slices, rows, columns] = tooBig.original.shape;
    await writeResultZip(inShare(tooBig), tooBig.uploaded, new Float32Array(slices * rows * columns * 4), [slices, rows * 2, columns * 2]);
    const wrong = await leg.waitFor(wrongTask.id, 'failed');
    assert.match(wrong.reason ?? '', new RegExp(`^the result archive is not usable: result metadata\\.json is for task other-task, not ${wrongTask.id}`));
    const big = await leg.waitFor(tooBig.id, 'failed');
    // 12x32x32 float32 is 48 KiB; 64 KiB of slack.
    assert.match(big.reason ?? '', /^the result archive was refused: entry .*\.npy expands to 192\.1 KiB, past the 112 KiB per-entry limit/);
    for (const t of [wrongTask, tooBig]) assert.ok(!(await taskFiles(t)).some((n) => n === 'result.zip' || n.startsWith('.tmp-')));
  });

  it('a crash between the copy and its rename leaves a .tmp- folder that recovery removes; the archive is taken after the restart', async () => {
    await leg.parts.runner.stop();
    const task = await waitingTask();
    await writeResultZip(inShare(task), task.uploaded, task.original.data, task.original.shape);
    // What placeResultArchive has done when the process dies before its rename.
    const dir = leg.parts.spool.layout.taskDir('processing', task.id);
    const temporary = tmpNameIn(dir, 'result');
    await mkdir(temporary);
    await copyFile(inShare(task), path.join(temporary, archiveOf(task)));

    const report = await leg.parts.spool.recover();
    assert.deepEqual(report.removedTemporaryEntries, [temporary]);
    assert.ok(!(await taskFiles(task)).some((n) => n === 'result.zip' || n.startsWith('.tmp-')));
    assert.ok((await readdir(leg.config.share.inbox)).includes(archiveOf(task)), 'the archive is still on the share');

    leg.parts.runner.start();
    await leg.waitFor(task.id, 'downloaded');
    assert.ok((await taskFiles(task)).includes('result.zip'));
    assert.ok(!(await readdir(leg.config.share.inbox)).includes(archiveOf(task)));
  });

  for (const [kept, place] of [['result.zip', placeResult], ['result/ of the previous version', placeLegacyResult]] as const) {
    it(`a restart after the rename (${kept}), with the archive already off the share, moves the task on`, async () => {
      await leg.parts.runner.stop();
      const task = await waitingTask();
      const zip = path.join(work, archiveOf(task));
      await writeResultZip(zip, task.uploaded, task.original.data, task.original.shape);
      const expected = await readResultArchive(zip, task.id, resultArchiveLimits(task.original.data.length));
      await place(leg.parts.spool.layout.taskDir('processing', task.id), zip);
      const upload = path.join(leg.config.share.outbox, archiveOf(task));
      await writeFile(upload, 'the upload the result answers');

      leg.parts.runner.start();
      const record = await leg.waitFor(task.id, 'downloaded');
      assert.equal(record.facts.result_sha256, expected.npySha256);
      assert.ok(!(await readdir(leg.config.share.outbox)).includes(archiveOf(task)), 'the upload is cleared from the share too');
      assert.deepEqual(leg.results.take(task.id)?.volume.data, task.original.data, 'and its volume is handed over');
    });
  }
});
