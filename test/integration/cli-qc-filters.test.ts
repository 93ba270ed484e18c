/**
 * `petspool qc` and `petspool filters` through the real bin/petspool: directly on the spool and
 * database (appliance stopped), and through the HTTP API when something holds the spool lock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { startApiServer } from '../../src/api/server.js';
import { loadConfig } from '../../src/config/load.js';
import { Store } from '../../src/db/store.js';
import { silentLogger } from '../../src/log/logger.js';
import { Runner } from '../../src/runner/runner.js';
import { acquireSpoolLock } from '../../src/spool/lock.js';
import { Spool } from '../../src/spool/spool.js';
import { resultRoutes } from '../../src/app/results.js';
import { freePort } from '../fixtures/dcmtk.js';
import { runCli, tempConfig } from '../helpers/cli.js';
import { makeTask } from '../helpers/results-task.js';
import { accessFor } from '../helpers/api-access.js';
import { AuditLog, readAuditLog } from '../../src/audit/audit-log.js';

/** The audit log's entries as [who, action, task] (time and address checked where they matter). */
async function auditTrail(spoolDir: string): Promise<[string, string, string | undefined][]> {
  return (await readAuditLog(AuditLog.inSpool(spoolDir).file)).map((e) => [e.who, e.action, e.task]);
}

interface ListedFilter { name: string; fwhm_mm: number; blend?: number; scanner_models?: string[]; radiopharmaceuticals?: string[]; source: string }

async function filterList(file: string): Promise<ListedFilter[]> {
  const r = await runCli(['filters', 'list', '--json', '--config', file]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as ListedFilter[];
}

test('filters list|add|remove: operator edits are stored and win over config.yaml', async (t) => {
  const { dir, file } = await tempConfig({ filters: [{ name: 'fwhm4', fwhm_mm: 4 }, { name: 'raw', fwhm_mm: 0 }] });
  t.after(() => rm(dir, { recursive: true, force: true }));
  assert.deepEqual((await filterList(file)).map((f) => [f.name, f.source]), [['fwhm4', 'config'], ['raw', 'config']]);

  const added = await runCli(['filters', 'add', '--name', 'soft', '--fwhm', '6', '--blend', '0.3', '--scanner-model', 'Biograph Vision 600',
    '--radiopharmaceutical', 'FDG', '--radiopharmaceutical', 'PSMA-11', '--series-description', '{original} soft', '--config', file]);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /added filter soft/);
  const replaced = await runCli(['filters', 'add', '--name', 'fwhm4', '--fwhm', '5', '--config', file]);
  assert.match(replaced.stdout, /replaced filter fwhm4/);
  assert.deepEqual(await filterList(file), [
    { name: 'raw', fwhm_mm: 0, source: 'config' },
    { name: 'soft', fwhm_mm: 6, blend: 0.3, series_description: '{original} soft', scanner_models: ['Biograph Vision 600'],
      radiopharmaceuticals: ['FDG', 'PSMA-11'], source: 'operator' },
    { name: 'fwhm4', fwhm_mm: 5, source: 'operator' },
  ]);

  assert.equal((await runCli(['filters', 'remove', 'fwhm4', '--config', file])).code, 0);
  assert.deepEqual((await filterList(file)).map((f) => f.name), ['raw', 'soft'], 'removing fwhm4 removed config.yaml\'s fwhm4 too');
  const table = await runCli(['filters', 'list', '--config', file]);
  assert.match(table.stdout, /soft\s+6\s+0\.3\s+\{original\} soft\s+Biograph Vision 600\s+FDG, PSMA-11\s+operator/);

  const unknown = await runCli(['filters', 'remove', 'nope', '--config', file]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no filter named nope/);
  const invalid = await runCli(['filters', 'add', '--name', 'bad name', '--fwhm', '-2', '--blend', '3', '--config', file]);
  assert.equal(invalid.code, 2);
  assert.match(invalid.stderr, /name: must be 1-32 letters/);
  assert.match(invalid.stderr, /fwhm_mm: must be a number >= 0/);
  assert.match(invalid.stderr, /blend: must be a number 0-1/);
});

test('qc list|approve|reject|required on the spool folders', async (t) => {
  const { dir, file } = await tempConfig();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const spool = new Spool(loadConfig(file).spool_dir);
  await spool.init();
  assert.match((await runCli(['qc', 'list', '--config', file])).stdout, /no task is waiting/);
  const a = await makeTask(spool, { result: 'none', folder: 'awaiting_qc', facts: { output_series: [{ filter: 'fwhm4', series_instance_uid: '1.2.3', files: 12 }] } });
  const b = await makeTask(spool, { result: 'none', folder: 'awaiting_qc' });

  const listed = JSON.parse((await runCli(['qc', 'list', '--json', '--config', file])).stdout) as { id: string; output_series: unknown }[];
  assert.deepEqual(listed.map((h) => h.id).sort(), [a.id, b.id].sort());

  const noReason = await runCli(['qc', 'reject', b.id, '--config', file]);
  assert.equal(noReason.code, 2, 'a rejection needs --reason');
  const rejected = await runCli(['qc', 'reject', b.id, '--reason', 'motion artefact', '--config', file]);
  assert.equal(rejected.code, 0, rejected.stderr);
  const failed = await spool.locateTaskIn('failed', b.id);
  assert.equal(failed.record.reason, 'rejected in quality control: motion artefact');
  assert.equal(failed.record.failed_from, 'awaiting_qc');
  assert.equal(failed.record.history.at(-1)?.by, 'admin', 'the history names the operator the CLI acts as');
  assert.equal((await runCli(['tasks', 'retry', b.id, '--config', file])).code, 0);
  assert.ok(await spool.hasTask('awaiting_qc', b.id), 'retry of a rejected task puts it back on hold');

  const approved = await runCli(['qc', 'approve', a.id, '--config', file]);
  assert.equal(approved.code, 0, approved.stderr);
  assert.ok(await spool.hasTask('sending', a.id));
  const again = await runCli(['qc', 'approve', a.id, '--config', file]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /is sending, not awaiting_qc/);
  const sending = await spool.locateTaskIn('sending', a.id);
  assert.deepEqual([sending.record.history.at(-1)?.detail, sending.record.history.at(-1)?.by], ['approved by admin', 'admin']);
  assert.deepEqual(await auditTrail(spool.root), [
    ['admin', 'qc.reject', b.id], ['admin', 'task.retry', b.id], ['admin', 'qc.approve', a.id],
  ], 'every change made directly is audited, a refused one is not');
  const unknownOperator = await runCli(['qc', 'approve', a.id, '--operator', 'mallory', '--config', file]);
  assert.equal(unknownOperator.code, 2);
  assert.match(unknownOperator.stderr, /no operator mallory in api\.operators/);

  assert.match((await runCli(['qc', 'required', 'on', '--config', file])).stdout, /is required \(operator setting\)/);
  assert.match((await runCli(['qc', 'required', 'config', '--config', file])).stdout, /not required \(config\.yaml\)/);
});

test('while the spool is held, qc approve and filters add go through the HTTP API', async (t) => {
  const startedAt = Date.now();
  const port = await freePort();
  const { dir, file } = await tempConfig({ api: { host: '127.0.0.1', port, operators: [
    { name: 'alice', token: 'alice-operator-token' }, { name: 'bob', token: 'bob-operator-token-0' }] } });
  const config = loadConfig(file);
  const spool = new Spool(config.spool_dir);
  await spool.init();
  const release = await acquireSpoolLock(spool.root, () => undefined);
  const store = await Store.open(config.database);
  const runner = new Runner(spool, silentLogger);
  const api = await startApiServer({ host: '127.0.0.1', port, access: accessFor(config), audit: AuditLog.inSpool(config.spool_dir), log: silentLogger,
    routes: resultRoutes({ config, store, spool, runner }) });
  t.after(async () => {
    await api.close();
    await release();
    await rm(dir, { recursive: true, force: true });
  });

  const task = await makeTask(spool, { result: 'none', folder: 'awaiting_qc' });
  const ambiguous = await runCli(['qc', 'approve', task.id, '--config', file]);
  assert.equal(ambiguous.code, 2);
  assert.match(ambiguous.stderr, /several operators in api\.operators .*\(alice, bob\): say which one you are with --operator NAME/);
  const approved = await runCli(['qc', 'approve', task.id, '--operator', 'bob', '--config', file]);
  assert.equal(approved.code, 0, approved.stderr);
  const sending = await spool.locateTaskIn('sending', task.id);
  assert.equal(sending.record.history.at(-1)?.by, 'bob');
  assert.match((await runCli(['qc', 'reject', task.id, '--reason', 'late', '--config', file], { env: { PETSPOOL_OPERATOR: 'alice' } })).stderr,
    /is sending, not awaiting_qc/);

  const added = await runCli(['filters', 'add', '--name', 'api-made', '--fwhm', '3', '--operator', 'alice', '--config', file]);
  assert.equal(added.code, 0, added.stderr);
  assert.deepEqual(store.data.filters.added, [{ name: 'api-made', fwhm_mm: 3 }], 'the appliance made the change');
  assert.ok((await filterList(file)).some((f) => f.name === 'api-made' && f.source === 'operator'), 'flushed: readable from the file');
  assert.match((await runCli(['qc', 'required', 'on', '--operator', 'alice', '--config', file])).stdout, /is required \(operator setting\)/);
  assert.equal(store.data.qc_required, true);
  assert.deepEqual(await auditTrail(spool.root), [
    ['bob', 'qc.approve', task.id], ['alice', 'settings.filters.add', undefined], ['alice', 'settings.qc_required', undefined],
  ], 'the API audits what the CLI asked, under the operator\'s name');
  const [approval] = await readAuditLog(AuditLog.inSpool(spool.root).file);
  assert.equal(approval?.role, 'operator');
  assert.equal(approval?.client, '127.0.0.1');
  assert.ok(Date.parse(approval!.at) >= startedAt - 1000, 'stamped with the time of the action');
});
