/**
 * The sender against DCMTK storescp destinations on loopback. storescp runs with
 * --unique-filenames so that an instance received twice makes two files: counting files and the
 * SOPInstanceUIDs in them shows both that everything arrived and that nothing was sent twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DestinationConfig } from '../../src/config/schema.js';
import { Store } from '../../src/db/store.js';
import { splitPart10 } from '../../src/dicom/file-meta.js';
import { startStoreScp, type StoredInstance } from '../../src/dicom/scp.js';
import { silentLogger } from '../../src/log/logger.js';
import { Runner } from '../../src/runner/runner.js';
import { Spool } from '../../src/spool/spool.js';
import { resultStages } from '../../src/app/results.js';
import { readSeriesManifest, type OutputSeriesFact } from '../../src/spool/output-series.js';
import { ASSOCIATIONS_PER_TASK } from '../../src/delivery/lanes.js';
import { DELIVERY_FILE } from '../../src/delivery/journal.js';
import { DCMTK_ENV, dcmtkTlsArgs, freePort, runDcmtk } from '../fixtures/dcmtk.js';
import { makeTestPki } from '../fixtures/test-pki.js';
import { handedOn } from '../helpers/handed-on.js';
import { makeTask, waitForTask } from '../helpers/results-task.js';
import type { LoadedConfig } from '../../src/config/load.js';

interface Storescp { port: number; dir: string; stop(): Promise<void> }

/** `tls`: storescp's TLS options, and those echoscu needs to see it answer. */
async function startStorescp(dir: string, port?: number, tls?: { args: string[]; echoArgs: string[] }): Promise<Storescp> {
  const listenPort = port ?? await freePort();
  await mkdir(dir, { recursive: true });
  const child: ChildProcess = spawn('storescp', [...tls?.args ?? [], '--unique-filenames', '-od', dir, String(listenPort)], { env: DCMTK_ENV, stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while ((await runDcmtk('echoscu', [...tls?.echoArgs ?? [], '127.0.0.1', String(listenPort)])).code !== 0) {
    if (Date.now() > deadline) throw new Error('storescp did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port: listenPort, dir,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

/** SOPInstanceUID -> how many files storescp wrote for it. */
async function received(dir: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name.startsWith('.')) continue;
    const uid = splitPart10(await readFile(path.join(dir, name))).sopInstanceUid;
    counts.set(uid, (counts.get(uid) ?? 0) + 1);
  }
  return counts;
}

async function harness(t: { after(fn: () => Promise<void> | void): void }, destinations: DestinationConfig[]) {
  const root = await mkdtemp(path.join(os.tmpdir(), 'petspool-sender-'));
  const spool = new Spool(path.join(root, 'spool'));
  await spool.init();
  const store = await Store.open(path.join(root, 'db.json'));
  const config = {
    ae_title: 'PETSPOOL', destinations, qc: { required: false },
    filters: [{ name: 'fwhm4', fwhm_mm: 4 }, { name: 'raw', fwhm_mm: 0 }], output: { series_number_offset: 1000 },
  } as unknown as LoadedConfig;
  const runner = new Runner(spool, silentLogger, { scanIntervalMs: 50 });
  runner.register(resultStages({ config, store, spool }, { filterThreads: 1, sender: { backoff: { initialMs: 200, maxMs: 400 }, timeoutMs: 5000 } }));
  runner.start();
  t.after(async () => {
    await runner.stop();
    await rm(root, { recursive: true, force: true });
  });
  return { root, spool, runner };
}

/** Every SOPInstanceUID of the task's output series. */
async function outputUids(spool: Spool, id: string): Promise<{ uids: string[]; seriesUids: string[] }> {
  const { dir, record } = await spool.locateTask(id);
  const outputs = record.facts.output_series as OutputSeriesFact[];
  const uids: string[] = [];
  for (const o of outputs) uids.push(...(await readSeriesManifest(path.join(dir, 'outputs', o.filter))).instances.map((i) => i.sop_instance_uid));
  return { uids, seriesUids: outputs.map((o) => o.series_instance_uid) };
}

test('every slice of every filter\'s series arrives; outputs are recorded', async (t) => {
  const pacs = await startStorescp(await mkdtemp(path.join(os.tmpdir(), 'petspool-scp-')));
  t.after(async () => { await pacs.stop(); await rm(pacs.dir, { recursive: true, force: true }); });
  const { spool } = await harness(t, [{ name: 'pacs', ae_title: 'PACS', host: '127.0.0.1', port: pacs.port, mirror: false }]);
  const task = await makeTask(spool, { result: 'reference' });
  assert.equal(await waitForTask(spool, task.id, ['sent', 'failed']), 'sent');
  const { uids, seriesUids } = await outputUids(spool, task.id);
  assert.equal(uids.length, 24);
  const got = await received(pacs.dir);
  assert.deepEqual([...got.keys()].sort(), [...uids].sort());
  assert.ok([...got.values()].every((n) => n === 1), 'each instance once');
  const { record } = await spool.locateTaskIn('sent', task.id);
  assert.deepEqual(record.outputs, seriesUids);
  assert.deepEqual(record.facts.delivery, { pacs: { fwhm4: '12/12', raw: '12/12' } });
});

test('a destination down at first gets everything once it is up, and the other is not sent to again', async (t) => {
  const up = await startStorescp(await mkdtemp(path.join(os.tmpdir(), 'petspool-scp-')));
  const laterDir = await mkdtemp(path.join(os.tmpdir(), 'petspool-scp-'));
  const laterPort = await freePort();
  let later: Storescp | undefined;
  t.after(async () => {
    await up.stop();
    await later?.stop();
    await rm(up.dir, { recursive: true, force: true });
    await rm(laterDir, { recursive: true, force: true });
  });
  const { spool } = await harness(t, [
    { name: 'pacs', ae_title: 'PACS', host: '127.0.0.1', port: up.port, mirror: false },
    { name: 'workstation', ae_title: 'WS', host: '127.0.0.1', port: laterPort, mirror: false },
  ]);
  const task = await makeTask(spool, { result: 'reference' });
  assert.equal(await waitForTask(spool, task.id, ['sending']), 'sending');
  // Wait for at least two failed attempts while the workstation is down.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { record, folder } = await spool.locateTask(task.id);
    assert.equal(folder, 'sending');
    if (record.attempts >= 2) {
      assert.match(String(record.facts.last_error), /workstation \(WS@127\.0\.0\.1:\d+\)/);
      assert.deepEqual(record.facts.delivery, { pacs: { fwhm4: '12/12', raw: '12/12' } });
      break;
    }
    assert.ok(Date.now() < deadline, 'no retry recorded');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal((await received(up.dir)).size, 24);

  later = await startStorescp(laterDir, laterPort);
  assert.equal(await waitForTask(spool, task.id, ['sent', 'failed'], 20_000), 'sent');
  const { uids } = await outputUids(spool, task.id);
  for (const dir of [up.dir, laterDir]) {
    const got = await received(dir);
    assert.deepEqual([...got.keys()].sort(), [...uids].sort(), dir);
    assert.ok([...got.values()].every((n) => n === 1), `nothing twice in ${dir}`);
  }
});

test('a DICOM TLS destination gets everything; one whose certificate ca_file does not trust fails visibly, is retried, the other is not sent to again', async (t) => {
  const pki = await makeTestPki();
  const trusted = await startStorescp(await mkdtemp(path.join(os.tmpdir(), 'petspool-scp-')), undefined,
    { args: dcmtkTlsArgs(pki.server, pki.caFile), echoArgs: dcmtkTlsArgs(pki.client, pki.caFile) });
  const untrusted = await startStorescp(await mkdtemp(path.join(os.tmpdir(), 'petspool-scp-')), undefined,
    { args: dcmtkTlsArgs(pki.otherServer, pki.caFile), echoArgs: dcmtkTlsArgs(pki.client, pki.otherCaFile) });
  t.after(async () => {
    for (const scp of [trusted, untrusted]) {
      await scp.stop();
      await rm(scp.dir, { recursive: true, force: true });
    }
    await rm(pki.dir, { recursive: true, force: true });
  });
  const tls = { ca_file: pki.caFile, cert_file: pki.client.certFile, key_file: pki.client.keyFile };
  const { spool } = await harness(t, [
    { name: 'pacs', ae_title: 'PACS', host: '127.0.0.1', port: trusted.port, mirror: false, tls },
    { name: 'archive', ae_title: 'ARCHIVE', host: '127.0.0.1', port: untrusted.port, mirror: false, tls },
  ]);
  const task = await makeTask(spool, { result: 'reference' });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { record, folder } = await spool.locateTask(task.id);
    if (folder === 'sending' && record.attempts >= 2) {
      assert.match(String(record.facts.last_error),
        /archive \(ARCHIVE@127\.0\.0\.1:\d+ over TLS\): TLS: certificate of 127\.0\.0\.1:\d+ not trusted by destinations\[archive\]\.tls\.ca_file /);
      assert.deepEqual(record.facts.delivery, { pacs: { fwhm4: '12/12', raw: '12/12' } });
      break;
    }
    assert.ok(Date.now() < deadline, `no retry recorded (${folder}, ${record.attempts} attempts)`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const { uids } = await outputUids(spool, task.id);
  const got = await received(trusted.dir);
  assert.deepEqual([...got.keys()].sort(), [...uids].sort());
  assert.ok([...got.values()].every((n) => n === 1), 'each instance once, though the task was retried');
  assert.equal((await received(untrusted.dir)).size, 0);
});

test('mirror: true also sends to the AE that sent the original; a hot-folder task has none and says so', async (t) => {
  const scp = await startStorescp(await mkdtemp(path.join(os.tmpdir(), 'petspool-scp-')));
  t.after(async () => { await scp.stop(); await rm(scp.dir, { recursive: true, force: true }); });
  const { spool } = await harness(t, [{ name: 'pacs', ae_title: 'PACS', host: '127.0.0.1', port: scp.port, mirror: true }]);

  const fromModality = await makeTask(spool, { result: 'reference', sender: 'ae:MODALITY' });
  assert.equal(await waitForTask(spool, fromModality.id, ['sent', 'failed']), 'sent');
  const a = (await spool.locateTaskIn('sent', fromModality.id)).record;
  assert.deepEqual(Object.keys(a.facts.delivery as object).sort(), ['pacs', 'pacs/mirror']);
  const { uids } = await outputUids(spool, fromModality.id);
  const got = await received(scp.dir);
  assert.deepEqual([...got.keys()].sort(), [...uids].sort());
  assert.ok([...got.values()].every((n) => n === 2), 'one copy to PACS, one to the mirror AE');

  const fromHotFolder = await makeTask(spool, { result: 'reference', sender: 'hotfolder' });
  assert.equal(await waitForTask(spool, fromHotFolder.id, ['sent', 'failed']), 'sent');
  const b = (await spool.locateTaskIn('sent', fromHotFolder.id)).record;
  assert.deepEqual(Object.keys(b.facts.delivery as object), ['pacs']);
  assert.match(String(b.facts.mirror_skipped), /hot folder/);
});

/**
 * A task of two 40-slice series sent to petspool's own Store SCP (which counts associations, and
 * refuses those over its limit as transient, "local limit exceeded"); resolves once it is sent
 * and the SCP has put every instance in its folder.
 */
async function sendToOwnScp(t: { after(fn: () => Promise<void> | void): void }, maxAssociations: number) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-scp-'));
  const stored: StoredInstance[] = [];
  const scp = await startStoreScp({
    host: '127.0.0.1', port: 0, aeTitle: 'PACS', allowedCallingAeTitles: [], maxAssociations, minFreeMb: 0,
    receivedDir: dir, logger: silentLogger, onStored: (instance) => stored.push(instance),
  });
  t.after(async () => { await scp.close(); await rm(dir, { recursive: true, force: true }); });
  const { spool } = await harness(t, [{ name: 'pacs', ae_title: 'PACS', host: '127.0.0.1', port: scp.port, mirror: false }]);
  const task = await makeTask(spool, { result: 'reference', synth: { slices: 40, size: 64 } });
  assert.equal(await waitForTask(spool, task.id, ['sent', 'failed']), 'sent');
  await handedOn(stored, 80);
  return { scp, dir, spool, task };
}

/**
 * When the destination stored its first instance (ms since the epoch): the SCP starts every
 * stored file's name with its arrival time (arrival-name.ts).
 */
async function firstArrivalMs(dir: string): Promise<number> {
  const names = (await readdir(dir, { recursive: true })).filter((name) => name.endsWith('.dcm'));
  return Math.min(...names.map((name) => Number(path.basename(name).slice(0, 14))));
}

test('a destination that takes one association at a time gets every series in one attempt', async (t) => {
  const { scp, spool, task } = await sendToOwnScp(t, 1);
  const { record } = await spool.locateTaskIn('sent', task.id);
  assert.ok(scp.stats().associationsRejected >= 1, 'the second series\' association was refused');
  assert.equal(record.facts.last_error, undefined, 'no attempt failed');
  assert.equal(scp.stats().stored, 80);
  assert.deepEqual(record.facts.delivery, { pacs: { fwhm4: '40/40', raw: '40/40' } });
});

test('the first series goes out while the second is made, each split over the task\'s associations, every instance once', async (t) => {
  const { scp, dir, spool, task } = await sendToOwnScp(t, 8);
  // The folder says it: the first instances arrive while the task is in unpacking_sending/, not downloaded/.
  const { record: sent } = await spool.locateTaskIn('sent', task.id);
  const entered = (state: string) => Date.parse(sent.history.find((h) => h.state === state)!.at);
  const first = await firstArrivalMs(dir);
  assert.ok(first >= entered('unpacking_sending') && first < entered('unpacked'),
    `first instance stored at ${new Date(first).toISOString()}, in unpacking_sending/ from ${new Date(entered('unpacking_sending')).toISOString()} to ${new Date(entered('unpacked')).toISOString()}`);
  // Each series alone is split over ASSOCIATIONS_PER_TASK associations: the unpacker's early delivery, then the sender's.
  assert.equal(scp.stats().associationsAccepted, 2 * ASSOCIATIONS_PER_TASK);
  assert.equal(scp.stats().stored, 80);
  const { uids, seriesUids } = await outputUids(spool, task.id);
  const stored = (await readdir(dir, { recursive: true })).filter((name) => name.endsWith('.dcm'));
  assert.equal(new Set(uids).size, 80);
  assert.equal(stored.length, 80, 'each instance once');
  const { dir: taskDir, record } = await spool.locateTaskIn('sent', task.id);
  assert.deepEqual(record.facts.delivery, { pacs: { fwhm4: '40/40', raw: '40/40' } });
  assert.deepEqual(record.history.map((h) => h.state), ['downloaded', 'unpacking_sending', 'unpacked', 'sending', 'done']);
  // The journal shows the order: every instance of the first series before any of the second.
  const journalSeries = (await readFile(path.join(taskDir, DELIVERY_FILE), 'utf8')).trim().split('\n').map((line) => line.split('\t')[1]);
  assert.equal(journalSeries.length, 80);
  assert.deepEqual([...new Set(journalSeries)], seriesUids, 'first series, then second');
  assert.ok(journalSeries.slice(0, 40).every((uid) => uid === seriesUids[0]));
});

test('a retry sends only what the journal lacks; a torn last line is not continued', async (t) => {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-scp-'));
  let pacs: Storescp | undefined;
  t.after(async () => { await pacs?.stop(); await rm(dir, { recursive: true, force: true }); });
  const { spool, runner } = await harness(t, [{ name: 'pacs', ae_title: 'PACS', host: '127.0.0.1', port, mirror: false }]);
  const task = await makeTask(spool, { result: 'reference' });
  // The destination is down: the task waits in sending/ with nothing journalled.
  for (const deadline = Date.now() + 15_000; (await spool.locateTask(task.id)).record.attempts < 1;) {
    assert.ok(Date.now() < deadline, 'no failed attempt recorded');
    await new Promise((r) => setTimeout(r, 50));
  }
  await runner.stop();
  const { dir: taskDir, record } = await spool.locateTaskIn('sending', task.id);
  const [fwhm4, raw] = await Promise.all((record.facts.output_series as OutputSeriesFact[]).map(async (o) =>
    ({ uid: o.series_instance_uid, sops: (await readSeriesManifest(path.join(taskDir, 'outputs', o.filter))).instances.map((i) => i.sop_instance_uid) })));
  // As if an earlier run was killed: fwhm4 accepted, raw's first 5 accepted, the 6th's line torn mid-write.
  const lines = [...fwhm4.sops.map((sop) => `pacs\t${fwhm4.uid}\t${sop}\n`), ...raw.sops.slice(0, 5).map((sop) => `pacs\t${raw.uid}\t${sop}\n`)];
  await appendFile(path.join(taskDir, DELIVERY_FILE), `${lines.join('')}pacs\t${raw.uid}\t${raw.sops[5].slice(0, 10)}`);

  pacs = await startStorescp(dir, port);
  runner.start();
  assert.equal(await waitForTask(spool, task.id, ['sent', 'failed']), 'sent');
  const got = await received(dir);
  assert.deepEqual([...got.keys()].sort(), raw.sops.slice(5).sort(), 'only what the journal lacked');
  assert.ok([...got.values()].every((n) => n === 1));
  const journal = (await readFile(path.join((await spool.locateTaskIn('sent', task.id)).dir, DELIVERY_FILE), 'utf8')).split('\n');
  assert.equal(journal.at(-1), '', 'ends with a whole line');
  assert.equal(journal.filter((l) => l.split('\t').length !== 3).length, 1, 'only the blank end is not a 3-field line');
  assert.ok(journal.includes(`pacs\t${raw.uid}\t${raw.sops[5].slice(0, 10)}`), 'the torn line stands alone');
  const journalled = new Set(journal.map((l) => l.split('\t')[2]));
  for (const sop of [...fwhm4.sops, ...raw.sops]) assert.ok(journalled.has(sop), `${sop} journalled`);
});
