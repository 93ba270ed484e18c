/**
 * The results leg end to end, with qc.required true: a downloaded task whose result/ holds the
 * reference service's real processing of the upload goes through unpacker → QC gate, waits in
 * awaiting_qc until `petspool qc approve` (the real CLI), then the sender delivers both filters'
 * series to a DCMTK storescp and the task lands in sent/ with its outputs shown by `tasks show`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { Store } from '../../src/db/store.js';
import { silentLogger } from '../../src/log/logger.js';
import { Runner } from '../../src/runner/runner.js';
import { Spool } from '../../src/spool/spool.js';
import { resultStages } from '../../src/app/results.js';
import { startStorescp } from '../fixtures/dcmtk.js';
import { runCli, tempConfig } from '../helpers/cli.js';
import { makeTask, waitForTask } from '../helpers/results-task.js';

test('downloaded → unpacked → awaiting_qc until qc approve → sending → sent, every slice delivered', async (t) => {
  const received = await mkdtemp(path.join(os.tmpdir(), 'petspool-e2e-scp-'));
  const pacs = await startStorescp(received);
  const { dir, file } = await tempConfig({
    qc: { required: true },
    destinations: [{ name: 'pacs', ae_title: 'PACS', host: '127.0.0.1', port: pacs.port, mirror: false }],
    filters: [{ name: 'fwhm4', fwhm_mm: 4 }, { name: 'raw', fwhm_mm: 0 }],
  });
  const config = loadConfig(file);
  const spool = new Spool(config.spool_dir);
  await spool.init();
  const store = await Store.open(config.database);
  const runner = new Runner(spool, silentLogger, { scanIntervalMs: 100 });
  runner.register(resultStages({ config, store, spool }, { sender: { backoff: { initialMs: 200, maxMs: 400 } } }));
  runner.start();
  t.after(async () => {
    await runner.stop();
    await pacs.stop();
    await rm(received, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  });

  const task = await makeTask(spool, { result: 'reference', synth: { slices: 16, size: 32 } });
  runner.nudge();
  assert.equal(await waitForTask(spool, task.id, ['awaiting_qc', 'sending', 'sent', 'failed']), 'awaiting_qc');
  // Held: nothing moves on by itself.
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(await spool.hasTask('awaiting_qc', task.id));
  assert.deepEqual(await readdir(received), []);

  const listed = await runCli(['qc', 'list', '--json', '--config', file]);
  assert.equal(listed.code, 0, listed.stderr);
  const held = JSON.parse(listed.stdout) as { id: string; output_series: { filter: string }[] }[];
  assert.deepEqual(held.map((h) => h.id), [task.id]);
  assert.deepEqual(held[0]!.output_series.map((o) => o.filter), ['fwhm4', 'raw']);

  const approved = await runCli(['qc', 'approve', task.id, '--config', file]);
  assert.equal(approved.code, 0, approved.stderr);
  assert.match(approved.stdout, /approved: sending/);
  assert.equal(await waitForTask(spool, task.id, ['sent', 'failed']), 'sent');
  assert.equal((await readdir(received)).length, 32, 'two series of 16 slices');

  const shown = await runCli(['tasks', 'show', task.id, '--json', '--config', file]);
  assert.equal(shown.code, 0, shown.stderr);
  const detail = JSON.parse(shown.stdout) as { record: { state: string; outputs: string[]; history: { state: string }[] } };
  assert.equal(detail.record.state, 'done');
  assert.equal(detail.record.outputs.length, 2);
  assert.deepEqual(detail.record.history.map((h) => h.state), ['downloaded', 'unpacked', 'awaiting_qc', 'sending', 'done']);
  const text = await runCli(['tasks', 'show', task.id, '--config', file]);
  assert.match(text.stdout, new RegExp(`outputs  ${detail.record.outputs.join(', ').replace(/\./g, '\\.')}`));
});
