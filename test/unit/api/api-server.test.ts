import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startApiServer } from '../../../src/api/server.js';
import { HttpError } from '../../../src/api/router.js';
import { silentLogger } from '../../../src/log/logger.js';

test('routes, parameters, bearer token, cookie, JSON errors', async () => {
  const api = await startApiServer({
    host: '127.0.0.1', port: 0, token: 's3cret', log: silentLogger,
    routes: [
      { method: 'GET', path: '/health', auth: false, handler: () => ({ body: { ok: true } }) },
      { method: 'POST', path: '/tasks/:id/retry', handler: (r) => ({ body: { id: r.params.id, got: r.body } }) },
      { method: 'GET', path: '/boom', handler: () => { throw new Error('kaputt'); } },
      { method: 'GET', path: '/teapot', handler: () => { throw new HttpError(418, 'short and stout'); } },
    ],
  });
  try {
    const auth = { authorization: 'Bearer s3cret', 'content-type': 'application/json' };
    assert.deepEqual(await (await fetch(`${api.url}/health`)).json(), { ok: true });
    const noToken = await fetch(`${api.url}/tasks/abc/retry`, { method: 'POST' });
    assert.equal(noToken.status, 401);
    assert.match((await noToken.json()).error, /Bearer/);
    assert.equal((await fetch(`${api.url}/tasks/abc/retry`, { method: 'POST', headers: { authorization: 'Bearer wrong!' } })).status, 401);
    const ok = await fetch(`${api.url}/tasks/a%20b/retry`, { method: 'POST', headers: auth, body: JSON.stringify({ x: 1 }) });
    assert.deepEqual(await ok.json(), { id: 'a b', got: { x: 1 } });
    const cookie = await fetch(`${api.url}/tasks/c/retry`, { method: 'POST', headers: { cookie: 'other=1; petspool_token=s3cret' } });
    assert.equal(cookie.status, 200);
    assert.equal((await fetch(`${api.url}/tasks/c/retry`, { method: 'POST', headers: auth, body: '{bad' })).status, 400);
    assert.equal((await fetch(`${api.url}/nowhere`, { headers: auth })).status, 404);
    assert.equal((await fetch(`${api.url}/health`, { method: 'POST' })).status, 405);
    const boom = await fetch(`${api.url}/boom`, { headers: auth });
    assert.equal(boom.status, 500);
    assert.deepEqual(await boom.json(), { error: 'kaputt' });
    assert.equal((await fetch(`${api.url}/teapot`, { headers: auth })).status, 418);
  } finally {
    await api.close();
  }
});
