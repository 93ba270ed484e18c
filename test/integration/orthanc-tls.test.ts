/**
 * DICOM TLS with Orthanc (another vendor's OpenSSL-based DICOM TLS) as the peer: petspool's SCU
 * sends to Orthanc's TLS port, and Orthanc pushes and echoes over TLS to petspool's TLS Store SCP;
 * each side requires the other's certificate signed by the site CA.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../src/log/logger.js';
import { startStoreScp, type StoredInstance } from '../../src/dicom/scp.js';
import { sendFiles } from '../../src/dicom/scu.js';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { findOrthanc, startOrthanc } from '../fixtures/orthanc.js';
import { makeTestPki } from '../fixtures/test-pki.js';
import { handedOn } from '../helpers/handed-on.js';

const skip = findOrthanc() ? false : 'Orthanc is not installed (Debian package orthanc; ./install.sh installs it)';

test('petspool → Orthanc and Orthanc → petspool over DICOM TLS, certificates of the site CA both ways', { skip }, async (t) => {
  const pki = await makeTestPki();
  const work = await mkdtemp(path.join(os.tmpdir(), 'petspool-orthanc-tls-'));
  const stored: StoredInstance[] = [];
  const scp = await startStoreScp({
    host: '127.0.0.1', port: 0, plain: false, aeTitle: 'PETSPOOL', allowedCallingAeTitles: [], maxAssociations: 4, minFreeMb: 1,
    receivedDir: path.join(work, 'received'), logger: silentLogger, onStored: (i) => stored.push(i),
    tls: { port: 0, certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: pki.caFile, requireClientCertificate: true },
  });
  const orthanc = await startOrthanc({
    aet: 'ORTHANC_TLS', tls: { certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: pki.caFile },
    modalities: { petspool: { aet: 'PETSPOOL', host: '127.0.0.1', port: scp.tlsPort!, tls: true } },
  });
  t.after(async () => {
    await orthanc.stop();
    await scp.close();
    await rm(work, { recursive: true, force: true });
    await rm(pki.dir, { recursive: true, force: true });
  });

  const files = await synthesizePetSeries(path.join(work, 'pet'), { slices: 5, size: 16, seed: 11 });
  const tls = { caFile: pki.caFile, certFile: pki.client.certFile, keyFile: pki.client.keyFile };
  const result = await sendFiles({ host: '127.0.0.1', port: orthanc.dicomPort, calledAeTitle: 'ORTHANC_TLS', callingAeTitle: 'PETSPOOL', files, tls });
  assert.deepEqual(result.failed, [], await orthanc.log());
  const [series] = await orthanc.allSeries();
  assert.equal(series?.Instances.length, 5);

  assert.equal(await orthanc.echo('petspool'), true, await orthanc.log());
  await orthanc.storeTo('petspool', [series.ID]);
  await handedOn(stored, 5);
  assert.equal(stored.length, 5);
  assert.ok(stored.every((i) => i.callingAeTitle === 'ORTHANC_TLS'));
  assert.equal(scp.stats().associationsAccepted >= 2, true, 'the echo and the push');
});
