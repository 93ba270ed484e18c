import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli, tempConfig } from '../helpers/cli.js';
import { startApplianceProcess } from '../helpers/appliance-process.js';
import { freePort } from '../fixtures/dcmtk.js';
import { loadConfig } from '../../src/config/load.js';
import { Spool } from '../../src/spool/spool.js';
import { Store } from '../../src/db/store.js';
import { newTaskRecord, newTaskId } from '../../src/spool/task-record.js';
import type { TaskFolder } from '../../src/spool/layout.js';

const DAY_MS = 86_400_000;

/** Set the mtime of a folder and everything in it to `daysAgo`. */
async function age(target: string, daysAgo: number): Promise<void> {
  const when = new Date(Date.now() - daysAgo * DAY_MS);
  const s = await stat(target);
  if (s.isDirectory()) for (const name of await readdir(target)) await age(path.join(target, name), daysAgo);
  await utimes(target, when, when);
}

interface Fixture {
  file: string;
  spool: Spool;
  database: string;
  /** folder → task id */
  tasks: Record<string, string>;
}

/**
 * A spool with one task in each of sent/failed/aborted aged 10 days, one in sent/ aged 2 days,
 * live tasks (compiled/, collecting/) aged 30 days, an ignored series aged 10 days and one aged 1
 * day, and old files in incoming/ and received/. Every task has its database row.
 */
async function buildSpool(changes: Record<string, unknown> = {}): Promise<Fixture> {
  const { file } = await tempConfig(changes);
  const config = loadConfig(file);
  const spool = new Spool(config.spool_dir);
  await spool.init();
  const store = await Store.open(config.database);
  const tasks: Record<string, string> = {};
  const make = async (label: string, folder: TaskFolder, days: number) => {
    const id = newTaskId(new Date(Date.now() - days * DAY_MS));
    const record = newTaskRecord({ id, sender: 'ae:TEST', series_instance_uid: `1.2.3.${label.length}`, study_instance_uid: '1.2.3' });
    const dir = await spool.createTask(folder, record, async (d) => {
      await mkdir(path.join(d, 'instances'));
      await writeFile(path.join(d, 'instances', 'IM1.dcm'), Buffer.alloc(100_000, 1));
    });
    store.recordTask((await spool.locateTaskIn(folder, id)).record);
    await age(dir, days);
    tasks[label] = id;
  };
  await make('old-sent', 'sent', 10);
  await make('old-failed', 'failed', 10);
  await make('old-aborted', 'aborted', 10);
  await make('recent-sent', 'sent', 2);
  await make('live-compiled', 'compiled', 30);
  await make('live-collecting', 'collecting', 30);
  await store.close();
  for (const [uid, days] of [['1.2.840.99.1', 10], ['1.2.840.99.2', 1]] as const) {
    const dir = path.join(spool.layout.folder('ignored'), uid);
    await mkdir(dir);
    await writeFile(path.join(dir, 'CT1.dcm'), Buffer.alloc(50_000, 2));
    await age(dir, days);
  }
  await writeFile(path.join(spool.layout.folder('incoming'), 'dropped.dcm'), 'x');
  await mkdir(path.join(spool.layout.folder('received'), 'SCANNER'));
  await writeFile(path.join(spool.layout.folder('received'), 'SCANNER', 'arrived.dcm'), 'x');
  await age(spool.layout.folder('incoming'), 20);
  await age(spool.layout.folder('received'), 20);
  return { file, spool, database: config.database, tasks };
}

async function taskRows(database: string): Promise<string[]> {
  return Object.keys((JSON.parse(await readFile(database, 'utf8')) as { tasks: Record<string, unknown> }).tasks).sort();
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

interface CleanupJson {
  dry_run: boolean;
  removed: { kind: string; folder: string; name: string; bytes: number }[];
  bytes_freed: number;
  database?: { via: string; pruned: number };
}

test('cleanup: --dry-run lists, the real run removes only old finished tasks and old ignored series, frees bytes, prunes rows', async (t) => {
  const fx = await buildSpool();
  t.after(() => rm(path.dirname(fx.file), { recursive: true, force: true }));
  const allRows = await taskRows(fx.database);
  assert.equal(allRows.length, 6);

  const dry = await runCli(['cleanup', '--older-than', '7d', '--dry-run', '--json', '--config', fx.file]);
  assert.equal(dry.code, 0, dry.stderr);
  const planned = JSON.parse(dry.stdout) as CleanupJson;
  assert.equal(planned.dry_run, true);
  assert.deepEqual(planned.removed.map((e) => `${e.folder}/${e.name}`).sort(), [
    `aborted/${fx.tasks['old-aborted']}`, `failed/${fx.tasks['old-failed']}`, 'ignored/1.2.840.99.1', `sent/${fx.tasks['old-sent']}`,
  ].sort());
  assert.ok(await exists(fx.spool.layout.taskDir('sent', fx.tasks['old-sent']!)), 'dry run removes nothing');
  assert.deepEqual(await taskRows(fx.database), allRows);

  const run = await runCli(['cleanup', '--older-than', '7d', '--config', fx.file]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /removed 3 finished tasks and 1 ignored series older than 7 d from .*, freed 0\.4 MB/);
  assert.match(run.stdout, /database: 3 task rows pruned \(directly\)/);

  for (const label of ['old-sent', 'old-failed', 'old-aborted']) {
    const folder = label.slice(4) as TaskFolder;
    assert.equal(await exists(fx.spool.layout.taskDir(folder, fx.tasks[label]!)), false, `${label} removed`);
  }
  assert.ok(await exists(fx.spool.layout.taskDir('sent', fx.tasks['recent-sent']!)), 'recent finished task kept');
  assert.ok(await exists(fx.spool.layout.taskDir('compiled', fx.tasks['live-compiled']!)), 'live task kept however old');
  assert.ok(await exists(fx.spool.layout.taskDir('collecting', fx.tasks['live-collecting']!)), 'collecting task kept');
  assert.deepEqual(await readdir(fx.spool.layout.folder('ignored')), ['1.2.840.99.2']);
  assert.deepEqual(await readdir(fx.spool.layout.folder('incoming')), ['dropped.dcm']);
  assert.deepEqual(await readdir(path.join(fx.spool.layout.folder('received'), 'SCANNER')), ['arrived.dcm']);
  assert.deepEqual(await readdir(fx.spool.layout.folder('sent')), [fx.tasks['recent-sent']], 'no claimed .tmp- folder left');
  assert.deepEqual(await taskRows(fx.database),
    [fx.tasks['recent-sent'], fx.tasks['live-compiled'], fx.tasks['live-collecting']].sort());

  const again = await runCli(['cleanup', '--older-than', '7d', '--json', '--config', fx.file]);
  const second = JSON.parse(again.stdout) as CleanupJson;
  assert.deepEqual([second.removed.length, second.bytes_freed, second.database?.via], [0, 0, 'none']);

  const hours = JSON.parse((await runCli(['cleanup', '--older-than', '36h', '--json', '--config', fx.file])).stdout) as CleanupJson;
  assert.deepEqual(hours.removed.map((e) => e.name), [fx.tasks['recent-sent']], '36h reaches the 2-day-old task, not the 1-day-old series');

  const bad = await runCli(['cleanup', '--older-than', '7 weeks', '--config', fx.file]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /"7 weeks" is not an age: write a number and a unit s, m, h or d/);
});

test('cleanup while the appliance runs: folders removed by the CLI, rows pruned by the appliance through its API', async (t) => {
  const fx = await buildSpool({ dicom: { host: '127.0.0.1', port: await freePort(), min_free_mb: 1 }, api: { port: await freePort() } });
  const appliance = await startApplianceProcess(fx.file);
  t.after(async () => {
    await appliance.stop();
    await rm(path.dirname(fx.file), { recursive: true, force: true });
  });
  const run = await runCli(['cleanup', '--older-than', '7d', '--json', '--config', fx.file]);
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout) as CleanupJson;
  assert.equal(result.removed.length, 4);
  assert.deepEqual(result.database, { via: 'api', pruned: 3 });
  // The appliance flushed the database after pruning; the live task rows are still there.
  const rows = await taskRows(fx.database);
  for (const label of ['old-sent', 'old-failed', 'old-aborted']) assert.ok(!rows.includes(fx.tasks[label]!), `${label} row pruned`);
  assert.ok(rows.includes(fx.tasks['live-compiled']!));
  assert.equal(await appliance.stop(), 0, appliance.log());
});
