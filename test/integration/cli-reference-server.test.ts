import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { PETSPOOL_BIN, runCli, tempConfig } from '../helpers/cli.js';
import { RemoteClient } from '../../src/remote/client.js';
import { makeTestPki } from '../fixtures/test-pki.js';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Start `petspool reference-server ARGS` and wait for its "listening" line. */
async function startServer(args: string[]): Promise<{ child: ChildProcessWithoutNullStreams; exited: Promise<number | null>; output: () => string }> {
  const child = spawn(PETSPOOL_BIN, ['reference-server', ...args]);
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 15_000;
  while (!/listening on http/.test(output)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`reference-server did not start: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, exited, output: () => output };
}

async function checkModel(port: number, token: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/check_model`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ radiopharmaceutical: { name: 'FDG' }, reconstruction: { method: 'OSEM' } }),
  });
  await res.arrayBuffer();
  return res.status;
}

test('reference-server answers /check_model on --port, with share folders and token from the config, and stops on SIGTERM', async () => {
  const { dir, file } = await tempConfig({ remote: { token: 'config-remote-token' } });
  const port = await freePort();
  const server = await startServer(['--config', file, '--port', String(port)]);
  try {
    assert.equal(await checkModel(port, 'config-remote-token'), 200);
    assert.equal(await checkModel(port, 'wrong'), 401);
    for (const share of ['outbox', 'inbox']) assert.ok((await stat(path.join(dir, 'share', share))).isDirectory(), `share ${share} made`);
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0);
    assert.match(server.output(), /SIGTERM received/);
  } finally {
    server.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

test('reference-server --fail-first N answers 503 N times, then serves; --token overrides the config', async () => {
  const { dir, file } = await tempConfig();
  const port = await freePort();
  const server = await startServer(['--config', file, '--port', String(port), '--token', 'cli-token', '--fail-first', '2',
    '--outbox', path.join(dir, 'o'), '--inbox', path.join(dir, 'i'), '--no-tasks-route', '--result', 'corrupt']);
  try {
    assert.equal(await checkModel(port, 'cli-token'), 503);
    assert.equal(await checkModel(port, 'cli-token'), 503);
    assert.equal(await checkModel(port, 'cli-token'), 200);
    const tasks = await fetch(`http://127.0.0.1:${port}/tasks/x`, { headers: { authorization: 'Bearer cli-token' } });
    assert.equal(tasks.status, 404);
    assert.match(tasks.headers.get('content-type') ?? '', /text\/html/, '--no-tasks-route: a plain "no such route" page');
    await tasks.arrayBuffer();
    assert.ok((await stat(path.join(dir, 'o'))).isDirectory());
    server.child.kill('SIGINT');
    assert.equal(await server.exited, 0);
  } finally {
    server.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

test('reference-server --tls-cert/--tls-key serves https, trusted through the CA that signed it; half the options is refused', async () => {
  const pki = await makeTestPki();
  const { dir, file } = await tempConfig({ remote: { token: 'tls-token' } });
  const port = await freePort();
  const server = await startServer(['--config', file, '--port', String(port), '--tls-cert', pki.server.certFile, '--tls-key', pki.server.keyFile]);
  try {
    assert.match(server.output(), new RegExp(`listening on https://127\\.0\\.0\\.1:${port}`));
    const client = new RemoteClient({ baseUrl: `https://127.0.0.1:${port}`, token: 'tls-token', clientId: 'site-01', caFile: pki.caFile });
    assert.deepEqual(await client.checkModel({ radiopharmaceutical: { name: 'FDG' }, reconstruction: { method: 'OSEM' } }), { ok: true });
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0);
    const half = await runCli(['reference-server', '--config', file, '--port', String(port), '--tls-cert', pki.server.certFile]);
    assert.notEqual(half.code, 0);
    assert.match(half.stderr, /--tls-cert and --tls-key go together/);
  } finally {
    server.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    await rm(pki.dir, { recursive: true, force: true });
  }
});
