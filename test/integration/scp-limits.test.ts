import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startStoreScp } from '../../src/dicom/scp.js';
import { echo } from '../../src/dicom/scu.js';
import { silentLogger } from '../../src/log/logger.js';
import { associateRequest, sendRaw } from '../fixtures/raw-association.js';

test('associations past dicom.max_associations are rejected as transient; freed slots are reused', async () => {
  const receivedDir = await mkdtemp(path.join(os.tmpdir(), 'petspool-limit-'));
  const scp = await startStoreScp({
    host: '127.0.0.1', port: 0, aeTitle: 'PETSPOOL', allowedCallingAeTitles: [], maxAssociations: 2, minFreeMb: 0,
    receivedDir, logger: silentLogger, onStored: () => undefined,
  });
  try {
    const first = await sendRaw(scp.port, associateRequest('PETSPOOL', 'HOLD1'));
    const second = await sendRaw(scp.port, associateRequest('PETSPOOL', 'HOLD2'));
    assert.equal(first.pduType, 2, 'first accepted');
    assert.equal(second.pduType, 2, 'second accepted');
    const third = await sendRaw(scp.port, associateRequest('PETSPOOL', 'HOLD3'));
    assert.equal(third.pduType, 3, 'third rejected');
    assert.deepEqual(third.reject, [2, 3, 2], 'rejected-transient, service-provider (presentation), local limit exceeded');
    await assert.rejects(echo({ host: '127.0.0.1', port: scp.port, calledAeTitle: 'PETSPOOL', callingAeTitle: 'ECHO' }), /reject/i);
    first.socket.destroy();
    second.socket.destroy();
    third.socket.destroy();
    // Once the held associations are gone, a new one is served again.
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        await echo({ host: '127.0.0.1', port: scp.port, calledAeTitle: 'PETSPOOL', callingAeTitle: 'ECHO' });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.equal(scp.stats().associationsRejected >= 2, true);
  } finally {
    await scp.close();
  }
});
