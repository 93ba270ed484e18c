import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
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
