import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { tempConfig } from '../helpers/cli.js';
import { startApplianceProcess } from '../helpers/appliance-process.js';
import { TEST_METRICS_TOKEN, TEST_SUBMITTER, testApiCredentials } from '../helpers/appliance.js';
import { freePort, runDcmtk } from '../fixtures/dcmtk.js';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { MetricsRegistry } from '../../src/metrics/metrics.js';
import { loadConfig } from '../../src/config/load.js';

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('GET /metrics: Prometheus text with counters, task gauges, stage durations; 401 without the token', async (t) => {
  const token = TEST_METRICS_TOKEN;
  const { dir, file } = await tempConfig({
    dicom: { host: '127.0.0.1', port: await freePort(), min_free_mb: 1 },
    api: { port: await freePort(), ...(await testApiCredentials()) },
    compilator: { quiet_seconds: 1, min_images: 5 },
  });
  const appliance = await startApplianceProcess(file);
  t.after(async () => {
    await appliance.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const config = loadConfig(file);
  const [dicomPort, apiPort] = [config.dicom.port, config.api.port];

  const pet = await synthesizePetSeries(path.join(dir, 'pet'), { slices: 6, size: 16 });
  const ct = await synthesizePetSeries(path.join(dir, 'ct'), { slices: 3, size: 16, ct: true });
  const push = await runDcmtk('storescu', ['-aec', 'PETSPOOL', '-aet', 'SCANNER', '127.0.0.1', String(dicomPort), ...pet, ...ct]);
  assert.equal(push.code, 0, push.stderr);

  const url = `http://127.0.0.1:${apiPort}/metrics`;
  const denied = await fetch(url);
  assert.equal(denied.status, 401);
  // The metrics token reaches /metrics only; a submitter's token does not reach /metrics.
  const tasks = await fetch(`http://127.0.0.1:${apiPort}/tasks`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(tasks.status, 403);
  assert.match((await tasks.json() as { error: string }).error, /metrics metrics may not GET \/tasks: that is for operators/);
  assert.equal((await fetch(url, { headers: { authorization: `Bearer ${TEST_SUBMITTER.token}` } })).status, 403);

  const scrape = async () => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return res.text();
  };
  // The compilator closes the task after quiet_seconds (its earlier looks are waits, not jobs).
  let text = await scrape();
  for (let i = 0; i < 200 && !(sample(text, 'petspool_stage_outcomes_total{stage="compilator",outcome="done"}')! >= 1); i++) {
    await new Promise((r) => setTimeout(r, 100));
    text = await scrape();
  }

  assert.equal(sample(text, 'petspool_instances_received_total'), 6);
  assert.equal(sample(text, 'petspool_instances_ignored_total'), 3);
  assert.equal(sample(text, 'petspool_instances_quarantined_total'), 0);
  assert.equal(sample(text, 'petspool_scp_instances_stored_total'), 9);
  assert.equal(sample(text, 'petspool_cstore_failures_total{role="scp"}'), 0);
  assert.equal(sample(text, 'petspool_cstore_failures_total{role="scu"}'), 0);
  assert.equal(sample(text, 'petspool_bytes_uploaded_total') !== undefined, true);
  assert.equal(sample(text, 'petspool_bytes_downloaded_total') !== undefined, true);
  assert.ok(sample(text, 'petspool_stage_duration_seconds_count{stage="compilator"}')! >= 1, text);
  assert.equal(sample(text, 'petspool_stage_duration_seconds_bucket{stage="compilator",le="+Inf"}'),
    sample(text, 'petspool_stage_duration_seconds_count{stage="compilator"}'));
  assert.ok(sample(text, 'petspool_stage_outcomes_total{stage="compilator",outcome="done"}')! >= 1, text);

  // Exactly one task exists (the PET series), in whichever state it has reached by now.
  const states = ['collecting', 'compiled', 'validated', 'packed', 'processing', 'downloaded', 'unpacking_sending', 'unpacked', 'awaiting_qc',
    'sending', 'done', 'failed', 'aborted'];
  const totalOf = (scraped: string) => states.reduce((n, s) => n + (sample(scraped, `petspool_tasks{state="${s}"}`) ?? Number.NaN), 0);
  // The gauge reads the folders one after the other: a task renamed between two reads is counted
  // in both, so a scrape taken while it moves on may say 2. Look again until it has settled.
  let total = totalOf(text);
  for (let i = 0; i < 50 && total !== 1; i++) {
    await new Promise((r) => setTimeout(r, 100));
    total = totalOf(await scrape());
  }
  assert.equal(total, 1);
  for (const folder of ['incoming', 'received', 'collecting', 'compiled', 'sending']) {
    assert.ok(sample(text, `petspool_stage_backlog{folder="${folder}"}`) !== undefined, `backlog of ${folder}`);
    assert.ok(sample(text, `petspool_stage_oldest_age_seconds{folder="${folder}"}`)! >= 0, `oldest age of ${folder}`);
  }
  assert.equal(sample(text, 'petspool_stage_backlog{folder="sent"}'), undefined, 'finished folders are not backlog');
  assert.match(text, /# TYPE petspool_stage_duration_seconds histogram/);
  assert.match(text, /# TYPE petspool_tasks gauge/);
  assert.ok(sample(text, 'process_resident_memory_bytes')! > 10e6);
});

test('the counter API other parts call: add, labels, no negative amounts', () => {
  const registry = new MetricsRegistry();
  registry.add('bytes_uploaded_total', 1000);
  registry.add('bytes_uploaded_total', 24);
  registry.add('bytes_uploaded_total', -5);
  registry.add('cstore_failures_total', 2, { role: 'scu', destination: 'pacs' });
  assert.equal(registry.value('bytes_uploaded_total'), 1024);
  assert.equal(registry.value('cstore_failures_total', { role: 'scu', destination: 'pacs' }), 2);
  assert.equal(registry.value('cstore_failures_total', { role: 'scu' }), 0);
  registry.observeStage('packer', 'done', 0.3);
  registry.observeStage('packer', 'retry', 7);
  const [[stage, h]] = registry.stageHistograms() as [[string, { buckets: number[]; sum: number; count: number }]];
  assert.equal(stage, 'packer');
  assert.deepEqual([h.count, h.sum], [2, 7.3]);
  assert.equal(h.buckets[4], 1, 'le=0.5 holds the 0.3 s job only');
});
