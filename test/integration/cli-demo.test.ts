import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../helpers/cli.js';

test('petspool demo runs the whole flow and reports stages, outputs and noise', { timeout: 180_000 }, async () => {
  const keep = path.join(await mkdtemp(path.join(os.tmpdir(), 'petspool-demo-test-')), 'work');
  const r = await runCli(['demo', '--json', '--slices', '40', '--size', '64', '--keep', keep], { timeoutMs: 170_000 });
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.inputInstances, 40);
  assert.equal(summary.outputs.length, 1, 'one output series per configured filter (config.yaml has fwhm4)');
  const [out] = summary.outputs;
  assert.equal(out.instances, 40);
  assert.match(out.description, /fwhm4/);
  assert.ok(out.noise.std < summary.inputNoise.std / 2, `noise ${summary.inputNoise.std} -> ${out.noise.std}`);
  const states = summary.stages.map((s: { state: string }) => s.state);
  for (const s of ['collecting', 'compiled', 'validated', 'packed', 'processing', 'downloaded', 'unpacked', 'sending']) {
    assert.ok(states.includes(s), `${s} in ${states.join(',')}`);
  }
  const sent = await readdir(path.join(keep, 'spool', 'sent'));
  assert.deepEqual(sent, [summary.taskId]);
  const text = await runCli(['demo', '--slices', '30', '--size', '48']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /petspool demo: task \S+ done in [\d.]+ s/);
  assert.match(text.stdout, /original \(input\)\s+30/);
});
