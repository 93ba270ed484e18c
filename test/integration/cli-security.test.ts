/**
 * The security commands through the real bin/petspool: hash-password (its string lets the operator
 * log into a running appliance) and audit (what the CLI and the API recorded).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { loadConfig } from '../../src/config/load.js';
import { Spool } from '../../src/spool/spool.js';
import { verifyPassword } from '../../src/api/auth/password-hash.js';
import type { AuditEntry } from '../../src/audit/audit-log.js';
import { freePort } from '../fixtures/dcmtk.js';
import { PETSPOOL_BIN, runCli, tempConfig } from '../helpers/cli.js';
import { startApplianceProcess } from '../helpers/appliance-process.js';
import { makeTask } from '../helpers/results-task.js';

function cliWithInput(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PETSPOOL_BIN, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

test('hash-password prints a scrypt string that logs the operator into a running appliance', async (t) => {
  const password = 'tracer decay forty minutes';
  const hashed = await cliWithInput(['hash-password'], `${password}\n`);
  assert.equal(hashed.code, 0, hashed.stderr);
  const line = hashed.stdout.trim();
  assert.match(line, /^scrypt\$32768\$8\$1\$\S+\$\S+$/);
  assert.equal(await verifyPassword(password, line), true, 'the trailing newline is not part of the password');
  const short = await cliWithInput(['hash-password'], 'short\n');
  assert.equal(short.code, 2);
  assert.match(short.stderr, /the password has 5 characters: use at least 10/);

  const { dir, file } = await tempConfig({
    dicom: { host: '127.0.0.1', port: await freePort(), min_free_mb: 1 },
    api: { port: await freePort(), operators: [{ name: 'carol', password_scrypt: line }] },
  });
  const appliance = await startApplianceProcess(file);
  t.after(async () => {
    await appliance.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const login = (pw: string) => fetch(`http://127.0.0.1:${loadConfig(file).api.port}/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'carol', password: pw }),
  });
  assert.equal((await login('tracer decay forty minutes!')).status, 401);
  const ok = await login(password);
  assert.equal(ok.status, 200);
  assert.equal(((await ok.json()) as { name: string }).name, 'carol');
});

test('audit lists what was done, by whom, filtered by task, operator and time', async (t) => {
  const { dir, file } = await tempConfig();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const spool = new Spool(loadConfig(file).spool_dir);
  await spool.init();
  const [a, b] = [await makeTask(spool, { result: 'none', folder: 'awaiting_qc' }), await makeTask(spool, { result: 'none', folder: 'awaiting_qc' })];
  assert.match((await runCli(['audit', '--config', file])).stdout, /^no audit entries in .*audit\.jsonl/);
  assert.equal((await runCli(['qc', 'approve', a.id, '--config', file])).code, 0);
  assert.equal((await runCli(['qc', 'reject', b.id, '--reason', 'patient moved', '--config', file])).code, 0);

  const all = JSON.parse((await runCli(['audit', '--json', '--config', file])).stdout) as AuditEntry[];
  assert.deepEqual(all.map((e) => [e.who, e.action, e.task, e.client]), [['admin', 'qc.approve', a.id, 'cli'], ['admin', 'qc.reject', b.id, 'cli']]);
  assert.deepEqual(all[1]!.details, { reason: 'patient moved' });
  const text = (await runCli(['audit', '--task', b.id, '--config', file])).stdout;
  assert.match(text, new RegExp(`^\\S+Z {2}admin \\(operator, cli\\) {2}qc\\.reject ${b.id} \\{"reason":"patient moved"\\}\\n$`));
  assert.match((await runCli(['audit', '--who', 'nobody', '--config', file])).stdout, /^no audit entries match/);
  assert.match((await runCli(['audit', '--since', '2100-01-01', '--config', file])).stdout, /^no audit entries match/);
  assert.match((await runCli(['tasks', 'show', b.id, '--config', file])).stdout, /failed\s+qc: rejected in quality control: patient moved \(by admin\)/);
  const badSince = await runCli(['audit', '--since', 'yesterday', '--config', file]);
  assert.equal(badSince.code, 2);
  assert.match(badSince.stderr, /--since yesterday: not a date/);
});
