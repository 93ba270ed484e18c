import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import winston from 'winston';
import { startStoreScp, type StoredInstance } from '../../src/dicom/scp.js';
import { sendFiles } from '../../src/dicom/scu.js';
import { readInstanceHeader } from '../../src/dicom/read-header.js';
import { datasetBytes } from '../fixtures/dcmtk.js';
import { makePetSeries } from '../fixtures/make-pet.js';

const SCP_PROCESS = fileURLToPath(new URL('../helpers/scp-process.js', import.meta.url));
const SLICES = 60;
/** The SCP is killed right after this many Successes, in the middle of the association. */
const KILL_AFTER = 25;

let root: string;
let files: string[];

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'petspool-journal-crash-'));
  files = await makePetSeries(path.join(root, 'series'), { slices: SLICES, size: 64 });
});
after(() => fs.rm(root, { recursive: true, force: true }));

test('the SCP SIGKILLed mid-association: every instance answered Success is restored from the intake journal at the next start, byte for byte', async () => {
  const receivedDir = path.join(root, 'received');
  const child = spawn(process.execPath, [SCP_PROCESS, receivedDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`SCP process exited with ${code}`)));
    child.stdout!.once('data', (data: Buffer) => resolve(Number(data.toString().trim())));
  });
  const acked: string[] = [];
  await sendFiles({
    host: '127.0.0.1', port, calledAeTitle: 'PETSPOOL', callingAeTitle: 'SCANNER', files,
    onAccepted: (uid) => {
      acked.push(uid);
      if (acked.length === KILL_AFTER) child.kill('SIGKILL');
    },
  }).catch(() => undefined);
  await exited;
  assert.ok(acked.length >= KILL_AFTER, `${acked.length} Successes before the kill`);

  const logs: string[] = [];
  const sink = new Writable({ objectMode: true, write: (info: { message: string }, _encoding, done) => { logs.push(info.message); done(); } });
  const stored: StoredInstance[] = [];
  const scp = await startStoreScp({
    host: '127.0.0.1', port: 0, aeTitle: 'PETSPOOL', allowedCallingAeTitles: [], maxAssociations: 4, minFreeMb: 1, receivedDir,
    logger: winston.createLogger({ transports: [new winston.transports.Stream({ stream: sink })] }), onStored: (i) => stored.push(i),
  });
  await scp.close();
  // Killed within a millisecond or so of the last Success, long before the journal's checkpoint
  // (50 ms after the last instance): those instances were in the journal only.
  const restored = logs.map((m) => /^(\d+) instances answered Success before the last stop were restored/.exec(m)).find(Boolean);
  assert.ok(restored && Number(restored[1]) >= 1, logs.join('\n'));
  assert.equal(stored.length, 0, 'restored instances are left in received/ for the sweep, not handed on by the SCP');

  const sentByUid = new Map<string, Buffer>();
  for (const file of files) sentByUid.set(readInstanceHeader(file).sopInstanceUid, datasetBytes(await fs.readFile(file)));
  const receivedFiles = (await fs.readdir(path.join(receivedDir, 'SCANNER'))).filter((name) => name.endsWith('.dcm'));
  const receivedByUid = new Map<string, Buffer>();
  for (const name of receivedFiles) {
    const bytes = await fs.readFile(path.join(receivedDir, 'SCANNER', name));
    receivedByUid.set(readInstanceHeader(bytes).sopInstanceUid, bytes);
  }
  for (const uid of acked) {
    const bytes = receivedByUid.get(uid);
    assert.ok(bytes, `instance ${uid} was answered Success and is missing after the restart`);
    assert.ok(datasetBytes(bytes).equals(sentByUid.get(uid)!), `instance ${uid} differs from what was sent`);
  }
  assert.ok(receivedFiles.length <= acked.length + 1, 'at most the instance in flight at the kill besides those answered');
  assert.deepEqual(await fs.readdir(path.join(receivedDir, '.tmp')), [], 'no temporary file left');
});
