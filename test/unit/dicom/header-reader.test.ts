import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { after, before, test } from 'node:test';
import { HeaderReader } from '../../../src/dicom/header-reader.js';
import { readInstanceHeader } from '../../../src/dicom/read-header.js';
import { ThreadPool } from '../../../src/dicom/thread-pool.js';
import { makePetSeries } from '../../fixtures/make-pet.js';

let root: string;
let files: string[];

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'petspool-header-reader-'));
  files = await makePetSeries(path.join(root, 'pet'), { slices: 8, size: 32 });
});
after(() => fs.rm(root, { recursive: true, force: true }));

test('HeaderReader reads on its thread what readInstanceHeader reads, the bytes moved there without a copy', async () => {
  const reader = new HeaderReader();
  try {
    const sent = await fs.readFile(files[0]!);
    // Buffer.alloc never takes a slice of the shared pool: this one owns its memory.
    const moved = Buffer.alloc(sent.length);
    sent.copy(moved);
    const reading = await reader.read(moved);
    assert.equal(moved.length, 0, 'a Buffer owning its memory is moved to the thread, not copied');
    assert.deepEqual(reading.header, readInstanceHeader(sent));
  } finally {
    await reader.close();
  }
});

test('HeaderReader says why a header is unreadable, counts its backlog, and refuses work once closed', async () => {
  const reader = new HeaderReader();
  const good = await fs.readFile(files[1]!);
  // The file meta group and no dataset: structurally fine, no SOPInstanceUID.
  const metaOnly = good.subarray(0, 144 + good.readUInt32LE(140));
  const readings = [reader.read(Buffer.from(metaOnly)), ...(await Promise.all(files.map((f) => fs.readFile(f)))).map((b) => reader.read(b))];
  assert.equal(reader.backlog, files.length + 1);
  const [unreadable, ...rest] = await Promise.all(readings);
  assert.equal(reader.backlog, 0);
  assert.equal(unreadable!.header, undefined);
  assert.match(unreadable!.unreadable ?? '', /missing SOPInstanceUID/);
  assert.deepEqual(rest.map((r) => r.header?.instanceNumber), files.map((f) => readInstanceHeader(f).instanceNumber));
  // Closing rejects what is still waiting for the thread, and any read after.
  const waiting = files.map(() => reader.read(Buffer.from(good)));
  // Settled from now on, so the rejections close() causes are handled.
  const settling = Promise.allSettled(waiting);
  await reader.close();
  // The first may have been read already; the others never reached the thread.
  const settled = (await settling).slice(1);
  assert.deepEqual(settled.map((r) => r.status === 'rejected' && /header read thread/.test(String(r.reason))), settled.map(() => true));
  await assert.rejects(reader.read(Buffer.from(good)), /header read threads are closed/);
});

test('ThreadPool runs jobs on other threads, and a job whose thread dies is rejected while the next one gets a new thread', async () => {
  // A script in a data: URL would not resolve imports; this one needs none.
  const script = path.join(root, 'echo-thread.mjs');
  await fs.writeFile(script, `import { parentPort, threadId } from 'node:worker_threads';
    parentPort.on('message', ({ id, exit }) => { if (exit) process.exit(3); parentPort.postMessage({ id, threadId }); });`);
  const pool = new ThreadPool<{ exit: boolean }, { threadId: number }>(new URL(`file://${script}`), 2, 'test');
  try {
    const first = await pool.run({ exit: false });
    assert.notEqual(first.threadId, threadId);
    await assert.rejects(pool.run({ exit: true }), /test thread exited with code 3/);
    const next = await pool.run({ exit: false });
    assert.notEqual(next.threadId, threadId);
    assert.equal(pool.pending, 0);
  } finally {
    await pool.close();
  }
});
