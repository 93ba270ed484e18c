import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireSpoolLock, isSpoolLocked, SpoolLockedError } from '../../../src/spool/lock.js';

const LOCK_MODULE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src', 'spool', 'lock.js');

test('a second holder is refused; a holder killed with SIGKILL does not block the restart', async () => {
  const spool = await mkdtemp(path.join(os.tmpdir(), 'petspool-lock-'));
  // Another process takes the lock, says so, and is then killed without releasing it.
  const child = spawn(process.execPath, ['--input-type=module', '-e',
    `const { acquireSpoolLock } = await import(${JSON.stringify(LOCK_MODULE)});
     await acquireSpoolLock(${JSON.stringify(spool)}, () => {});
     process.stdout.write('locked\\n');
     setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  assert.equal(await isSpoolLocked(spool), true);
  await assert.rejects(acquireSpoolLock(spool, () => undefined), (err: unknown) =>
    err instanceof SpoolLockedError && err.message.includes(`pid ${child.pid}`));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.equal(await isSpoolLocked(spool), false, 'a dead holder does not count');
  const release = await acquireSpoolLock(spool, () => undefined);
  assert.equal(await isSpoolLocked(spool), true);
  await release();
  assert.equal(await isSpoolLocked(spool), false);
});
