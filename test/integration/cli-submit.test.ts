import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { freePort, startStorescp, type RunningStorescp } from '../fixtures/dcmtk.js';
import { startApplianceProcess, type ApplianceProcess } from '../helpers/appliance-process.js';
import { runCli, tempConfig } from '../helpers/cli.js';
import { TEST_METRICS_TOKEN, TEST_SUBMITTER, testApiCredentials } from '../helpers/appliance.js';

/** One appliance (the real binary) delivering to DCMTK storescp, shared by the tests below. */
let scp: RunningStorescp;
let appliance: ApplianceProcess;
let configFile: string;
let apiUrl: string;
let token: string;
const temp: string[] = [];

before(async () => {
  const scpDir = await mkdtemp(path.join(os.tmpdir(), 'petspool-submit-scp-'));
  temp.push(scpDir);
  scp = await startStorescp(scpDir);
  const { dir, file } = await tempConfig({
    dicom: { host: '127.0.0.1', port: await freePort(), min_free_mb: 1 }, api: { port: await freePort(), ...(await testApiCredentials()) },
    compilator: { quiet_seconds: 1, min_images: 30 },
    destinations: [{ name: 'pacs', ae_title: 'STORESCP', host: '127.0.0.1', port: scp.port }],
  });
  temp.push(dir);
  configFile = file;
  const config = loadConfig(file);
  apiUrl = `http://127.0.0.1:${config.api.port}`;
  token = TEST_SUBMITTER.token;
  appliance = await startApplianceProcess(file);
});

after(async () => {
  await appliance?.stop();
  await scp?.stop();
  for (const d of temp) await rm(d, { recursive: true, force: true });
});

async function seriesDir(extra: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-submit-in-'));
  temp.push(dir);
  await synthesizePetSeries(path.join(dir, 'PET'), { slices: 32, size: 32 });
  for (const [name, text] of Object.entries(extra)) await writeFile(path.join(dir, name), text);
  return dir;
}

test('submit --wait --out to the local appliance: problems, tasks, progress, delivered series, exit 0', async () => {
  const dir = await seriesDir({ 'junk.txt': 'not an image' });
  const out = path.join(dir, '..', `${path.basename(dir)}-out`);
  temp.push(out);
  const r = await runCli(['submit', dir, '--wait', '--out', out, '--timeout', '50', '--config', configFile]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /sent 32 DICOM files \(upload [0-9a-f]{16}\)/);
  assert.match(r.stdout, /problem: 1 file is not DICOM: junk\.txt/);
  const taskId = /^1 task:\n {2}(\S+)/m.exec(r.stdout)?.[1];
  assert.ok(taskId, r.stdout);
  // Not a terminal: one plain progress line per state change, ending with done.
  assert.match(r.stdout, new RegExp(`${taskId} \\[#{20}\\] done`));
  assert.match(r.stdout, /1 task done/);
  assert.deepEqual(await readdir(out), [taskId]);
  assert.deepEqual(await readdir(path.join(out, taskId!)), ['fwhm4']);
  assert.equal((await readdir(path.join(out, taskId!, 'fwhm4'))).filter((f) => f.endsWith('.dcm')).length, 32);

  const listed = await runCli(['tasks', 'list', '--json', '--config', configFile]);
  const task = (JSON.parse(listed.stdout) as { id: string; state: string }[]).find((x) => x.id === taskId);
  assert.equal(task?.state, 'done');
});

test('submit --url --json to a remote appliance (no wait): the tasks it made, exit 0', async () => {
  const dir = await seriesDir();
  const r = await runCli(['submit', dir, '--url', apiUrl, '--token', token, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const outcome = JSON.parse(r.stdout) as { verdict: string; upload_id: string; files: number; tasks: { id: string }[]; problems: string[] };
  assert.equal(outcome.verdict, 'submitted');
  assert.equal(outcome.files, 32);
  assert.equal(outcome.tasks.length, 1);
  assert.deepEqual(outcome.problems, []);

  const wrongToken = await runCli(['submit', dir, '--url', apiUrl, '--token', 'nope']);
  assert.equal(wrongToken.code, 2);
  assert.match(wrongToken.stderr, /401 \(wrong or missing token\)/);
  const metricsToken = await runCli(['submit', dir, '--url', apiUrl, '--token', TEST_METRICS_TOKEN]);
  assert.equal(metricsToken.code, 2);
  assert.match(metricsToken.stderr, /403 \(not allowed for this token\) metrics metrics may not POST \/uploads: that is for submitters or operators/);
  const noToken = await runCli(['submit', dir, '--url', apiUrl], { env: { PETSPOOL_TOKEN: '' } });
  assert.equal(noToken.code, 2);
  assert.match(noToken.stderr, /--url needs a submitter token of that appliance: --token TOKEN or \$PETSPOOL_TOKEN/);
});

test('submit reports an empty folder, a timeout, and a missing appliance plainly', async () => {
  const empty = await mkdtemp(path.join(os.tmpdir(), 'petspool-submit-empty-'));
  temp.push(empty);
  await mkdir(path.join(empty, 'sub'));
  const r = await runCli(['submit', empty, '--config', configFile]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), `petspool: No DICOM files found in ${empty}`);

  // The hot folder waits ~2 s for files to be complete: a 1 s limit runs out during the import.
  const timedOut = await runCli(['submit', await seriesDir(), '--wait', '--timeout', '1', '--config', configFile]);
  assert.equal(timedOut.code, 4, timedOut.stdout + timedOut.stderr);
  assert.match(timedOut.stderr, /Timed out after 1 s/);

  const { file: idle, dir } = await tempConfig({ api: { port: await freePort() } });
  temp.push(dir);
  const none = await runCli(['submit', empty, '--config', idle]);
  assert.equal(none.code, 3);
  assert.match(none.stderr, /no appliance is running on .*--url/);
});
