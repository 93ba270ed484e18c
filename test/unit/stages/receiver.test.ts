/**
 * The receiver on its own, with a real spool, database and collecting index: PET instances are
 * placed in the collecting task of their series and sender; non-PET instances and DICOMDIR files
 * are set aside in ignored/; unusable files become tasks of their own in failed/ holding the file
 * and a reason.json that says what is wrong; a retransmission (same bytes, task incomplete) is kept
 * once, while a duplicate in a complete task starts a new task.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../../../src/config/schema.js';
import { Store } from '../../../src/db/store.js';
import { readInstanceHeader } from '../../../src/dicom/read-header.js';
import { silentLogger } from '../../../src/log/logger.js';
import { synthesizePetSeries } from '../../../src/series/synth.js';
import { INSTANCES_DIR, REASON_FILE } from '../../../src/spool/layout.js';
import { Spool } from '../../../src/spool/spool.js';
import { CollectingIndex } from '../../../src/stages/collecting-index.js';
import { Receiver } from '../../../src/stages/receiver.js';

const ENHANCED_PET = '1.2.840.10008.5.1.4.1.1.130';
const PET_IMAGE = '1.2.840.10008.5.1.4.1.1.128';

let root: string;
let spool: Spool;
let store: Store;

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'petspool-receiver-'));
  spool = new Spool(path.join(root, 'spool'));
  await spool.init();
  store = await Store.open(path.join(root, 'petspool.json'));
});
after(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

function receiverWith(minImages: number): { receiver: Receiver; nudges: () => number } {
  const rules: Config['compilator'] = { quiet_seconds: 5, min_images: minImages, max_gap_ratio: 0.025, abort_incomplete_after_seconds: 1800 };
  let nudged = 0;
  const receiver = new Receiver(spool, store, new CollectingIndex(), rules, silentLogger, () => { nudged++; });
  return { receiver, nudges: () => nudged };
}

/** A fresh synthetic series in a folder of its own (the receiver moves the files it takes). */
async function series(options: Parameters<typeof synthesizePetSeries>[1] = {}): Promise<string[]> {
  return synthesizePetSeries(await mkdtemp(path.join(root, 'in-')), { slices: 5, size: 8, ...options });
}

const exists = (file: string) => stat(file).then(() => true, () => false);

async function failedTask(taskId: string) {
  const { folder, dir, record } = await spool.locateTask(taskId);
  const reason = JSON.parse(await readFile(path.join(dir, REASON_FILE), 'utf8')) as { stage: string; reason: string; file: string };
  return { folder, dir, record, reason, files: await readdir(dir) };
}

test('the instances of a series from one sender go into one collecting task, in the order they came', async () => {
  const { receiver, nudges } = receiverWith(30);
  const files = await series();
  const outcomes = [];
  for (const file of files) outcomes.push(await receiver.receiveFile(file, 'ae:SCANNER'));

  assert.deepEqual(outcomes.map((o) => o.kind), ['collected', 'collected', 'collected', 'collected', 'collected']);
  const taskIds = new Set(outcomes.map((o) => (o.kind === 'collected' ? o.taskId : '')));
  assert.equal(taskIds.size, 1);
  assert.deepEqual(outcomes.map((o) => o.kind === 'collected' && o.newTask), [true, false, false, false, false]);
  assert.equal(nudges(), 1, 'the compilator is told once, when the task opens');

  const [taskId] = taskIds;
  const { folder, dir, record } = await spool.locateTask(taskId!);
  assert.equal(folder, 'collecting');
  assert.equal(record.sender, 'ae:SCANNER');
  assert.equal(record.series_instance_uid, readInstanceHeader(path.join(dir, INSTANCES_DIR, (await readdir(path.join(dir, INSTANCES_DIR)))[0]!)).seriesInstanceUid);
  const placed = (await readdir(path.join(dir, INSTANCES_DIR))).sort();
  assert.equal(placed.length, 5);
  const placedUids = placed.map((name) => readInstanceHeader(path.join(dir, INSTANCES_DIR, name)).sopInstanceUid);
  assert.deepEqual(placed.map((name) => name.replace(/^\d{14}-\d{6}_/, '').replace(/\.dcm$/, '')), placedUids,
    'named arrival stamp + SOPInstanceUID, so `ls` shows the order of arrival');
  for (const file of files) assert.equal(await exists(file), false, `${file} was moved, not copied`);

  // The same series from another sender is a task of its own.
  const other = await series({ seriesInstanceUid: record.series_instance_uid });
  const fromHotFolder = await receiver.receiveFile(other[0]!, 'hotfolder');
  assert.equal(fromHotFolder.kind, 'collected');
  assert.notEqual(fromHotFolder.kind === 'collected' && fromHotFolder.taskId, taskId);
});

test('a non-PET instance and a DICOMDIR are set aside in ignored/, kept out of the flow', async () => {
  const { receiver } = receiverWith(30);
  const [ct] = await synthesizePetSeries(await mkdtemp(path.join(root, 'ct-')), { slices: 1, size: 8, ct: true });
  const seriesUid = readInstanceHeader(ct!).seriesInstanceUid;
  const before = store.data.counters.instances_ignored ?? 0;
  const outcome = await receiver.receiveFile(ct!, 'ae:SCANNER');
  assert.equal(outcome.kind, 'ignored');
  assert.match(outcome.kind === 'ignored' ? outcome.why : '', /^CT instance \(SOP class 1\.2\.840\.10008\.5\.1\.4\.1\.1\.2\)$/);
  const kept = await readdir(path.join(spool.layout.folder('ignored'), seriesUid));
  assert.equal(kept.length, 1);
  assert.equal(store.data.counters.instances_ignored, before + 1);

  const dicomDir = path.join(await mkdtemp(path.join(root, 'cd-')), 'DICOMDIR');
  await writeFile(dicomDir, 'not parsed: a DICOMDIR only lists files');
  assert.deepEqual(await receiver.receiveFile(dicomDir, 'hotfolder'), { kind: 'ignored', why: 'DICOMDIR file' });
  assert.equal(await exists(dicomDir), false);
});

test('an unusable file becomes a failed task holding the file and a reason.json saying what is wrong', async () => {
  const { receiver } = receiverWith(30);
  const quarantinedBefore = store.data.counters.instances_quarantined ?? 0;

  const [whole] = await series({ slices: 1 });
  const truncated = path.join(path.dirname(whole!), 'truncated.dcm');
  const bytes = await readFile(whole!);
  await writeFile(truncated, bytes.subarray(0, bytes.length - 100));
  const [noPosition] = await series({ slices: 1, omit: ['ImagePositionPatient'] });
  const notDicom = path.join(path.dirname(whole!), 'report.txt');
  await writeFile(notDicom, 'PatientName=DOE^JOHN\nThis is a text file, not an image.\n'.repeat(8));
  const enhanced = path.join(path.dirname(whole!), 'enhanced.dcm');
  // The two SOP class UIDs have the same length: relabelled in the file meta and in the data set.
  await writeFile(enhanced, Buffer.from(bytes.toString('latin1').split(PET_IMAGE).join(ENHANCED_PET), 'latin1'));

  const expected: [string, RegExp][] = [
    [truncated, /^truncated: pixel data claims \d+ bytes but the file ends \d+ bytes into it/],
    [noPosition!, /^missing ImagePositionPatient$/],
    [notDicom, /^not a DICOM file/],
    [enhanced, /^multi-frame \(Enhanced\) PET is not supported: send the series as PET Image Storage/],
  ];
  for (const [file, reason] of expected) {
    const outcome = await receiver.receiveFile(file, 'ae:SCANNER');
    assert.equal(outcome.kind, 'quarantined', path.basename(file));
    if (outcome.kind !== 'quarantined') continue;
    assert.match(outcome.reason, reason);
    const task = await failedTask(outcome.taskId);
    assert.equal(task.folder, 'failed');
    assert.deepEqual(task.files.sort(), [path.basename(file), REASON_FILE, 'task.json'].sort(), 'the file is kept with its reason');
    assert.deepEqual({ stage: task.reason.stage, reason: task.reason.reason, file: task.reason.file },
      { stage: 'receiver', reason: outcome.reason, file: path.basename(file) });
    assert.equal(task.record.reason, outcome.reason);
    assert.equal(task.record.sender, 'ae:SCANNER');
    assert.equal(await exists(file), false);
  }
  assert.equal(store.data.counters.instances_quarantined, quarantinedBefore + expected.length);
  assert.deepEqual(receiver.stats(), { collected: 0, ignored: 0, quarantined: expected.length });
});

test('the same bytes again while the task is incomplete are kept once; a changed instance starts a new task', async () => {
  const { receiver } = receiverWith(30);
  const files = await series();
  const again = `${files[0]!}.again`;
  await copyFile(files[0]!, again);
  // The same SOPInstanceUID with other bytes (one pixel changed): not a retransmission.
  const altered = `${files[0]!}.altered`;
  const bytes = await readFile(files[0]!);
  bytes[bytes.length - 1] ^= 0xff;
  await writeFile(altered, bytes);

  const first = await receiver.receiveFile(files[0]!, 'ae:SCANNER');
  assert.equal(first.kind, 'collected');
  const taskId = first.kind === 'collected' ? first.taskId : '';

  assert.deepEqual(await receiver.receiveFile(again, 'ae:SCANNER'), { kind: 'duplicate', taskId });
  assert.equal(await exists(again), false, 'the retransmitted copy is removed');
  const instances = path.join(spool.layout.taskDir('collecting', taskId), INSTANCES_DIR);
  assert.equal((await readdir(instances)).length, 1);

  const second = await receiver.receiveFile(altered, 'ae:SCANNER');
  assert.equal(second.kind, 'collected');
  assert.ok(second.kind === 'collected' && second.newTask && second.taskId !== taskId);
  assert.equal((await readdir(instances)).length, 1, 'the first task keeps its own copy');
});

test('a duplicate in a complete task starts a new task (a re-sent series is never merged)', async () => {
  const { receiver } = receiverWith(3);
  const files = await series();
  const again = `${files[2]!}.again`;
  await copyFile(files[2]!, again);
  const placed = [];
  for (const file of files) placed.push(await receiver.receiveFile(file, 'ae:SCANNER'));
  const taskId = placed[0]!.kind === 'collected' ? placed[0]!.taskId : '';
  assert.ok(placed.every((o) => o.kind === 'collected' && o.taskId === taskId));

  const resent = await receiver.receiveFile(again, 'ae:SCANNER');
  assert.equal(resent.kind, 'collected');
  assert.ok(resent.kind === 'collected' && resent.newTask && resent.taskId !== taskId);
  assert.equal((await readdir(path.join(spool.layout.taskDir('collecting', taskId), INSTANCES_DIR))).length, 5);
});

test('an instance whose pixel data the Store SCP found wrong is quarantined with what it found', async () => {
  const { receiver } = receiverWith(30);
  const [file] = await series({ slices: 1 });
  const outcome = await receiver.receive(file!, readInstanceHeader(await readFile(file!)), 'ae:PACS', 'pixel data is 10 bytes, 16×16×16 bit needs 512');
  assert.equal(outcome.kind, 'quarantined');
  assert.equal(outcome.kind === 'quarantined' && outcome.reason, 'pixel data is 10 bytes, 16×16×16 bit needs 512');
});

test('an instance whose header the Store SCP already read is placed with that header', async () => {
  const { receiver } = receiverWith(30);
  const [file] = await series({ slices: 1 });
  const bytes = await readFile(file!);
  const outcome = await receiver.receive(file!, readInstanceHeader(bytes), 'ae:PACS', undefined);
  assert.equal(outcome.kind, 'collected');
  const { record } = await spool.locateTask(outcome.kind === 'collected' ? outcome.taskId : '');
  assert.equal(record.sender, 'ae:PACS');
});
