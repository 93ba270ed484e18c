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
  dicom: Section; api: Section; compilator: Section; remote: Section; share: Section;
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
