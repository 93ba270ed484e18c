/**
 * The remote service over https: the reference service serving https with a certificate of a
 * private CA, trusted through remote.ca_file; the same service untrusted (system trust store,
 * another CA) is a remote failure naming the URL and the certificate problem. The certificate
 * check cannot be switched off, not even with NODE_TLS_REJECT_UNAUTHORIZED=0.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RemoteClient, RemoteUnavailableError } from '../../src/remote/client.js';
import { startReferenceService, type ReferenceService } from '../../src/reference-service/reference-service.js';
import { makeTestPki, type TestPki } from '../fixtures/test-pki.js';
import { startLeg } from '../helpers/remote-leg.js';

let pki: TestPki;
before(async () => { pki = await makeTestPki(); });
after(() => rm(pki.dir, { recursive: true, force: true }));

const QUERY = { radiopharmaceutical: { name: 'FDG' }, reconstruction: { method: 'OSEM' } };

describe('RemoteClient against the reference service over https', () => {
  let share: string;
  let service: ReferenceService;
  before(async () => {
    share = await mkdtemp(path.join(os.tmpdir(), 'petspool-https-'));
    service = await startReferenceService({
      token: 'tok', outboxDir: share, inboxDir: share, licences: { active: true },
      tls: { certFile: pki.server.certFile, keyFile: pki.server.keyFile },
    });
  });
  after(async () => {
    await service.close();
    await rm(share, { recursive: true, force: true });
  });
  const client = (caFile?: string) => new RemoteClient({ baseUrl: service.url, token: 'tok', clientId: 'site-01', timeoutMs: 5000, caFile });

  it('serves https; a client trusting remote.ca_file is answered', async () => {
    assert.match(service.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(await client(pki.caFile).checkModel(QUERY), { ok: true });
  });

  it('an untrusted certificate is a remote failure naming the URL, the certificate and the trust it was checked against', async () => {
    const host = new URL(service.url).host;
    await assert.rejects(client().checkModel(QUERY), (err: Error) => {
      assert.ok(err instanceof RemoteUnavailableError);
      assert.equal(err.message, `remote service ${service.url}: TLS: certificate of ${host} not trusted by the system's trust store `
        + '(set remote.ca_file for a private CA) (UNABLE_TO_VERIFY_LEAF_SIGNATURE); give the CA that signed it');
      return true;
    });
    await assert.rejects(client(pki.otherCaFile).checkModel(QUERY),
      { name: 'RemoteUnavailableError', message: new RegExp(`^remote service ${service.url}: TLS: certificate of ${host} not trusted by remote\\.ca_file ${pki.otherCaFile} `) });
    const missing = path.join(share, 'absent-ca.pem');
    await assert.rejects(client(missing).checkModel(QUERY),
      { name: 'RemoteUnavailableError', message: `remote service ${service.url}: TLS: cannot read remote.ca_file ${missing} (ENOENT)` });
  });

  it('NODE_TLS_REJECT_UNAUTHORIZED=0 does not switch the check off', async () => {
    const saved = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    try {
      await assert.rejects(client(pki.otherCaFile).checkModel(QUERY), /not trusted by remote\.ca_file/);
    } finally {
      if (saved === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = saved;
    }
  });
});

/**
 * An https front for the appliance's http API, as a site's reverse proxy would be: POST bodies
 * are passed on to `target()`; `calls` counts what came through.
 */
async function startHttpsRelay(target: () => string): Promise<{ url: string; calls: string[]; server: Server }> {
  const calls: string[] = [];
  const server = createHttpsServer({ cert: pki.server.cert, key: pki.server.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      calls.push(req.url ?? '');
      const forward = httpRequest(new URL(req.url ?? '/', target()), { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      forward.on('error', () => res.writeHead(502).end());
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, calls, server };
}

describe('the remote leg with the service over https', () => {
  it('a task is uploaded, processed, called back over https and downloaded', async () => {
    let apiUrl = '';
    const relay = await startHttpsRelay(() => apiUrl);
    const leg = await startLeg({
      https: { certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: pki.caFile, callbackCaFile: pki.caFile },
      api: { public_url: relay.url },
    });
    try {
      apiUrl = leg.api.url;
      assert.match(leg.config.remote.url, /^https:/);
      const id = await leg.addValidatedTask({ slices: 10, size: 16 });
      const record = await leg.waitFor(id, 'downloaded', 30_000);
      assert.ok(record.facts.callback_at, 'the service called back');
      assert.deepEqual(relay.calls, ['/process_ready'], 'over the https callback URL');
    } finally {
      await leg.close();
      await new Promise((resolve) => relay.server.close(resolve));
    }
  });

  it('remote.ca_file of another CA: the upload waits and retries, last_error names the URL and the certificate problem', async () => {
    const leg = await startLeg({ https: { certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: pki.otherCaFile } });
    try {
      const id = await leg.addValidatedTask({ slices: 10, size: 16 });
      const deadline = Date.now() + 20_000;
      for (;;) {
        const { record, folder } = await leg.parts.spool.locateTask(id);
        if (record.attempts >= 2) {
          assert.equal(folder, 'packed');
          assert.match(String(record.facts.last_error), new RegExp(`remote service ${leg.config.remote.url}: TLS: certificate of 127\\.0\\.0\\.1:\\d+ not trusted by remote\\.ca_file ${pki.otherCaFile}`));
          break;
        }
        assert.ok(Date.now() < deadline, `no retry recorded (${folder}, ${record.attempts} attempts, ${String(record.facts.last_error)})`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await leg.close();
    }
  });
});
