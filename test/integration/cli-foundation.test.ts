import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { PETSPOOL_BIN, runCli, tempConfig } from '../helpers/cli.js';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { makeTestPki } from '../fixtures/test-pki.js';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

test('--help lists every command of the contract', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0);
  for (const c of ['start', 'demo', 'status', 'tasks', 'qc', 'submit', 'echo', 'send', 'radiopharmaceuticals',
    'filters', 'cleanup', 'synth', 'reference-server', 'doctor']) {
    assert.match(r.stdout, new RegExp(`petspool ${c}\\b`), `${c} in --help`);
  }
});

test('a wrong config is refused with every problem by dotted path and exit code 2', async () => {
  const { file } = await tempConfig({ dicom: { port: 0 }, compilator: { max_gap_ratio: 'small' } });
  const r = await runCli(['status', '--config', file]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /dicom\.port: must be an integer 1-65535/);
  assert.match(r.stderr, /compilator\.max_gap_ratio: must be a number 0-1/);
  const env = await runCli(['status'], { env: { PETSPOOL_CONFIG: file } });
  assert.equal(env.code, 2, 'PETSPOOL_CONFIG is read too');
});

test('status --json counts tasks per folder', async () => {
  const { file } = await tempConfig();
  const r = await runCli(['status', '--json', '--config', file]);
  assert.equal(r.code, 0, r.stderr);
  const status = JSON.parse(r.stdout);
  assert.deepEqual(status.folders.map((f: { folder: string }) => f.folder), [
    'collecting', 'compiled', 'validated', 'packed', 'processing', 'downloaded', 'unpacking_sending',
    'unpacked', 'awaiting_qc', 'sending', 'sent', 'failed', 'aborted',
  ]);
  assert.ok(status.folders.every((f: { count: number }) => f.count === 0));
});

test('doctor reports each check with a fix, and fails when a port is taken', async () => {
  const busy = net.createServer();
  const port = await new Promise<number>((resolve) => busy.listen(0, '127.0.0.1', () => resolve((busy.address() as net.AddressInfo).port)));
  const { file } = await tempConfig({ dicom: { host: '127.0.0.1', port }, api: { port: await freePort() } });
  const r = await runCli(['doctor', '--json', '--config', file]);
  busy.close();
  assert.equal(r.code, 1);
  const checks = JSON.parse(r.stdout) as { name: string; ok: boolean; fix?: string }[];
  const dicom = checks.find((c) => c.name === 'DICOM port');
  assert.equal(dicom?.ok, false);
  assert.match(dicom?.fix ?? '', /change the port/);
  for (const name of ['config', 'spool folder', 'share outbox', 'share inbox', '7z', 'DCMTK', 'file-system flush', 'API port']) {
    assert.equal(checks.find((c) => c.name === name)?.ok, true, `${name} ok`);
  }
});

test('doctor asks for 7z only when the embedded reference service needs it, and for `sync -f` always', async (t) => {
  // A PATH with node and what bin/petspool needs, but no 7z and no sync.
  const bin = await mkdtemp(path.join(os.tmpdir(), 'petspool-path-'));
  t.after(() => rm(bin, { recursive: true, force: true }));
  for (const program of ['node', 'dirname']) await symlink(execFileSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).trim(), path.join(bin, program));
  const sevenZip = async (remoteUrl: string) => {
    const { file } = await tempConfig({ dicom: { port: await freePort() }, api: { port: await freePort() }, remote: { url: remoteUrl } });
    const r = await runCli(['doctor', '--json', '--config', file], { env: { PATH: bin } });
    const checks = JSON.parse(r.stdout) as { name: string; ok: boolean; detail: string; fix?: string }[];
    const flush = checks.find((c) => c.name === 'file-system flush')!;
    assert.equal(flush.ok, false);
    assert.match(flush.fix ?? '', /install coreutils 8\.24 or later/);
    return checks.find((c) => c.name === '7z')!;
  };
  const embedded = await sevenZip('embedded');
  assert.equal(embedded.ok, false);
  assert.match(embedded.fix ?? '', /apt-get install p7zip-full/);
  const remote = await sevenZip('http://127.0.0.1:9');
  assert.equal(remote.ok, true);
  assert.match(remote.detail, /not needed/);
});

test('start runs, a second start on the same spool is refused, SIGTERM stops it cleanly', async () => {
  const { file, dir } = await tempConfig({ dicom: { host: '127.0.0.1', port: await freePort() }, api: { port: await freePort() } });
  const child = spawn(PETSPOOL_BIN, ['start', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 20_000;
    while (!/petspool started/.test(log)) {
      assert.ok(Date.now() < deadline, `not started: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const second = await runCli(['start', '--config', file]);
    assert.equal(second.code, 3);
    assert.match(second.stderr, new RegExp(`another petspool process \\(pid ${child.pid}\\) is running on .*Stop it first`));
    // Files still being checked for completeness in the hot folder must not keep a stopped appliance alive.
    await synthesizePetSeries(path.join(dir, 'spool', 'incoming', 'drop'), { slices: 40, size: 64 });
    while (!/new task for series/.test(log)) {
      assert.ok(Date.now() < deadline + 10_000, `the dropped series was not taken: ${log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGTERM');
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('still running 10 s after SIGTERM'), 10_000).unref());
    assert.equal(await Promise.race([exited, timeout]), 0);
  } finally {
    child.kill('SIGKILL');
  }
  assert.match(log, /SIGTERM received/);
  assert.match(log, /petspool stopped/);
  const logs = await readdir(path.join(dir, 'spool', 'logs'));
  assert.ok(logs.some((n) => /^petspool-\d{4}-\d{2}-\d{2}\.jsonl$/.test(n)), `log file in ${logs.join(',')}`);
});

test('doctor checks the TLS files of dicom.tls, destinations and remote.ca_file, and the DICOM TLS port', async (t) => {
  const pki = await makeTestPki();
  t.after(() => rm(pki.dir, { recursive: true, force: true }));
  const { file } = await tempConfig({
    dicom: {
      host: '127.0.0.1', port: await freePort(),
      tls: { port: await freePort(), cert_file: pki.server.certFile, key_file: pki.server.keyFile, ca_file: pki.caFile },
    },
    api: { port: await freePort() },
    destinations: [{ name: 'pacs', ae_title: 'PACS', host: '127.0.0.1', port: 104, tls: { ca_file: pki.caFile, cert_file: pki.client.certFile, key_file: pki.otherClient.keyFile } }],
    remote: { url: 'https://processing.example', ca_file: path.join(pki.dir, 'absent.pem') },
  });
  const r = await runCli(['doctor', '--json', '--config', file]);
  assert.equal(r.code, 1);
  const checks = JSON.parse(r.stdout) as { name: string; ok: boolean; detail: string; fix?: string }[];
  const find = (name: string) => checks.find((c) => c.name === name);
  assert.equal(find('TLS files of dicom.tls')?.ok, true);
  assert.match(find('TLS files of dicom.tls')?.detail ?? '', /server\.pem \(CN=server\) valid until 20\d\d-/);
  assert.equal(find('DICOM TLS port')?.ok, true);
  const destination = find('TLS files of destinations[pacs].tls');
  assert.equal(destination?.ok, false);
  assert.match(destination?.detail ?? '', /cannot be used together: destinations\[pacs\]\.tls\.cert_file .*client\.pem, destinations\[pacs\]\.tls\.key_file .*other-client\.key/);
  assert.match(find('TLS files of remote')?.detail ?? '', /TLS: cannot read remote\.ca_file .*absent\.pem \(ENOENT\)/);
});
