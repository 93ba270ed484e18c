import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { loadConfig } from '../../src/config/load.js';
import { Spool } from '../../src/spool/spool.js';
import { isSpoolLocked } from '../../src/spool/lock.js';
import { SEED_RADIOPHARMACEUTICALS } from '../../src/rules/radiopharmaceuticals.js';
import { startReferenceService } from '../../src/reference-service/reference-service.js';
import { runCli, tempConfig } from '../helpers/cli.js';
import { placeCompiledTask } from '../helpers/compiled-task.js';
import { startApplianceProcess } from '../helpers/appliance-process.js';
import { freePort } from '../fixtures/dcmtk.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Listed { id: string; name: string; nuclide: string; halfLifeSeconds: number; added: boolean; synonyms: string[] }

test('list, a refused entry with every problem, an added entry listed and matched by the running validator', async () => {
  const service = await startReferenceService({ port: 0, token: 'remote-secret', outboxDir: '/nonexistent', inboxDir: '/nonexistent',
    licences: { active: true } });
  cleanups.push(() => service.close());
  const { file, dir } = await tempConfig({
    dicom: { host: '127.0.0.1', port: await freePort() }, api: { port: await freePort() },
    remote: { url: service.url, token: 'remote-secret' },
  });
  cleanups.push(() => rm(dir, { recursive: true, force: true }));

  const seed = await runCli(['radiopharmaceuticals', 'list', '--json', '--config', file]);
  assert.equal(seed.code, 0, seed.stderr);
  const seedList = JSON.parse(seed.stdout) as Listed[];
  assert.equal(seedList.length, SEED_RADIOPHARMACEUTICALS.length);
  assert.ok(seedList.every((e) => !e.added));
  assert.deepEqual(seedList.find((e) => e.id === 'fdg'), { ...seedList.find((e) => e.id === 'fdg'), nuclide: 'F-18', halfLifeSeconds: 6586.2 });

  const bad = await runCli(['radiopharmaceuticals', 'add', '--id', 'bad id!', '--name', 'FDG', '--nuclide', 'F-18',
    '--half-life', '100', '--code', 'SCT:35321007', '--config', file]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /radiopharmaceutical bad id! refused:/);
  for (const problem of [/- id must be 1-64 letters, digits, \., _ or -/, /- half-life 100 s does not fit F-18 \(6586\.2 s\)/,
    /- "FDG" already names FDG/, /- code SCT 35321007 already belongs to FDG/]) {
    assert.match(bad.stderr, problem);
  }
  const badCode = await runCli(['radiopharmaceuticals', 'add', '--id', 'x', '--name', 'X', '--nuclide', 'F-18', '--half-life', '6586',
    '--code', 'nocolon', '--config', file]);
  assert.equal(badCode.code, 2);
  assert.match(badCode.stderr, /--code nocolon: write it as SCHEME:VALUE/);

  const add = await runCli(['radiopharmaceuticals', 'add', '--id', 'f18-pentixafor', '--name', 'Fluoro-pentixafor',
    '--synonym', 'Pentixafor F^18^', '--synonym', '18F-pentixafor', '--nuclide', '18F', '--half-life', '6586.2', '--config', file]);
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /added f18-pentixafor: Fluoro-pentixafor \(F-18, 6586\.2 s\)/);
  assert.equal(await isSpoolLocked(loadConfig(file).spool_dir), false, 'the direct path let go of the spool');

  const text = await runCli(['radiopharmaceuticals', 'list', '--config', file]);
  assert.match(text.stdout, /^ID\s+NAME\s+NUCLIDE\s+HALF-LIFE \(s\)\s+CODES\s+SOURCE/);
  assert.match(text.stdout, /f18-pentixafor\s+Fluoro-pentixafor\s+F-18\s+6586\.2\s+added/);
  assert.match(text.stdout, /fdg\s+FDG\s+F-18\s+6586\.2\s+SRT:C-B1031 SCT:35321007\s+built-in/);
  assert.match(text.stdout, new RegExp(`${SEED_RADIOPHARMACEUTICALS.length + 1} radiopharmaceuticals \\(1 added by operators\\)`));

  // The running appliance's validator matches a series of the added tracer.
  const spool = new Spool(loadConfig(file).spool_dir);
  await spool.init();
  const id = await placeCompiledTask(spool, { tracerName: '[18F]Pentixafor' });
  const appliance = await startApplianceProcess(file);
  cleanups.push(() => appliance.stop());
  const deadline = Date.now() + 20_000;
  let record = (await spool.locateTask(id)).record;
  while (!record.history.some((h) => h.state === 'validated' || h.state === 'failed')) {
    assert.ok(Date.now() < deadline, 'task not validated');
    await new Promise((r) => setTimeout(r, 50));
    record = (await spool.locateTask(id)).record;
  }
  assert.equal(record.history.find((h) => h.state === 'failed'), undefined, record.reason ?? '');
  assert.equal(record.facts.radiopharmaceutical, 'f18-pentixafor');

  // While it runs, add goes through its API, and the list (read from the database file) shows it at once.
  const viaApi = await runCli(['radiopharmaceuticals', 'add', '--id', 'ga68-pentixafor', '--name', 'Pentixafor',
    '--code', 'LOCAL:PTX-GA', '--nuclide', 'Ga-68', '--half-life', '4062.6', '--config', file]);
  assert.equal(viaApi.code, 0, viaApi.stderr);
  const refusedViaApi = await runCli(['radiopharmaceuticals', 'add', '--id', 'again', '--name', 'Pentixafor', '--nuclide', 'Ga-68',
    '--half-life', '4062.6', '--config', file]);
  assert.equal(refusedViaApi.code, 1);
  assert.match(refusedViaApi.stderr, /refused:\n\s+- "Pentixafor" already names Pentixafor/);
  const listed = JSON.parse((await runCli(['radiopharmaceuticals', 'list', '--json', '--config', file])).stdout) as Listed[];
  assert.deepEqual(listed.filter((e) => e.added).map((e) => e.id), ['f18-pentixafor', 'ga68-pentixafor']);
  assert.equal(await appliance.stop(), 0);
});
