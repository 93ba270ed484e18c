import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { longElement } from '../../src/dicom/explicit-element.js';
import { echo, sendFiles } from '../../src/dicom/scu.js';
import { datasetBytes, freePort, startStorescp, type RunningStorescp } from '../fixtures/dcmtk.js';
import { makePetSeries } from '../fixtures/make-pet.js';

let root: string;
let storescp: RunningStorescp;
let outDir: string;

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'petspool-scu-'));
  outDir = path.join(root, 'out');
  await fs.mkdir(outDir);
  storescp = await startStorescp(outDir);
});
after(async () => {
  await storescp.stop();
  await fs.rm(root, { recursive: true, force: true });
});

test('echo succeeds against DCMTK storescp', async () => {
  await echo({ host: '127.0.0.1', port: storescp.port, calledAeTitle: 'STORESCP', callingAeTitle: 'PETSPOOL' });
});

test('echo against a closed port says connection refused', async () => {
  const port = await freePort();
  await assert.rejects(
    echo({ host: '127.0.0.1', port, calledAeTitle: 'X', callingAeTitle: 'PETSPOOL', timeoutMs: 2000 }),
    /connection refused/,
  );
});

test('sendFiles delivers every instance unchanged over one association and counts them', async () => {
  const files = await makePetSeries(path.join(root, 'series'), { slices: 12, size: 32 });
  const notDicom = path.join(root, 'notes.txt');
  await fs.writeFile(notDicom, 'not an image');
  const result = await sendFiles({ host: '127.0.0.1', port: storescp.port, calledAeTitle: 'STORESCP', callingAeTitle: 'PETSPOOL', files: [...files, notDicom] });
  assert.equal(result.sent, files.length);
  assert.equal(result.acceptedSopInstanceUids.length, files.length);
  assert.deepEqual(result.failed.map((f) => f.file), [notDicom]);
  assert.match(result.failed[0].message, /not a DICOM file/);
  const received = await fs.readdir(outDir);
  assert.equal(received.length, files.length);
  const sentDatasets = await Promise.all(files.map(async (f) => datasetBytes(await fs.readFile(f)).toString('base64')));
  for (const name of received) {
    const dataset = datasetBytes(await fs.readFile(path.join(outDir, name))).toString('base64');
    assert.ok(sentDatasets.includes(dataset), `${name} differs from every sent file`);
  }
});

test('sendFiles sends a file whose file meta group is longer than the 4 KB it reads first', async () => {
  const [file] = await makePetSeries(path.join(root, 'long-meta'), { slices: 1, size: 32 });
  const bytes = await fs.readFile(file);
  // Append (0002,0102) Private Information of 8 KB to the meta group and fix its group length.
  const groupLength = bytes.readUInt32LE(140);
  const metaEnd = 144 + groupLength;
  const extra = longElement(0x0002, 0x0102, 'OB', Buffer.alloc(8192, 0x41));
  const longMeta = Buffer.concat([bytes.subarray(0, metaEnd), extra, bytes.subarray(metaEnd)]);
  longMeta.writeUInt32LE(groupLength + extra.length, 140);
  const longFile = path.join(root, 'long-meta', 'long.dcm');
  await fs.writeFile(longFile, longMeta);
  const before = (await fs.readdir(outDir)).length;
  const result = await sendFiles({ host: '127.0.0.1', port: storescp.port, calledAeTitle: 'STORESCP', callingAeTitle: 'PETSPOOL', files: [longFile] });
  assert.deepEqual(result.failed, []);
  assert.equal(result.sent, 1);
  assert.equal((await fs.readdir(outDir)).length, before + 1);
});

test('sendFiles sends files of different sizes one after another unchanged (one read buffer, reused and grown)', async () => {
  const small = await makePetSeries(path.join(root, 'mixed-small'), { slices: 2, size: 32 });
  const large = await makePetSeries(path.join(root, 'mixed-large'), { slices: 2, size: 96 });
  const files = [large[0]!, small[0]!, small[1]!, large[1]!];
  const dir = path.join(root, 'mixed-out');
  await fs.mkdir(dir);
  const receiver = await startStorescp(dir);
  try {
    const result = await sendFiles({ host: '127.0.0.1', port: receiver.port, calledAeTitle: 'STORESCP', callingAeTitle: 'PETSPOOL', files });
    assert.deepEqual(result.failed, []);
    const sent = await Promise.all(files.map(async (f) => datasetBytes(await fs.readFile(f)).toString('base64')));
    const received = await Promise.all((await fs.readdir(dir)).map(async (n) => datasetBytes(await fs.readFile(path.join(dir, n))).toString('base64')));
    assert.deepEqual(received.sort(), sent.sort());
  } finally {
    await receiver.stop();
  }
});
