import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { RemoteClient, RemoteRejectedError, RemoteUnavailableError } from '../../src/remote/client.js';

/** A real HTTP server on loopback whose answers the test scripts per request path. */
type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

async function listen(handler: Handler): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => handler(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

describe('RemoteClient error classification', () => {
  let server: Server;
  let url: string;
  const seen: { path?: string; auth?: string; body?: string }[] = [];

  before(async () => {
    ({ server, url } = await listen((req, res, body) => {
      seen.push({ path: req.url, auth: req.headers.authorization, body });
      switch (req.url) {
        case '/check_model': return json(res, 407, { message: 'no model for OSEM 2i' });
        case '/processing': return json(res, 200, { response: 'Processing' });
        case '/tasks/busy': return json(res, 200, { state: 'processing' });
        case '/tasks/gone': return json(res, 404, { message: 'unknown task' });
        default: return res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>');
      }
    }));
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  const client = (base: string, timeoutMs = 2000): RemoteClient =>
    new RemoteClient({ baseUrl: `${base}/`, token: 'tok', clientId: 'site-01', timeoutMs });

  it('sends the token and client_id, and reads licence codes as answers', async () => {
    assert.deepEqual(await client(url).checkModel({ reconstruction: { method: 'OSEM' } }),
      { ok: false, code: 407, message: 'no model for OSEM 2i' });
    await client(url).startProcessing({ input_file: 'a_site-01.zip', task_id: 'a', callback_url: 'http://127.0.0.1:1/process_ready', metadata: {} });
    const processing = seen.find((s) => s.path === '/processing');
    assert.equal(processing?.auth, 'Bearer tok');
    assert.equal((JSON.parse(processing?.body ?? '{}') as { client_id?: string }).client_id, 'site-01');
  });

  it('tells a task state, an unknown task, and a service without the tasks route apart', async () => {
    assert.deepEqual(await client(url).getTask('busy'), { state: 'processing' });
    assert.equal(await client(url).getTask('gone'), 'unknown');
    assert.equal(await client(url).getTask('other'), 'unsupported', 'a non-JSON 404 page means no such route');
    const old = await listen((_req, res) => json(res, 405, { message: 'Method Not Allowed' }));
    try {
      assert.equal(await client(old.url).getTask('x'), 'unsupported');
    } finally {
      await new Promise((resolve) => old.server.close(resolve));
    }
  });

  it('a service that is down is unavailable (retryable)', async () => {
    const gone = await listen(() => undefined);
    await new Promise((resolve) => gone.server.close(resolve));
    await assert.rejects(client(gone.url).checkModel({}),
      (err: unknown) => err instanceof RemoteUnavailableError && err.retryable && /unreachable .*ECONNREFUSED/.test(err.message));
  });

  it('5xx, 429 and timeouts are unavailable; other 4xx are rejections with the server message', async () => {
    const statuses = [503, 500, 429, 400, 401, 413];
    let next = 0;
    const flaky = await listen((req, res) => {
      if (req.url?.startsWith('/tasks/')) setTimeout(() => json(res, 200, {}), 500);
      else json(res, statuses[next++], { detail: `reason ${statuses[next - 1]}` });
    });
    try {
      for (const status of statuses) {
        const err = await client(flaky.url).startProcessing({ input_file: 'a', task_id: 'a', callback_url: 'http://x', metadata: {} })
          .then(() => assert.fail('should throw'), (e: unknown) => e);
        if (status >= 500 || status === 429) {
          assert.ok(err instanceof RemoteUnavailableError && err.status === status, String(err));
        } else {
          assert.ok(err instanceof RemoteRejectedError && err.status === status && !err.retryable, String(err));
          assert.match(err.message, new RegExp(`remote processing answered ${status}: reason ${status}`));
        }
      }
      const slow = client(flaky.url, 100);
      await assert.rejects(slow.getTask('x'), (err: unknown) => err instanceof RemoteUnavailableError && /did not answer/.test(err.message));
    } finally {
      flaky.server.closeAllConnections();
      await new Promise((resolve) => flaky.server.close(resolve));
    }
  });
});
