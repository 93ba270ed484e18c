import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { IntakeJournal } from '../../../src/dicom/intake-journal.js';
import { silentLogger } from '../../../src/log/logger.js';
import { encodeRecordHead, LAP_BYTES, readRecords } from '../../../src/dicom/journal-record.js';

let received: string;

beforeEach(async () => {
  received = await fs.mkdtemp(path.join(os.tmpdir(), 'petspool-journal-'));
});
afterEach(() => fs.rm(received, { recursive: true, force: true }));

const instance = (n: number, size = 4096): Buffer => Buffer.alloc(size, n);

async function segmentFiles(): Promise<string[]> {
  const dir = path.join(received, '.journal');
  return (await fs.readdir(dir)).sort().map((name) => path.join(dir, name));
}

test('an appended instance is committed first, then put under its final name and the segment retired at the checkpoint', async () => {
  const { journal, restored } = await IntakeJournal.open(received, silentLogger);
  assert.equal(restored, 0);
  try {
    const appended = await Promise.all([1, 2, 3].map((n) => journal.append(`AE/${n}.dcm`, instance(n))));
    // Committed: the records are in the segment, whatever the checkpoint has done by now.
    await Promise.all(appended.map(({ checkpointed }) => checkpointed));
    for (const n of [1, 2, 3]) assert.deepEqual(await fs.readFile(path.join(received, 'AE', `${n}.dcm`)), instance(n));
    const [segment, ...more] = await segmentFiles();
    assert.equal(more.length, 0, 'three small instances share one segment');
    assert.deepEqual(readRecords(await fs.readFile(segment!)), [], 'a retired segment reads as empty');
    assert.deepEqual(await fs.readdir(path.join(received, '.tmp')), [], 'no temporary file is left');
  } finally {
    await journal.close();
  }
});

test('the checkpoint waits for a pause after the last commit: a stream with short gaps is checkpointed once, after it ends', async () => {
  const { journal } = await IntakeJournal.open(received, silentLogger);
  try {
    const appended = [];
    let lastCommit = 0;
    for (let n = 0; n < 8; n++) {
      appended.push(await journal.append(`AE/${n}.dcm`, instance(n)));
      lastCommit = performance.now();
      // Shorter than the 50 ms pause; eight of them are not.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    let firstFiled = 0;
    await Promise.all(appended.map(({ checkpointed }) => checkpointed.then(() => { firstFiled ||= performance.now(); })));
    assert.ok(firstFiled - lastCommit >= 49, `filed ${Math.round(firstFiled - lastCommit)} ms after the last commit`);
    assert.equal((await fs.readdir(path.join(received, 'AE'))).length, 8);
  } finally {
    await journal.close();
  }
});

test('a new lap in a segment ends at its own last record: records of an earlier lap further on are not restored', async () => {
  const { journal } = await IntakeJournal.open(received, silentLogger);
  // First lap: five instances, checkpointed and retired.
  await Promise.all((await Promise.all([1, 2, 3, 4, 5].map((n) => journal.append(`AE/old-${n}.dcm`, instance(n))))).map(({ checkpointed }) => checkpointed));
  await journal.close();
  await fs.rm(path.join(received, 'AE'), { recursive: true });
  // A second lap through the same segment, written as a crash would leave it: two records of the
  // same sizes over the first two of the old lap, whose records 3-5 are still whole behind them.
  const [segment] = await segmentFiles();
  const lap = randomBytes(LAP_BYTES);
  const bytes = await fs.readFile(segment!);
  let offset = 0;
  for (const n of [6, 7]) {
    const data = instance(n);
    const head = encodeRecordHead(lap, `AE/new-${n}.dcm`, data);
    head.copy(bytes, offset);
    data.copy(bytes, offset + head.length);
    offset += head.length + data.length;
  }
  await fs.writeFile(segment!, bytes);

  const reopened = await IntakeJournal.open(received, silentLogger);
  await reopened.journal.close();
  assert.equal(reopened.restored, 2);
  assert.deepEqual((await fs.readdir(path.join(received, 'AE'))).sort(), ['new-6.dcm', 'new-7.dcm']);
});

test('after a crash the journal restores every whole record, stops at a torn one, and retires the segment', async () => {
  const dir = path.join(received, '.journal');
  await fs.mkdir(dir);
  const lap = randomBytes(LAP_BYTES);
  const records = [1, 2, 3].map((n) => ({ path: `SCANNER/${n}.dcm`, data: instance(n, 10_000 + n) }));
  const whole = records.map(({ path: p, data }) => Buffer.concat([encodeRecordHead(lap, p, data), data]));
  // A fourth record torn mid-data: its CRC cannot match.
  const torn = Buffer.concat([encodeRecordHead(lap, 'SCANNER/4.dcm', instance(4)), instance(4).subarray(0, 100)]);
  await fs.writeFile(path.join(dir, 'segment-0000'), Buffer.concat([...whole, torn]));

  const { journal, restored } = await IntakeJournal.open(received, silentLogger);
  try {
    assert.equal(restored, 3);
    for (const { path: p, data } of records) assert.deepEqual(await fs.readFile(path.join(received, p)), data);
    await assert.rejects(fs.stat(path.join(received, 'SCANNER', '4.dcm')), { code: 'ENOENT' });
    assert.deepEqual(readRecords(await fs.readFile(path.join(dir, 'segment-0000'))), []);
    // The restored segment is used again: the next instance goes into it.
    const { checkpointed } = await journal.append('SCANNER/5.dcm', instance(5));
    await checkpointed;
    assert.deepEqual((await segmentFiles()).map((f) => path.basename(f)), ['segment-0000']);
  } finally {
    await journal.close();
  }
  // Opening again restores nothing more.
  const again = await IntakeJournal.open(received, silentLogger);
  await again.journal.close();
  assert.equal(again.restored, 0);
});

test('a disk error at the checkpoint stops the journal: the instance is not released, later appends fail and say what to do', async () => {
  const { journal } = await IntakeJournal.open(received, silentLogger);
  try {
    // The checkpoint writes each file under .tmp/ first: a plain file there makes that fail.
    await fs.rm(path.join(received, '.tmp'), { recursive: true });
    await fs.writeFile(path.join(received, '.tmp'), 'not a folder');
    const { checkpointed } = await journal.append('AE/1.dcm', instance(1));
    await assert.rejects(checkpointed, /intake journal stopped after a disk error \(.*ENOTDIR.*\): check the disk \(petspool doctor\) and restart petspool/);
    await assert.rejects(journal.append('AE/2.dcm', instance(2)), /intake journal stopped after a disk error/);
  } finally {
    await journal.close();
  }
  // What was answered Success is still in the journal: the next start (which makes .tmp/ a folder again) restores it.
  const { journal: reopened, restored } = await IntakeJournal.open(received, silentLogger);
  await reopened.close();
  assert.equal(restored, 1);
  assert.deepEqual(await fs.readFile(path.join(received, 'AE', '1.dcm')), instance(1));
});

test('instances that fill several segments are all filed, each segment reused once retired', async () => {
  const { journal } = await IntakeJournal.open(received, silentLogger);
  try {
    // 1 MB instances: sixteen fill one 16 MB segment (with their heads, fifteen fit).
    const big = (n: number): Buffer => Buffer.alloc(1024 * 1024, n);
    const appended = [];
    for (let n = 0; n < 40; n++) appended.push(await journal.append(`AE/${String(n).padStart(2, '0')}.dcm`, big(n)));
    await Promise.all(appended.map(({ checkpointed }) => checkpointed));
    const names = (await fs.readdir(path.join(received, 'AE'))).sort();
    assert.equal(names.length, 40);
    for (const [n, name] of names.entries()) assert.ok((await fs.readFile(path.join(received, 'AE', name))).equals(big(n)), name);
    assert.ok((await segmentFiles()).length <= 3, '40 MB in 16 MB segments: three segments at most (fewer when one was retired and reused)');
  } finally {
    await journal.close();
  }
});
