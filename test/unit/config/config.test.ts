import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig, validateConfig } from '../../../src/config/load.js';

/** A section of the shipped config.yaml as parsed: the tests write wrong values into it on purpose. */
type Section = Record<string, unknown>;
interface ConfigDoc extends Section {
  dicom: Section; api: Section & { operators: Section[] }; compilator: Section; remote: Section; share: Section;
  destinations: Section[]; filters: unknown[];
}

async function defaultDoc(): Promise<ConfigDoc> {
  return YAML.parse(await readFile(DEFAULT_CONFIG_PATH, 'utf8'));
}

function problemsOf(doc: unknown): string[] {
  try {
    validateConfig(doc, '/etc/petspool/config.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected the config to be refused');
}

test('the shipped config.yaml is valid and paths become absolute next to it', () => {
  const c = loadConfig(DEFAULT_CONFIG_PATH);
  assert.equal(c.ae_title, 'PETSPOOL');
  assert.equal(c.dicom.port, 11112);
  assert.equal(c.spool_dir, path.join(path.dirname(DEFAULT_CONFIG_PATH), 'spool'));
  assert.equal(c.share.inbox, path.join(path.dirname(DEFAULT_CONFIG_PATH), 'spool', 'inbox'));
  assert.equal(c.remote.url, 'embedded');
  assert.deepEqual(c.filters, [{ name: 'fwhm4', fwhm_mm: 4 }]);
});

test('every problem is listed by its dotted path, none hides another', async () => {
  const doc = await defaultDoc();
  doc.dicom.port = 70000;
  doc.api.port = 'eighty';
  doc.ae_title = 'THIS-AE-TITLE-IS-TOO-LONG';
  doc.compilator.min_images = 0;
  doc.destinations[0].port = 1.5;
  doc.filters.push({ name: 'bad name!', fwhm_mm: -1 });
  doc.remote.url = 'not a url';
  delete doc.share.inbox;
  doc.dicom.colour = 'blue';
  const problems = problemsOf(doc);
  const expect = [
    'dicom.port: must be an integer 1-65535',
    'api.port: must be an integer 1-65535',
    'ae_title: must be an AE title',
    'compilator.min_images: must be an integer >= 1',
    'destinations.0.port: must be an integer 1-65535',
    'filters.1.name: must be 1-32 letters',
    'filters.1.fwhm_mm: must be a number >= 0',
    'remote.url: must be "embedded" or an http(s) URL',
    'share.inbox: must be a text',
    'dicom: unknown key "colour"',
  ];
  for (const e of expect) assert.ok(problems.some((p) => p.startsWith(e)), `missing "${e}" in:\n${problems.join('\n')}`);
  assert.equal(problems.length, expect.length, problems.join('\n'));
});

test('an unreadable or non-YAML file is refused with a clear problem', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-config-'));
  assert.throws(() => loadConfig(path.join(dir, 'missing.yaml')), (err: unknown) =>
    err instanceof ConfigError && /cannot read it \(ENOENT\)/.test(err.problems[0]));
  const bad = path.join(dir, 'bad.yaml');
  await writeFile(bad, 'ae_title: [unclosed\n');
  assert.throws(() => loadConfig(bad), (err: unknown) => err instanceof ConfigError && /not valid YAML/.test(err.problems[0]));
});

test('PETSPOOL_CONFIG names the file when --config is not given', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-config-'));
  const doc = await defaultDoc();
  doc.ae_title = 'ENVCONF';
  const file = path.join(dir, 'c.yaml');
  await writeFile(file, YAML.stringify(doc));
  const saved = process.env.PETSPOOL_CONFIG;
  process.env.PETSPOOL_CONFIG = file;
  try {
    assert.equal(loadConfig().ae_title, 'ENVCONF');
    assert.equal(loadConfig(DEFAULT_CONFIG_PATH).ae_title, 'PETSPOOL');
  } finally {
    if (saved === undefined) delete process.env.PETSPOOL_CONFIG;
    else process.env.PETSPOOL_CONFIG = saved;
  }
});

test('the optional retry backoff is checked like every other key', async () => {
  const doc = await defaultDoc();
  assert.equal(validateConfig({ ...doc, retry: { initial_seconds: 0.5, max_seconds: 60 } }).retry?.max_seconds, 60);
  assert.equal(validateConfig(doc).retry, undefined, 'absent: each stage keeps its own default');
  const problems = problemsOf({ ...doc, retry: { initial_seconds: -1, max_seconds: 'x' } });
  assert.ok(problems.some((p) => p.startsWith('retry.initial_seconds:')), problems.join('\n'));
  assert.ok(problems.some((p) => p.startsWith('retry.max_seconds:')), problems.join('\n'));
});

test('validator.accept_lossy defaults to true when the section is left out, and must be a boolean', async () => {
  const { validator: _shipped, ...withoutSection } = await defaultDoc();
  assert.equal(validateConfig(withoutSection, '/etc/petspool/config.yaml').validator.accept_lossy, true);
  assert.equal(validateConfig({ ...withoutSection, validator: {} }, '/etc/petspool/config.yaml').validator.accept_lossy, true);
  assert.equal(validateConfig({ ...withoutSection, validator: { accept_lossy: false } }, '/etc/petspool/config.yaml').validator.accept_lossy, false);
  assert.deepEqual(problemsOf({ ...withoutSection, validator: { accept_lossy: 'no' } }), ['validator.accept_lossy: must be true or false']);
});

test('dicom.tls, destinations[].tls and remote.ca_file: files made absolute next to the config, wrong combinations named', async () => {
  const doc = await defaultDoc();
  doc.dicom.tls = { port: 2762, cert_file: 'tls/appliance.pem', key_file: 'tls/appliance.key', ca_file: 'tls/ca.pem' };
  doc.destinations[0].tls = { ca_file: 'tls/pacs-ca.pem' };
  doc.remote = { ...doc.remote, url: 'https://processing.example', ca_file: 'tls/service-ca.pem' };
  const c = validateConfig(doc, '/etc/petspool/config.yaml');
  assert.deepEqual(c.dicom.tls, {
    port: 2762, cert_file: '/etc/petspool/tls/appliance.pem', key_file: '/etc/petspool/tls/appliance.key',
    ca_file: '/etc/petspool/tls/ca.pem', require_client_certificate: true,
  });
  assert.equal(c.dicom.plain, undefined, 'absent: the plain port listens too');
  assert.deepEqual(c.destinations[0].tls, { ca_file: '/etc/petspool/tls/pacs-ca.pem' });
  assert.equal(c.remote.ca_file, '/etc/petspool/tls/service-ca.pem');

  const bad = await defaultDoc();
  bad.dicom.plain = false;
  bad.destinations[0].tls = { ca_file: 'ca.pem', cert_file: 'client.pem' };
  bad.remote.ca_file = 'ca.pem';
  assert.deepEqual(problemsOf(bad).sort(), [
    'destinations.0.tls.key_file: cert_file and key_file go together: give both or neither',
    'dicom.plain: false needs dicom.tls, or nothing would listen for DICOM',
    'remote.ca_file: only used with an https:// remote.url',
  ]);
  const noCa = await defaultDoc();
  noCa.dicom.tls = { port: noCa.dicom.port, cert_file: 'a.pem', key_file: 'a.key' };
  assert.deepEqual(problemsOf(noCa).sort(), [
    'dicom.tls.ca_file: needed when require_client_certificate is true: the CA that signs the senders\' certificates',
    'dicom.tls.port: must differ from dicom.port (the plain port)',
  ]);
  noCa.dicom.tls = { port: 2762, cert_file: 'a.pem', key_file: 'a.key', require_client_certificate: false };
  assert.equal(validateConfig(noCa, '/etc/petspool/config.yaml').dicom.tls?.ca_file, undefined);
});

test('api: the old single api.token is refused with the keys that replace it', async () => {
  const doc = await defaultDoc();
  doc.api.token = 'the-old-shared-token';
  const problems = problemsOf(doc);
  assert.equal(problems.length, 1, problems.join('\n'));
  assert.match(problems[0]!, /^api\.token: api\.token is no longer used: .*api\.callback_token .*api\.metrics_token .*api\.submitters .*api\.operators .*docs\/security\.md/);
});

test('api: plain HTTP only on loopback; credentials checked by dotted path', async () => {
  const doc = await defaultDoc();
  doc.api.host = '0.0.0.0';
  doc.api.metrics_token = doc.api.callback_token;
  doc.api.submitters = [{ name: 'ward', token: 'short' }, { name: 'ward', token: 'ward-submitter-token-02' }];
  doc.api.operators.push({ name: 'nopass' });
  const problems = problemsOf(doc);
  const expect = [
    'api.host: 0.0.0.0 is reachable from the network: plain HTTP is allowed only on loopback (127.0.0.1, ::1, localhost). Set api.tls.cert_file and api.tls.key_file',
    'api.submitters.0.token: must be at least 16 characters',
    'api.operators.1: give the operator a password_scrypt (dashboard), a token (CLI), or both',
  ];
  for (const e of expect) assert.ok(problems.some((p) => p.startsWith(e)), `missing "${e}" in:\n${problems.join('\n')}`);

  // Once the shape is right, the cross-checks: shared tokens, names twice, placeholders on the network.
  const shaped = await defaultDoc();
  shaped.api.host = '0.0.0.0';
  shaped.api.tls = { cert_file: 'tls/api.crt', key_file: 'tls/api.key' };
  shaped.api.metrics_token = shaped.api.callback_token;
  shaped.api.submitters = [{ name: 'ward', token: 'ward-submitter-token-01' }, { name: 'ward', token: 'ward-submitter-token-02' }];
  const crossChecked = problemsOf(shaped);
  const expectCross = [
    'api.metrics_token: the same token as api.callback_token: every credential needs its own token',
    'api.callback_token: still the shipped placeholder',
    'api.operators.0.token: still the shipped placeholder',
    'api.submitters.1.name: ward is named twice in api.submitters',
  ];
  for (const e of expectCross) assert.ok(crossChecked.some((p) => p.startsWith(e)), `missing "${e}" in:\n${crossChecked.join('\n')}`);

  const empty = await defaultDoc();
  empty.api.operators = [];
  assert.ok(problemsOf(empty).some((p) => p.startsWith('api.operators: name at least one operator')));
});

test('api: with TLS any address is allowed and the certificate paths become absolute next to the config', async () => {
  const doc = await defaultDoc();
  doc.api.host = '0.0.0.0';
  doc.api.tls = { cert_file: 'tls/api.crt', key_file: '/etc/petspool/api.key' };
  doc.api.callback_token = 'a-real-callback-token-01';
  doc.api.metrics_token = 'a-real-metrics-token-001';
  doc.api.operators = [{ name: 'alice', token: 'a-real-operator-token-1' }];
  const c = validateConfig(doc, '/etc/petspool/config.yaml');
  assert.deepEqual(c.api.tls, { cert_file: '/etc/petspool/tls/api.crt', key_file: '/etc/petspool/api.key' });
  assert.deepEqual(c.api.sessions, { idle_minutes: 30, max_hours: 12 });
});
