/**
 * collectGarbage in a process started with --expose-gc, as bin/petspool starts petspool: an
 * imaging thread that ran a job on a large shared volume lets go of it once idle, so the memory
 * really returns (without it an idle thread keeps the last volume it was given for as long as it
 * stays idle). Run in a child process: the test runner has no --expose-gc.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const script = `
const { prepareOutputSlices } = await import(${JSON.stringify(new URL('../../../src/imaging/output-slices.js', import.meta.url).href)});
const { collectGarbage } = await import(${JSON.stringify(new URL('../../../src/util/collect-garbage.js', import.meta.url).href)});
const rssMb = () => process.memoryUsage.rss() / 1048576;
// In a function of its own: variables of the module's body would live as long as the module.
async function work() {
  // 64 slices of 512×512 float32: 64 MiB, touched; the output slices take 36 MiB more.
  const data = new Float32Array(new SharedArrayBuffer(64 * 512 * 512 * 4)).fill(1);
  const volume = { data, shape: [64, 512, 512], spacing: [2, 2, 2], orientation: [1, 0, 0, 0, 1, 0], positions: [] };
  await prepareOutputSlices(volume, { threads: 2 });
  return rssMb();
}
const before = rssMb();
const held = await work();
// The threads collect after a second idle; this thread's collections free what they let go.
for (let i = 0; i < 4; i++) {
  collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, 500));
}
collectGarbage();
console.log(JSON.stringify({ before, held, after: rssMb() }));
process.exit(0);
`;

test('with --expose-gc, the volumes an idle imaging thread was given are freed', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-gc-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'run.mjs');
  await writeFile(file, script);
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', file]);
  const { before, held, after } = JSON.parse(stdout) as { before: number; held: number; after: number };
  assert.ok(held - before > 80, `the volumes were in memory (${before.toFixed(0)} → ${held.toFixed(0)} MB)`);
  assert.ok(held - after > 70, `and returned once the threads were idle (${held.toFixed(0)} → ${after.toFixed(0)} MB)`);
});
