import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { synthesizePetSeries } from '../../../src/series/synth.js';
import { getString } from '../../../src/dicom/write-part10.js';
import { silentLogger } from '../../../src/log/logger.js';
import { SourceHeaderPrefetch } from '../../../src/stages/source-header-prefetch.js';

/** A task folder with `slices` instances in instances/, in `stateDir`; returns the instance names. */
async function taskFolder(stateDir: string, id: string, slices: number): Promise<string[]> {
  const files = await synthesizePetSeries(path.join(stateDir, id, 'instances'), { slices, size: 8, patientName: `PATIENT^${id}` });
  return files.map((f) => path.basename(f));
}

test('headers read while the task waits serve the unpacker after the task folder moved, even with the files gone', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'petspool-prefetch-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await mkdir(path.join(root, 'processing'));
  await mkdir(path.join(root, 'downloaded'));
  const names = await taskFolder(path.join(root, 'processing'), 'task-a', 5);
  const prefetch = new SourceHeaderPrefetch(silentLogger);
  await prefetch.start('task-a', path.join(root, 'processing', 'task-a'));
  assert.equal(prefetch.size, 1);

  await rename(path.join(root, 'processing', 'task-a'), path.join(root, 'downloaded', 'task-a'));
  const moved = path.join(root, 'downloaded', 'task-a', 'instances');
  // Gone from the disk: only headers read ahead can answer.
  await rm(moved, { recursive: true });
  const headers = prefetch.take('task-a');
  assert.equal(prefetch.size, 0, 'taken tasks are forgotten');
  for (const name of names) {
    const header = await headers.derivableCopyOf(path.join(moved, name));
    assert.match(JSON.stringify(header), /PATIENT\^task-a/);
    assert.equal(getString(header, 'PixelData'), undefined, 'prepared: no stored-pixel attributes');
  }
});

test('a header that could not be read ahead is read at the next request, from its new place', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'petspool-prefetch-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const names = await taskFolder(root, 'task-b', 3);
  const prefetch = new SourceHeaderPrefetch(silentLogger);
  const reading = prefetch.start('task-b', path.join(root, 'task-b'));
  // The folder moves while the reading has only listed the files.
  await rename(path.join(root, 'task-b'), path.join(root, 'task-b-moved'));
  await reading;
  const headers = prefetch.take('task-b');
  for (const name of names) {
    const header = await headers.derivableCopyOf(path.join(root, 'task-b-moved', 'instances', name));
    assert.match(JSON.stringify(header), /PATIENT\^task-b/);
  }
});

test('only the newest tasks are kept; an evicted task is read again by whoever takes it', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'petspool-prefetch-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const prefetch = new SourceHeaderPrefetch(silentLogger, 2);
  const names = await taskFolder(root, 'task-1', 2);
  for (const id of ['task-1', 'task-2', 'task-3']) {
    if (id !== 'task-1') await taskFolder(root, id, 2);
    await prefetch.start(id, path.join(root, id));
  }
  assert.equal(prefetch.size, 2);
  // task-1 was pushed out: its headers come from the files, so without them there are none.
  await rm(path.join(root, 'task-1', 'instances'), { recursive: true });
  await assert.rejects(prefetch.take('task-1').derivableCopyOf(path.join(root, 'task-1', 'instances', names[0]!)), { code: 'ENOENT' });
  assert.equal(prefetch.size, 2, 'taking an evicted task changes nothing');
});

test('a task pushed out is not read again when the downloader looks at it once more', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'petspool-prefetch-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const prefetch = new SourceHeaderPrefetch(silentLogger, 1);
  await taskFolder(root, 'task-1', 2);
  await prefetch.start('task-1', path.join(root, 'task-1'));
  const names = await taskFolder(root, 'task-2', 2);
  await prefetch.start('task-2', path.join(root, 'task-2'));
  // task-1 was pushed out by task-2; the downloader's next poll of task-1 must not push task-2 out.
  await prefetch.start('task-1', path.join(root, 'task-1'));
  assert.equal(prefetch.size, 1);
  await rm(path.join(root, 'task-2', 'instances'), { recursive: true });
  const header = await prefetch.take('task-2').derivableCopyOf(path.join(root, 'task-2', 'instances', names[0]!));
  assert.match(JSON.stringify(header), /PATIENT\^task-2/, 'task-2 still held: read ahead, not from the (removed) files');
});

test('a task whose folder is gone is not an error: nothing is read ahead', async () => {
  const prefetch = new SourceHeaderPrefetch(silentLogger);
  await prefetch.start('task-x', path.join(tmpdir(), 'petspool-no-such-task-folder'));
  assert.equal(prefetch.size, 1);
});
