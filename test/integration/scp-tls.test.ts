/**
 * The Store SCP's DICOM TLS listener against DCMTK's storescu/echoscu with TLS (real OpenSSL peers):
 * a sender with a certificate of the site CA stores; one without a certificate, with another CA's,
 * or speaking plain DICOM is refused before any association; the association policy and timeouts
 * are those of the plain port.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Writable } from 'node:stream';
import winston from 'winston';
import { startStoreScp, type StoredInstance, type StoreScp, type StoreScpOptions } from '../../src/dicom/scp.js';
import { datasetBytes, dcmtkTlsArgs as tlsArgs, runDcmtk } from '../fixtures/dcmtk.js';
import { makePetSeries } from '../fixtures/make-pet.js';
import { makeTestPki, type TestPki } from '../fixtures/test-pki.js';
import { handedOn } from '../helpers/handed-on.js';

let root: string;
let pki: TestPki;
let files: string[];

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'petspool-scp-tls-'));
  pki = await makeTestPki();
  files = await makePetSeries(path.join(root, 'in'), { slices: 3, size: 16 });
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
  await fs.rm(pki.dir, { recursive: true, force: true });
});

async function withTlsScp(
  overrides: Partial<StoreScpOptions>,
  body: (scp: StoreScp, stored: StoredInstance[], logs: string[]) => Promise<void>,
): Promise<void> {
  const receivedDir = await fs.mkdtemp(path.join(root, 'received-'));
  const stored: StoredInstance[] = [];
  const logs: string[] = [];
  const sink = new Writable({ objectMode: true, write: (info: { message: string }, _encoding, done) => { logs.push(info.message); done(); } });
  const logger = winston.createLogger({ level: 'debug', transports: [new winston.transports.Stream({ stream: sink })] });
  const scp = await startStoreScp({
    host: '127.0.0.1', port: 0, aeTitle: 'PETSPOOL', allowedCallingAeTitles: [], maxAssociations: 8,
    minFreeMb: 1, receivedDir, logger, onStored: (i) => stored.push(i),
    tls: { port: 0, certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: pki.caFile, requireClientCertificate: true },
    ...overrides,
  });
  try {
    await body(scp, stored, logs);
  } finally {
    await scp.close();
  }
}

test('storescu +tls with a site-CA client certificate stores every file, byte-identical', async () => {
  await withTlsScp({}, async (scp, stored) => {
    assert.ok(scp.tlsPort && scp.tlsPort !== scp.port);
    const run = await runDcmtk('storescu', [...tlsArgs(pki.client, pki.caFile), '-aec', 'PETSPOOL', '-aet', 'MODALITY', '127.0.0.1', String(scp.tlsPort), ...files]);
    assert.equal(run.code, 0, run.stderr);
    await handedOn(stored, files.length);
    assert.equal(stored.length, files.length);
    for (const [i, file] of files.entries()) {
      assert.equal(stored[i].callingAeTitle, 'MODALITY');
      assert.ok(datasetBytes(await fs.readFile(stored[i].path)).equals(datasetBytes(await fs.readFile(file))));
    }
    // The plain port works alongside.
    const plain = await runDcmtk('storescu', ['-aec', 'PETSPOOL', '127.0.0.1', String(scp.port), files[0]]);
    assert.equal(plain.code, 0, plain.stderr);
    await handedOn(stored, files.length + 1);
    assert.equal(stored.length, files.length + 1);
  });
});

for (const [what, pair, logged] of [
  ['no client certificate', undefined, /refused: the sender showed no client certificate/],
  ['a certificate of another CA', 'other', /refused: client certificate CN=other-client not accepted by dicom\.tls\.ca_file .*ca\.pem \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/],
] as const) {
  test(`storescu with ${what} is refused before any association, nothing stored, the reason logged`, async () => {
    await withTlsScp({}, async (scp, stored, logs) => {
      const run = await runDcmtk('storescu', [...tlsArgs(pair ? pki.otherClient : undefined, pki.caFile), '-aec', 'PETSPOOL', '127.0.0.1', String(scp.tlsPort), files[0]]);
      assert.notEqual(run.code, 0);
      assert.equal(stored.length, 0);
      assert.equal(scp.stats().associationsAccepted + scp.stats().associationsRejected, 0);
      assert.ok(logs.some((m) => m.startsWith('DICOM TLS connection from 127.0.0.1 refused: ') && logged.test(m)), logs.join('\n'));
    });
  });
}

test('plain DICOM on the TLS port is refused; a sender checking against another CA refuses the SCP', async () => {
  await withTlsScp({}, async (scp, stored, logs) => {
    const plain = await runDcmtk('echoscu', ['-aec', 'PETSPOOL', '127.0.0.1', String(scp.tlsPort)]);
    assert.notEqual(plain.code, 0);
    assert.ok(logs.some((m) => /refused: ERR_SSL_WRONG_VERSION_NUMBER wrong version number$/.test(m)), logs.join('\n'));
    const distrusting = await runDcmtk('echoscu', [...tlsArgs(pki.client, pki.otherCaFile), '-aec', 'PETSPOOL', '127.0.0.1', String(scp.tlsPort)]);
    assert.notEqual(distrusting.code, 0);
    const trusting = await runDcmtk('echoscu', [...tlsArgs(pki.client, pki.caFile), '-aec', 'PETSPOOL', '127.0.0.1', String(scp.tlsPort)]);
    assert.equal(trusting.code, 0, trusting.stderr);
    assert.equal(scp.stats().echoes, 1);
    assert.equal(stored.length, 0);
  });
});

test('require_client_certificate false: anonymous TLS senders are served', async () => {
  await withTlsScp({ tls: { port: 0, certFile: pki.server.certFile, keyFile: pki.server.keyFile, requireClientCertificate: false } }, async (scp, stored) => {
    const run = await runDcmtk('storescu', [...tlsArgs(undefined, pki.caFile), '-aec', 'PETSPOOL', '127.0.0.1', String(scp.tlsPort), files[0]]);
    assert.equal(run.code, 0, run.stderr);
    await handedOn(stored, 1);
    assert.equal(stored.length, 1);
  });
});

test('plain: false listens on the TLS port only', async () => {
  await withTlsScp({ plain: false }, async (scp) => {
    assert.equal(scp.port, 0);
    const run = await runDcmtk('echoscu', [...tlsArgs(pki.client, pki.caFile), '-aec', 'PETSPOOL', '127.0.0.1', String(scp.tlsPort)]);
    assert.equal(run.code, 0, run.stderr);
  });
});

test('the calling AE title check applies on the TLS port too', async () => {
  await withTlsScp({ allowedCallingAeTitles: ['MODALITY'] }, async (scp, stored) => {
    const run = await runDcmtk('storescu', [...tlsArgs(pki.client, pki.caFile), '-aec', 'PETSPOOL', '-aet', 'INTRUDER', '127.0.0.1', String(scp.tlsPort), files[0]]);
    assert.notEqual(run.code, 0);
    assert.equal(stored.length, 0);
    assert.equal(scp.stats().associationsRejected, 1);
  });
});

/** Resolves when the server closes `socket`; rejects if it is still open after `ms`. */
function closedWithin(socket: net.Socket, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

test('a connection that never finishes the handshake, or never associates after it, is dropped after the idle timeout', async () => {
  await withTlsScp({ idleTimeoutMs: 300 }, async (scp) => {
    const silentTcp = net.connect(scp.tlsPort!, '127.0.0.1');
    await closedWithin(silentTcp, 10_000);
    const silentTls = tls.connect({ host: '127.0.0.1', port: scp.tlsPort!, ca: pki.ca, cert: pki.client.cert, key: pki.client.key });
    await new Promise<void>((resolve, reject) => silentTls.once('secureConnect', resolve).once('error', reject));
    await closedWithin(silentTls, 10_000);
  });
});

test('TLS 1.1 and older are refused', async () => {
  await withTlsScp({}, async (scp) => {
    const old = tls.connect({
      host: '127.0.0.1', port: scp.tlsPort!, ca: pki.ca, cert: pki.client.cert, key: pki.client.key,
      minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0',
    });
    const error = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
      old.once('secureConnect', () => reject(new Error('a TLS 1.1 handshake succeeded')));
      old.once('error', resolve);
    });
    old.destroy();
    assert.match(String(error.code), /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/);
  });
});

test('close() does not wait for a TLS handshake still under way', async () => {
  const receivedDir = await fs.mkdtemp(path.join(root, 'received-'));
  const scp = await startStoreScp({
    host: '127.0.0.1', port: 0, aeTitle: 'PETSPOOL', allowedCallingAeTitles: [], maxAssociations: 8, minFreeMb: 1, receivedDir,
    logger: winston.createLogger({ silent: true }), onStored: () => undefined,
    tls: { port: 0, certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: pki.caFile, requireClientCertificate: true },
  });
  const silent = net.connect(scp.tlsPort!, '127.0.0.1');
  await new Promise<void>((resolve) => silent.once('connect', resolve));
  const dropped = closedWithin(silent, 20_000);
  // The handshake timeout is the idle timeout (60 s); close() must not wait for it.
  const outcome = await Promise.race([scp.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('still closing'), 20_000))]);
  assert.equal(outcome, 'closed');
  await dropped;
});
