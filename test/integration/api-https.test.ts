/**
 * The API over HTTPS with real peers: Node's https client trusting the test CA, each role reaching
 * only its routes, the Secure session cookie, the embedded reference service calling back over
 * HTTPS (the certificate pinned), and the CLI acting through the HTTPS API as a named operator.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import http from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { makeTestPki, type TestPki } from '../fixtures/test-pki.js';
import { freePort, runDcmtk } from '../fixtures/dcmtk.js';
import { runCli, tempConfig } from '../helpers/cli.js';
import {
  TEST_CALLBACK_TOKEN, TEST_METRICS_TOKEN, TEST_OPERATOR, TEST_SUBMITTER, startTestAppliance, type RunningAppliance,
} from '../helpers/appliance.js';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { NoDicomFilesError, PetspoolClient } from '../../src/client/petspool-client.js';
import { AuditLog, readAuditLog } from '../../src/audit/audit-log.js';

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: { error?: unknown } & Record<string, unknown> }

/** One request with node:https, trusting `ca` (the test CA unless told otherwise). */
function httpsCall(base: string, method: string, route: string, opts: { token?: string; body?: unknown; ca?: string | Buffer | null } = {}): Promise<Answer> {
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  const headers: Record<string, string | number> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': payload.length });
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(route, base), { method, headers, ...(opts.ca === null ? {} : { ca: opts.ca }), agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text && /json/.test(String(res.headers['content-type'])) ? JSON.parse(text) : text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function tlsAppliance(t: import('node:test').TestContext, pki: TestPki, changes: Record<string, unknown> = {}): Promise<RunningAppliance> {
  const { api, ...rest } = changes as { api?: Record<string, unknown> };
  const app = await startTestAppliance({ api: { tls: { cert_file: pki.server.certFile, key_file: pki.server.keyFile }, ...api }, ...rest });
  t.after(async () => {
    await app.stop();
    await rm(app.dir, { recursive: true, force: true });
  });
  return app;
}

test('HTTPS API with Node\'s https client: the CA is checked, plain HTTP is not served, each role reaches only its routes', async (t) => {
  const pki = await makeTestPki();
  t.after(() => rm(pki.dir, { recursive: true, force: true }));
  const app = await tlsAppliance(t, pki);
  const base = `https://127.0.0.1:${app.config.api.port}`;
  const call = (method: string, route: string, opts: { token?: string; body?: unknown } = {}) => httpsCall(base, method, route, { ca: pki.ca, ...opts });

  // Trust: the site CA verifies; without it, or with another CA, the connection is refused before any request.
  assert.equal((await call('GET', '/tasks', { token: TEST_OPERATOR.token })).status, 200);
  await assert.rejects(httpsCall(base, 'GET', '/tasks', { token: TEST_OPERATOR.token, ca: null }), /unable to verify|self.signed/i);
  await assert.rejects(httpsCall(base, 'GET', '/tasks', { token: TEST_OPERATOR.token, ca: await readFile(pki.otherCaFile) }), /unable to verify|self.signed/i);
  await assert.rejects(new Promise((resolve, reject) => {
    http.get(`http://127.0.0.1:${app.config.api.port}/tasks`, { headers: { authorization: `Bearer ${TEST_OPERATOR.token}` } }, resolve).on('error', reject);
  }), /socket hang up|ECONNRESET/, 'no answer to plain HTTP on the HTTPS port');

  const matrix: [string | undefined, string, string, unknown, number][] = [
    [undefined, 'GET', '/tasks', undefined, 401],
    ['wrong-token-wrong-token', 'GET', '/tasks', undefined, 401],
    [TEST_CALLBACK_TOKEN, 'POST', '/process_ready', { task_id: '20200101-000000-abcdef' }, 404],
    [TEST_CALLBACK_TOKEN, 'GET', '/tasks', undefined, 403],
    [TEST_CALLBACK_TOKEN, 'POST', '/settings/qc', { required: true }, 403],
    [TEST_METRICS_TOKEN, 'GET', '/metrics', undefined, 200],
    [TEST_METRICS_TOKEN, 'GET', '/qc', undefined, 403],
    [TEST_METRICS_TOKEN, 'POST', '/uploads', {}, 403],
    [TEST_SUBMITTER.token, 'POST', '/uploads', {}, 201],
    [TEST_SUBMITTER.token, 'GET', '/tasks', undefined, 403],
    [TEST_SUBMITTER.token, 'GET', '/metrics', undefined, 403],
    [TEST_SUBMITTER.token, 'POST', '/settings/filters', { name: 'x', fwhm_mm: 1 }, 403],
    [TEST_SUBMITTER.token, 'POST', '/process_ready', { task_id: '20200101-000000-abcdef' }, 403],
    [TEST_OPERATOR.token, 'GET', '/settings/filters', undefined, 200],
    [TEST_OPERATOR.token, 'GET', '/metrics', undefined, 200],
    [TEST_OPERATOR.token, 'POST', '/process_ready', { task_id: '20200101-000000-abcdef' }, 403],
  ];
  for (const [token, method, route, body, expected] of matrix) {
    const answer = await call(method, route, { token, body });
    assert.equal(answer.status, expected, `${method} ${route} with ${token ?? 'no token'}: ${JSON.stringify(answer.body)}`);
    if (expected >= 400) assert.equal(typeof answer.body.error, 'string', 'every refusal says why');
  }

  // The dashboard's session cookie is Secure under HTTPS.
  const login = await call('POST', '/login', { body: { name: TEST_OPERATOR.name, password: TEST_OPERATOR.password } });
  assert.equal(login.status, 200);
  assert.match(String(login.headers['set-cookie']), /^petspool_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Secure$/);
  assert.equal(login.headers['strict-transport-security'], 'max-age=31536000');

  // The submitter SDK over HTTPS with the site CA.
  const junk = await mkdtemp(path.join(os.tmpdir(), 'petspool-https-junk-'));
  t.after(() => rm(junk, { recursive: true, force: true }));
  await writeFile(path.join(junk, 'notes.txt'), 'not an image');
  await assert.rejects(new PetspoolClient({ url: base, token: TEST_SUBMITTER.token, ca: pki.ca }).uploadDicomDir(junk),
    (err: Error) => err instanceof NoDicomFilesError && /1 file is not DICOM: notes\.txt/.test(err.message));
});

test('HTTPS: the embedded reference service calls back with the callback token, and the CLI approves QC through the HTTPS API', { timeout: 120_000 }, async (t) => {
  const pki = await makeTestPki();
  t.after(() => rm(pki.dir, { recursive: true, force: true }));
  // The share is looked at once a minute: a result found within seconds was announced by the callback.
  const app = await tlsAppliance(t, pki, {
    compilator: { quiet_seconds: 0.5, min_images: 10, max_gap_ratio: 0.025, abort_incomplete_after_seconds: 30 },
    share: { poll_seconds: 60 }, qc: { required: true },
  });
  const work = await mkdtemp(path.join(os.tmpdir(), 'petspool-https-flow-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const input = await synthesizePetSeries(path.join(work, 'in'), { slices: 12, size: 32 });
  const sent = await runDcmtk('storescu', ['-aec', app.config.ae_title, '-aet', 'SCANNER', '127.0.0.1', String(app.config.dicom.port), ...input]);
  assert.equal(sent.code, 0, sent.stderr);
  const held = await app.waitFor('the result held for QC', async () => (await app.tasks(['awaiting_qc']))[0], 45_000);
  assert.ok(held.facts.callback_at, 'the remote service\'s callback over HTTPS was accepted');

  // The CLI on the appliance machine: through the HTTPS API (certificate pinned) as the named operator.
  const approved = await runCli(['qc', 'approve', held.id, '--config', app.config.configPath]);
  assert.equal(approved.code, 0, approved.stderr);
  const after = (await app.appliance.parts.spool.locateTask(held.id)).record;
  const approval = after.history.find((h) => h.state === 'sending');
  assert.deepEqual([approval?.detail, approval?.by], [`approved by ${TEST_OPERATOR.name}`, TEST_OPERATOR.name]);
  const audit = await readAuditLog(AuditLog.inSpool(app.config.spool_dir).file);
  assert.deepEqual(audit.map((e) => [e.who, e.role, e.action, e.task, e.client]),
    [[TEST_OPERATOR.name, 'operator', 'qc.approve', held.id, '127.0.0.1']]);

  // A config whose cert_file is not the certificate the API presents: the CLI refuses to send its token there.
  const doc = YAML.parse(await readFile(app.config.configPath, 'utf8'));
  const otherCert = path.join(app.dir, 'other-cert.yaml');
  await writeFile(otherCert, YAML.stringify({ ...doc, api: { ...doc.api, tls: { cert_file: pki.client.certFile, key_file: pki.client.keyFile } } }));
  const pinned = await runCli(['tasks', 'abort', held.id, '--config', otherCert]);
  assert.equal(pinned.code, 3, pinned.stderr);
  assert.match(pinned.stderr, /presented certificate .* not the pinned .*api\.tls\.cert_file/);
  assert.notEqual((await app.appliance.parts.spool.locateTask(held.id)).folder, 'aborted');
});

test('petspool start refuses plain HTTP on a network address, and an unreadable certificate, by dotted path', async (t) => {
  const { dir, file } = await tempConfig({ dicom: { host: '127.0.0.1', port: await freePort() }, api: { host: '0.0.0.0', port: await freePort() } });
  t.after(() => rm(dir, { recursive: true, force: true }));
  const plain = await runCli(['start', '--config', file]);
  assert.equal(plain.code, 2);
  assert.match(plain.stderr, /api\.host: 0\.0\.0\.0 is reachable from the network: plain HTTP is allowed only on loopback/);
  assert.match(plain.stderr, /api\.callback_token: still the shipped placeholder/);

  const missing = path.join(dir, 'missing.yaml');
  const doc = YAML.parse(await readFile(file, 'utf8'));
  await writeFile(missing, YAML.stringify({ ...doc, api: { ...doc.api, host: '127.0.0.1', tls: { cert_file: 'nope.crt', key_file: 'nope.key' } } }));
  const unreadable = await runCli(['start', '--config', missing]);
  assert.equal(unreadable.code, 2, unreadable.stderr);
  assert.match(unreadable.stderr, /api\.tls\.cert_file: cannot read .*nope\.crt \(ENOENT\)/);

  const mismatched = path.join(dir, 'mismatched.yaml');
  const pki = await makeTestPki();
  t.after(() => rm(pki.dir, { recursive: true, force: true }));
  await writeFile(mismatched, YAML.stringify({ ...doc, api: { ...doc.api, host: '127.0.0.1', tls: { cert_file: pki.server.certFile, key_file: pki.client.keyFile } } }));
  const wrongKey = await runCli(['start', '--config', mismatched]);
  assert.equal(wrongKey.code, 2, wrongKey.stderr);
  assert.match(wrongKey.stderr, /api\.tls: .*server\.pem and .*client\.key are not a PEM certificate and its private key \(.*key values mismatch/);
});
