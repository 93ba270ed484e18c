import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { synthesizePetSeries } from '../../../src/series/synth.js';
import { readInstanceHeader } from '../../../src/dicom/read-header.js';
import { assembleVolume } from '../../../src/imaging/assemble-volume.js';
import { mipPng } from '../../../src/imaging/mip.js';
import { npyHeader } from '../../../src/imaging/npy.js';
import { silentLogger } from '../../../src/log/logger.js';
import type { OpenTask } from '../../../src/stages/collecting-index.js';
import { PackAhead } from '../../../src/stages/pack-ahead.js';

/** An open task as the collecting index holds it, for `files` (placed in this order). */
function openTask(id: string, files: readonly string[], lastArrival: number): OpenTask {
  const headers = files.map((file) => readInstanceHeader(file));
  return {
    id, key: id, sender: 'ae:TEST', seriesInstanceUid: headers[0]!.seriesInstanceUid,
    sopInstanceUids: new Set(headers.map((h) => h.sopInstanceUid)), headers,
    files: new Map(headers.map((h, i) => [h.sopInstanceUid, files[i]!])), lastArrival, pending: 0, closed: false, ready: Promise.resolve(),
  };
}

async function series(t: { after: (fn: () => Promise<void>) => void }, slices: number, seed: number): Promise<string[]> {
  const root = await mkdtemp(path.join(tmpdir(), 'petspool-pack-ahead-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return synthesizePetSeries(path.join(root, 'instances'), { slices, size: 24, seed });
}

test('a pack made ahead is the volume as the packer would make it: .npy deflated, its sha256 and CRC, the preview, the slice order', async (t) => {
  const files = await series(t, 12, 3);
  // Placed in arrival order, not slice order: the pack sorts them as the packer does.
  const arrival = [...files].reverse();
  const packAhead = new PackAhead(silentLogger);
  const task = openTask('task-a', arrival, 1000);
  packAhead.start(task);
  assert.ok(packAhead.has(task));

  const pack = await packAhead.take('task-a', files);
  assert.ok(pack, 'made from the same files: taken');
  assert.equal(packAhead.size, 0, 'taken packs are forgotten');
  const volume = await assembleVolume(files);
  const npy = Buffer.concat([npyHeader(volume.shape), Buffer.from(volume.data.buffer, volume.data.byteOffset, volume.data.byteLength)]);
  assert.ok(zlib.inflateRawSync(Buffer.concat(pack.npy.chunks)).equals(npy), 'the deflate stream holds the .npy');
  assert.equal(pack.npy.size, npy.length);
  assert.equal(pack.npy.crc32, zlib.crc32(npy));
  assert.equal(pack.npySha256, createHash('sha256').update(npy).digest('hex'));
  assert.ok(pack.preview.equals(mipPng(volume)), 'the preview is the coronal MIP');
  assert.deepEqual(pack.shape, volume.shape);
  assert.deepEqual(pack.headers.map((h) => h.sopInstanceUid), volume.headers.map((h) => h.sopInstanceUid));
});

test('a pack is not used for other files, and a newer pack of the task replaces an older one', async (t) => {
  const files = await series(t, 13, 4);
  const packAhead = new PackAhead(silentLogger);
  const early = openTask('task-b', files.slice(0, 12), 1000);
  packAhead.start(early);
  // The thirteenth slice came after the pack started: the task as it is now was not packed.
  const late = openTask('task-b', files, 2000);
  assert.ok(!packAhead.has(late));
  packAhead.start(late);
  assert.equal(packAhead.size, 1, 'one pack per task');
  assert.equal(await packAhead.take('task-b', files.slice(0, 12)), undefined, 'not for the twelve files it no longer describes');

  packAhead.start(late);
  const pack = await packAhead.take('task-b', files);
  assert.equal(pack?.shape[0], 13, 'the newer pack has every slice');
  packAhead.start(late);
  assert.equal(await packAhead.take('task-b', files.slice(1)), undefined, 'a file missing: not used');
});

test('a pack still waiting for its turn is dropped when its task closes; one that fails leaves the work to the packer', async (t) => {
  const first = await series(t, 12, 5);
  const second = await series(t, 12, 6);
  const third = await series(t, 12, 7);
  const packAhead = new PackAhead(silentLogger, 3);
  packAhead.start(openTask('first', first, 1));
  packAhead.start(openTask('second', second, 1));
  // The second waits for the first: its task closes now, so it is dropped rather than waited for.
  await packAhead.filesRead('second');
  assert.equal(await packAhead.take('second', second), undefined);
  assert.ok(await packAhead.take('first', first), 'the first was made');

  const thirdTask = openTask('third', third, 1);
  await rm(third[0]!);
  packAhead.start(thirdTask);
  await packAhead.filesRead('third');
  assert.equal(await packAhead.take('third', third), undefined, 'a file gone: no pack, no error');
});

test('at most the configured number of packs is kept: the oldest task goes first', async (t) => {
  const files = await series(t, 12, 8);
  const packAhead = new PackAhead(silentLogger, 2);
  for (const id of ['one', 'two', 'three']) packAhead.start(openTask(id, files, 1));
  assert.equal(packAhead.size, 2);
  assert.equal(await packAhead.take('one', files), undefined, 'pushed out');
  assert.ok(await packAhead.take('three', files));
  assert.ok(await packAhead.take('two', files));
});
