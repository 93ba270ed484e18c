import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_CONFIG_PATH, loadConfig } from '../../../src/config/load.js';
import { readInstanceHeader } from '../../../src/dicom/read-header.js';
import { silentLogger } from '../../../src/log/logger.js';
import { synthesizePetSeries } from '../../../src/series/synth.js';
import { compilatorStage } from '../../../src/stages/compilator.js';
import { CollectingIndex, type OpenTask } from '../../../src/stages/collecting-index.js';
import { PackAhead } from '../../../src/stages/pack-ahead.js';
import { TASK_HEADERS_FILE } from '../../../src/stages/task-headers.js';
import type { TaskRecord } from '../../../src/spool/task-record.js';

/** A synthetic series of `slices` in a temporary folder, removed after the test. */
async function seriesFor(t: { after(fn: () => Promise<void>): void }, slices: number, seed: number): Promise<{ dir: string; files: string[] }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-compilator-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return { dir, files: await synthesizePetSeries(path.join(dir, 'in'), { slices, size: 16, seed }) };
}

/** The receiver's side: the instance of `file` assigned to its open task and placed there as `placedAs`. */
function place(index: CollectingIndex, file: string, placedAs = file): OpenTask {
  const header = readInstanceHeader(file);
  const task = index.assign(header, 'SCANNER', async () => undefined).task;
  index.placed(task, header, placedAs);
  return task;
}

test('a quiet, complete series waits while the Store SCP still has instances to hand on, then is compiled', async (t) => {
  const { dir, files } = await seriesFor(t, 12, 3);
  const config = loadConfig(DEFAULT_CONFIG_PATH);
  config.compilator = { ...config.compilator, quiet_seconds: 0.5, min_images: 10 };

  // The receiver's side: every instance placed in one open task, the last one a second ago.
  const index = new CollectingIndex();
  let task: OpenTask | undefined;
  for (const file of files) task = place(index, file);
  task!.lastArrival = Date.now() - 1000;

  let handOnsPending = true;
  const stage = compilatorStage({ config }, index, undefined, () => handOnsPending);
  const job = { id: task!.id, dir, record: { id: task!.id } as TaskRecord, log: silentLogger };

  assert.deepEqual(await stage.process(job), { kind: 'wait', afterMs: 100 }, 'quiet and complete, but an answered instance may still belong to it');
  assert.equal(index.get(task!.id)?.closed, false, 'still open for the instances on their way');

  handOnsPending = false;
  const outcome = await stage.process(job);
  assert.equal(outcome.kind, 'done');
  assert.equal(index.get(task!.id), undefined, 'let go once compiled');
  const written = JSON.parse(await readFile(path.join(dir, TASK_HEADERS_FILE), 'utf8')) as unknown[];
  assert.equal(written.length, files.length);
});

test('the quiet time counts from each instance\'s arrival as its name records, not from when it was placed', async (t) => {
  const { dir, files } = await seriesFor(t, 3, 4);
  const index = new CollectingIndex();
  const arrived = Date.now() - 5000;
  let task: OpenTask | undefined;
  for (const [n, file] of files.entries()) {
    // Names as the Store SCP gives them: the second arrived last, the third was placed last.
    const stamp = String(arrived + [0, 300, 200][n]!).padStart(14, '0');
    task = place(index, file, path.join(dir, `${stamp}-00000${n}_${readInstanceHeader(file).sopInstanceUid}.dcm`));
  }
  assert.equal(task!.lastArrival, arrived + 300);
  // A file without an arrival name (dropped into the hot folder) arrived when it is placed.
  const header = readInstanceHeader(files[0]!);
  const before = Date.now();
  index.placed(task!, header, path.join(dir, 'dropped.dcm'));
  assert.ok(task!.lastArrival >= before);
});

test('past half the quiet time, a series not yet complete is looked at again soon while the Store SCP has instances to hand on, and packed ahead once they are placed', async (t) => {
  const { dir, files } = await seriesFor(t, 12, 5);
  const config = loadConfig(DEFAULT_CONFIG_PATH);
  config.compilator = { ...config.compilator, quiet_seconds: 10, min_images: 10 };
  const index = new CollectingIndex();
  // Six slices placed, the other six still with the Store SCP; the last arrival 6 s ago (past half of 10 s).
  let task = place(index, files[0]!);
  for (const file of files.slice(1, 6)) task = place(index, file);
  task.lastArrival = Date.now() - 6000;
  const packAhead = new PackAhead(silentLogger);
  let handOnsPending = true;
  const stage = compilatorStage({ config }, index, packAhead, () => handOnsPending);
  const job = { id: task.id, dir, record: { id: task.id } as TaskRecord, log: silentLogger };

  assert.deepEqual(await stage.process(job), { kind: 'wait', afterMs: 100 });
  assert.equal(packAhead.has(task), false, 'half a series is not packed');

  for (const file of files.slice(6)) place(index, file);
  task.lastArrival = Date.now() - 6000;
  handOnsPending = false;
  const outcome = await stage.process(job);
  assert.equal(outcome.kind, 'wait');
  assert.equal(packAhead.has(task), true, 'packed ahead as soon as the whole series is placed');
  await packAhead.filesRead(task.id);
});
