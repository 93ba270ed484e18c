/**
 * The appliance started from a config with dicom.tls and dicom.plain: false: a series pushed with
 * DCMTK storescu over TLS becomes a task; nothing listens on the plain port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { dcmtkTlsArgs, freePort, runDcmtk } from '../fixtures/dcmtk.js';
import { makeTestPki } from '../fixtures/test-pki.js';
import { startTestAppliance } from '../helpers/appliance.js';

test('dicom.tls with dicom.plain: false: storescu +tls delivers a series that becomes a task; the plain port is closed', async (t) => {
  const pki = await makeTestPki();
  const work = await mkdtemp(path.join(os.tmpdir(), 'petspool-appliance-tls-'));
  const [plainPort, tlsPort] = [await freePort(), await freePort()];
  const app = await startTestAppliance({
    dicom: {
      host: '127.0.0.1', port: plainPort, min_free_mb: 1, plain: false,
      tls: { port: tlsPort, cert_file: pki.server.certFile, key_file: pki.server.keyFile, ca_file: pki.caFile },
    },
    compilator: { quiet_seconds: 0.5, min_images: 5, max_gap_ratio: 0.025, abort_incomplete_after_seconds: 30 },
  });
  t.after(async () => {
    await app.stop();
    await rm(work, { recursive: true, force: true });
    await rm(pki.dir, { recursive: true, force: true });
  });
  const files = await synthesizePetSeries(path.join(work, 'pet'), { slices: 6, size: 16, seed: 3 });
  const sent = await runDcmtk('storescu', [...dcmtkTlsArgs(pki.client, pki.caFile), '-aec', app.config.ae_title, '-aet', 'SCANNER_TLS', '127.0.0.1', String(tlsPort), ...files]);
  assert.equal(sent.code, 0, sent.stderr);
  const task = await app.waitFor('the TLS series to become a task', async () => (await app.tasks()).find((r) => r.sender === 'ae:SCANNER_TLS' && r.images === 6));
  assert.equal(task.images, 6);
  const plain = await runDcmtk('echoscu', ['-aec', app.config.ae_title, '127.0.0.1', String(plainPort)]);
  assert.notEqual(plain.code, 0, 'nothing listens on the plain port');
});
