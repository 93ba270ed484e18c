import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Spool } from '../../src/spool/spool.js';
import { TASK_FOLDERS } from '../../src/spool/layout.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'spool-churn.js');
const JOBS = 80;
const KILLS = 30;

function runChild(spoolDir: string, killAfterMs: number | null): Promise<'killed' | 'finished'> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, spoolDir, String(JOBS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stderr.on('data', (d) => { stderr += d; });
    // Time the kill from the moment the child has recovered and starts working.
    child.stdout.once('data', () => {
      if (killAfterMs !== null) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve('killed');
      else if (code === 0) resolve('finished');
      else reject(new Error(`child exited ${code}: ${stderr}`));
    });
  });
}

/** Every task visible in a folder is whole: readable task.json, complete outputs. Returns ids per folder. */
async function inspect(spool: Spool, payloads: Map<string, string>): Promise<Map<string, string[]>> {
  const seen = new Map<string, string[]>();
  for (const folder of TASK_FOLDERS) {
    for (const id of await spool.taskIds(folder)) {
      const dir = spool.layout.taskDir(folder, id);
      const record = JSON.parse(await readFile(path.join(dir, 'task.json'), 'utf8'));
      assert.equal(record.id, id);
      const source = String(record.facts.source);
      seen.set(source, [...(seen.get(source) ?? []), `${folder}/${id}`]);
      for (const name of await readdir(dir)) {
        if (name.startsWith('.tmp-') || name === 'task.json') continue;
        const content = await readFile(path.join(dir, name), 'utf8');
        if (name === 'payload') assert.equal(content, payloads.get(source), `payload of ${source} intact`);
        else {
          const stage = name.replace(/\.out$/, '');
          const digest = createHash('sha256').update(payloads.get(source)!).digest('hex');
          assert.equal(content, `${stage}:${digest}`, `${folder}/${id}/${name} complete`);
        }
      }
    }
  }
  return seen;
}

test(`SIGKILL ${KILLS} times during spool moves: no job lost, duplicated or half-visible`, { timeout: 240_000 }, async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'petspool-crash-'));
  const spool = new Spool(root);
  await spool.init();
  const payloads = new Map<string, string>();
  await mkdir(spool.layout.folder('incoming'), { recursive: true });
  for (let i = 0; i < JOBS; i++) {
    const name = `job-${String(i).padStart(3, '0')}.job`;
    const content = `payload ${i} `.repeat(2000);
    payloads.set(name, content);
    await writeFile(path.join(spool.layout.folder('incoming'), name), content);
  }
  let kills = 0;
  for (let i = 0; i < KILLS; i++) {
    const outcome = await runChild(root, Math.floor(Math.random() * 120));
    if (outcome === 'finished') break;
    kills++;
    const seen = await inspect(spool, payloads);
    const pending = (await readdir(spool.layout.folder('incoming'))).filter((n) => n.endsWith('.job'));
    for (const [name] of payloads) {
      const places = (seen.get(name) ?? []).length;
      // A job is either still in incoming/ or in exactly one task (its payload may be on the way in).
      assert.ok(places <= 1, `${name} is in ${places} tasks: ${seen.get(name)?.join(', ')}`);
      assert.ok(places === 1 || pending.includes(name), `${name} lost after kill ${kills}`);
    }
  }
  assert.equal(await runChild(root, null), 'finished');
  const seen = await inspect(spool, payloads);
  for (const [name] of payloads) {
    const places = seen.get(name) ?? [];
    assert.equal(places.length, 1, `${name} in ${places.length} places`);
    assert.match(places[0], /^sent\//);
    const dir = path.join(root, places[0]);
    assert.deepEqual((await readdir(dir)).sort(), ['compile.out', 'pack.out', 'payload', 'send.out', 'task.json', 'validate.out']);
    const history = JSON.parse(await readFile(path.join(dir, 'task.json'), 'utf8')).history.map((h: { state: string }) => h.state);
    for (const s of ['collecting', 'compiled', 'validated', 'packed', 'done']) assert.ok(history.includes(s), `${s} in history`);
  }
  const leftovers = [];
  for (const folder of TASK_FOLDERS) {
    for (const name of await readdir(spool.layout.folder(folder))) if (name.startsWith('.tmp-')) leftovers.push(`${folder}/${name}`);
  }
  assert.deepEqual(leftovers, [], 'no temporary entries left after the final run');
  assert.ok(kills >= 10, `the child was killed mid-run ${kills} times (want at least 10)`);
});
