/**
 * Our SCU (delivery, `petspool send`/`echo`) over DICOM TLS against DCMTK storescp +tls (real
 * OpenSSL peers): files arrive when the peer's certificate is signed by our ca_file; every way the
 * handshake can go wrong is refused with a message saying which certificate and why.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/log/logger.js';
import { startStoreScp } from '../../src/dicom/scp.js';
import { AssociationRejectedError, echo, sendFiles, type PeerTls } from '../../src/dicom/scu.js';
import { datasetBytes, dcmtkTlsArgs, startStorescp, type RunningStorescp } from '../fixtures/dcmtk.js';
import { makePetSeries } from '../fixtures/make-pet.js';
import { makeTestPki, type KeyPair, type TestPki } from '../fixtures/test-pki.js';
import { associateRequest, sendRaw } from '../fixtures/raw-association.js';
import { runCli } from '../helpers/cli.js';

let root: string;
let pki: TestPki;
let files: string[];

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'petspool-scu-tls-'));
  pki = await makeTestPki();
  files = await makePetSeries(path.join(root, 'in'), { slices: 3, size: 16 });
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
  await fs.rm(pki.dir, { recursive: true, force: true });
});

/** storescp +tls with `server` as its certificate, requiring a client certificate of the site CA. */
async function tlsStorescp(server: KeyPair, serverCaFile: string): Promise<{ scp: RunningStorescp; dir: string }> {
  const dir = await fs.mkdtemp(path.join(root, 'storescp-'));
  const scp = await startStorescp(dir, dcmtkTlsArgs(server, pki.caFile), undefined, dcmtkTlsArgs(pki.client, serverCaFile));
  return { scp, dir };
}

const siteTls = (): PeerTls => ({ caFile: pki.caFile, certFile: pki.client.certFile, keyFile: pki.client.keyFile, where: 'destinations[pacs].tls' });
const peerAt = (port: number, tls: PeerTls | undefined) => ({ host: '127.0.0.1', port, calledAeTitle: 'STORESCP', callingAeTitle: 'PETSPOOL', timeoutMs: 10_000, tls });

test('sendFiles over TLS to storescp +tls: every file arrives unchanged; C-ECHO works too', async () => {
  const { scp, dir } = await tlsStorescp(pki.server, pki.caFile);
  try {
    await echo(peerAt(scp.port, siteTls()));
    const result = await sendFiles({ ...peerAt(scp.port, siteTls()), files });
    assert.deepEqual(result.failed, []);
    assert.equal(result.sent, files.length);
    const arrived = await fs.readdir(dir);
    assert.equal(arrived.length, files.length);
    const sentDatasets = await Promise.all(files.map(async (f) => datasetBytes(await fs.readFile(f)).toString('hex')));
    for (const name of arrived) assert.ok(sentDatasets.includes(datasetBytes(await fs.readFile(path.join(dir, name))).toString('hex')), name);
  } finally {
    await scp.stop();
  }
});

test('a peer certificate of another CA, or for another host, is refused with a message naming it', async () => {
  const other = await tlsStorescp(pki.otherServer, pki.otherCaFile);
  const wrongName = await tlsStorescp(pki.wrongNameServer, pki.caFile);
  try {
    await assert.rejects(sendFiles({ ...peerAt(other.scp.port, siteTls()), files }), (err: Error) => {
      assert.equal(err.message, `TLS: certificate of 127.0.0.1:${other.scp.port} not trusted by destinations[pacs].tls.ca_file ${pki.caFile} `
        + '(UNABLE_TO_VERIFY_LEAF_SIGNATURE); give the CA that signed it');
      return true;
    });
    await assert.rejects(echo(peerAt(wrongName.scp.port, siteTls())),
      { message: `TLS: certificate of 127.0.0.1:${wrongName.scp.port} is for DNS:elsewhere.example, not 127.0.0.1 (ERR_TLS_CERT_ALTNAME_INVALID); `
        + 'connect by a name the certificate lists' });
    assert.deepEqual(await fs.readdir(other.dir), []);
  } finally {
    await other.scp.stop();
    await wrongName.scp.stop();
  }
});

test('a peer requiring a client certificate refuses none or another CA\'s; a plain peer does not speak TLS; a missing file is named', async () => {
  const { scp } = await tlsStorescp(pki.server, pki.caFile);
  const plainDir = await fs.mkdtemp(path.join(root, 'plain-'));
  const plain = await startStorescp(plainDir);
  try {
    await assert.rejects(echo(peerAt(scp.port, { caFile: pki.caFile })), /TLS: 127\.0\.0\.1:\d+ (requires a client certificate|refused our client certificate)/);
    await assert.rejects(echo(peerAt(scp.port, { caFile: pki.caFile, certFile: pki.otherClient.certFile, keyFile: pki.otherClient.keyFile })),
      /TLS: 127\.0\.0\.1:\d+ refused our client certificate/);
    await assert.rejects(echo(peerAt(plain.port, siteTls())), /TLS: 127\.0\.0\.1:\d+ (does not speak TLS|closed the connection during the TLS handshake)/);
    const missing = path.join(root, 'no-such-ca.pem');
    await assert.rejects(echo(peerAt(scp.port, { ...siteTls(), caFile: missing })),
      new RegExp(`TLS: cannot read destinations\\[pacs\\]\\.tls\\.ca_file ${missing} \\(ENOENT\\)`));
    await assert.rejects(echo(peerAt(scp.port, { ...siteTls(), keyFile: pki.otherClient.keyFile })), /TLS: these files cannot be used together: destinations\[pacs\]\.tls\.cert_file .*client\.pem, destinations\[pacs\]\.tls\.key_file .*other-client\.key/);
  } finally {
    await scp.stop();
    await plain.stop();
  }
});

test('our SCU to our own TLS Store SCP: stored; the association limit counts plain and TLS associations together', async () => {
  const receivedDir = await fs.mkdtemp(path.join(root, 'received-'));
  const scp = await startStoreScp({
    host: '127.0.0.1', port: 0, aeTitle: 'PETSPOOL', allowedCallingAeTitles: [], maxAssociations: 1, minFreeMb: 1, receivedDir,
    logger: silentLogger, onStored: () => undefined,
    tls: { port: 0, certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: pki.caFile, requireClientCertificate: true },
  });
  try {
    const result = await sendFiles({ ...peerAt(scp.tlsPort!, siteTls()), calledAeTitle: 'PETSPOOL', files });
    assert.equal(result.sent, files.length);
    // Refused after the handshake (TLS 1.3): said at once, not after the association timeout.
    const refusedTls = { ...siteTls(), certFile: pki.otherClient.certFile, keyFile: pki.otherClient.keyFile };
    await assert.rejects(echo({ ...peerAt(scp.tlsPort!, refusedTls), calledAeTitle: 'PETSPOOL', timeoutMs: 60_000 }),
      /TLS: 127\.0\.0\.1:\d+ (closed the connection after the TLS handshake without answering; it may refuse our client certificate \(destinations\[pacs\]\.tls\.cert_file\)|refused our client certificate)/);
    const held = await sendRaw(scp.port, associateRequest('PETSPOOL', 'HOLDER'));
    assert.equal(held.pduType, 2, 'the plain association holds the only slot');
    await assert.rejects(echo({ ...peerAt(scp.tlsPort!, siteTls()), calledAeTitle: 'PETSPOOL' }),
      (err: Error) => err instanceof AssociationRejectedError && err.transient);
    held.socket.destroy();
  } finally {
    await scp.close();
  }
});

test('petspool echo and send with --tls-ca/--tls-cert/--tls-key; an untrusted peer is outcome "tls"; half the options is exit 2', async () => {
  const { scp, dir } = await tlsStorescp(pki.server, pki.caFile);
  const other = await tlsStorescp(pki.otherServer, pki.otherCaFile);
  try {
    const tlsFlags = ['--tls-ca', pki.caFile, '--tls-cert', pki.client.certFile, '--tls-key', pki.client.keyFile, '--calling-aet', 'TESTER'];
    const ok = await runCli(['echo', `STORESCP@127.0.0.1:${scp.port}`, ...tlsFlags]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /STORESCP@127\.0\.0\.1:\d+: ok/);
    const sent = await runCli(['send', path.dirname(files[0]), '--to', `STORESCP@127.0.0.1:${scp.port}`, ...tlsFlags, '--json']);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(JSON.parse(sent.stdout).sent, files.length);
    assert.equal((await fs.readdir(dir)).length, files.length);

    const untrusted = JSON.parse((await runCli(['echo', `STORESCP@127.0.0.1:${other.scp.port}`, ...tlsFlags, '--json'])).stdout);
    assert.equal(untrusted.outcome, 'tls');
    assert.match(untrusted.message, new RegExp(`TLS: certificate of 127\\.0\\.0\\.1:\\d+ not trusted by --tls-ca ${pki.caFile}`));

    const half = await runCli(['echo', `STORESCP@127.0.0.1:${scp.port}`, '--tls-ca', pki.caFile, '--tls-cert', pki.client.certFile, '--calling-aet', 'TESTER']);
    assert.equal(half.code, 2);
    assert.match(half.stderr, /--tls-cert and --tls-key go together/);
  } finally {
    await scp.stop();
    await other.scp.stop();
  }
});
