import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startApiServer } from '../../../src/api/server.js';
import { HttpError, type Route } from '../../../src/api/router.js';
import { AccessControl } from '../../../src/api/auth/access-control.js';
import { Credentials } from '../../../src/api/auth/credentials.js';
import { SessionStore } from '../../../src/api/auth/sessions.js';
import { LoginThrottle } from '../../../src/api/auth/login-throttle.js';
import { hashPassword, verifyPassword } from '../../../src/api/auth/password-hash.js';
import { sessionRoutes } from '../../../src/api/routes/session.js';
import { AuditLog, readAuditLog } from '../../../src/audit/audit-log.js';
import { silentLogger } from '../../../src/log/logger.js';

const TOKENS = { callback: 'callback-token-0000001', metrics: 'metrics-token-00000001', ward: 'ward-submitter-token-01', alice: 'alice-operator-token-01' };

/** A server with one route per role, a clock the test moves, and an audit log in a temp folder. */
async function server(t: import('node:test').TestContext, extraRoutes: Route[] = []) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-api-'));
  let now = 1_000_000;
  const clock = () => now;
  const credentials = new Credentials({
    callback_token: TOKENS.callback, metrics_token: TOKENS.metrics, submitters: [{ name: 'ward', token: TOKENS.ward }],
    operators: [{ name: 'alice', token: TOKENS.alice, password_scrypt: await hashPassword('open sesame') }, { name: 'bob', token: undefined, password_scrypt: await hashPassword('bobs password') }],
  });
  const sessions = new SessionStore({ idleMs: 60_000, maxMs: 3600_000 }, clock);
  const audit = new AuditLog(path.join(dir, 'audit.jsonl'));
  const api = await startApiServer({
    host: '127.0.0.1', port: 0, log: silentLogger, audit,
    access: new AccessControl({ credentials, sessions, submitterOwns: async (name, id) => name === 'ward' && id === 'mine' }),
    routes: [
      { method: 'GET', path: '/health', allow: 'anyone', handler: () => ({ body: { ok: true } }) },
      { method: 'POST', path: '/tasks/:id/retry', audit: 'task.retry', handler: (r) => ({ body: { id: r.params.id, got: r.body, by: r.principal?.name } }) },
      { method: 'GET', path: '/tasks/:id', allow: ['operator', 'submitter'], ownTask: true, handler: (r) => ({ body: { id: r.params.id } }) },
      { method: 'POST', path: '/process_ready', allow: ['callback'], handler: () => ({ body: { ok: true } }) },
      { method: 'GET', path: '/metrics', allow: ['metrics', 'operator'], handler: () => ({ body: 'm', contentType: 'text/plain' }) },
      { method: 'GET', path: '/boom', handler: () => { throw new Error('kaputt'); } },
      { method: 'GET', path: '/teapot', handler: () => { throw new HttpError(418, 'short and stout'); } },
      ...sessionRoutes({ credentials, sessions, throttle: new LoginThrottle(undefined, clock), audit, secure: false }),
      ...extraRoutes,
    ],
  });
  t.after(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });
  const call = async (method: string, route: string, headers: Record<string, string> = {}, body?: unknown) => {
    const res = await fetch(`${api.url}${route}`, {
      method, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
  };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  return { api, call, bearer, audit, advance: (ms: number) => { now += ms; } };
}

test('routes, parameters, JSON errors', async (t) => {
  const { api, call, bearer } = await server(t);
  assert.deepEqual((await call('GET', '/health')).body, { ok: true });
  const ok = await call('POST', '/tasks/a%20b/retry', bearer(TOKENS.alice), { x: 1 });
  assert.deepEqual(ok.body, { id: 'a b', got: { x: 1 }, by: 'alice' });
  assert.equal((await call('POST', '/tasks/c/retry', { ...bearer(TOKENS.alice), 'content-type': 'application/json' })).status, 200);
  const badJson = await fetch(`${api.url}/tasks/c/retry`, { method: 'POST', headers: bearer(TOKENS.alice), body: '{bad' });
  assert.equal(badJson.status, 400);
  assert.equal((await call('GET', '/nowhere', bearer(TOKENS.alice))).status, 404);
  assert.equal((await call('POST', '/health')).status, 405);
  const boom = await call('GET', '/boom', bearer(TOKENS.alice));
  assert.equal(boom.status, 500);
  assert.deepEqual(boom.body, { error: 'kaputt' });
  assert.equal((await call('GET', '/teapot', bearer(TOKENS.alice))).status, 418);
});

test('each role reaches only its routes: 401 without or with a wrong token, 403 with the wrong role', async (t) => {
  const { call, bearer } = await server(t);
  const none = await call('POST', '/tasks/x/retry');
  assert.equal(none.status, 401);
  assert.match(none.body.error, /not logged in: send Authorization: Bearer <token>/);
  const wrong = await call('POST', '/tasks/x/retry', bearer('not-a-token-at-all'));
  assert.equal(wrong.status, 401);
  assert.match(wrong.body.error, /unknown token/);
  assert.equal((await call('POST', '/tasks/x/retry', { authorization: 'Basic abc' })).status, 401);

  const matrix: [string, string, string, number][] = [
    // token, method, route, expected
    [TOKENS.callback, 'POST', '/process_ready', 200],
    [TOKENS.callback, 'POST', '/tasks/x/retry', 403],
    [TOKENS.callback, 'GET', '/metrics', 403],
    [TOKENS.callback, 'GET', '/tasks/mine', 403],
    [TOKENS.metrics, 'GET', '/metrics', 200],
    [TOKENS.metrics, 'POST', '/process_ready', 403],
    [TOKENS.metrics, 'POST', '/tasks/x/retry', 403],
    [TOKENS.ward, 'GET', '/tasks/mine', 200],
    [TOKENS.ward, 'GET', '/tasks/theirs', 403],
    [TOKENS.ward, 'POST', '/tasks/mine/retry', 403],
    [TOKENS.ward, 'POST', '/process_ready', 403],
    [TOKENS.ward, 'GET', '/metrics', 403],
    [TOKENS.alice, 'POST', '/tasks/x/retry', 200],
    [TOKENS.alice, 'GET', '/tasks/theirs', 200],
    [TOKENS.alice, 'GET', '/metrics', 200],
    [TOKENS.alice, 'POST', '/process_ready', 403],
  ];
  for (const [token, method, route, expected] of matrix) {
    const answer = await call(method, route, bearer(token), method === 'POST' ? {} : undefined);
    assert.equal(answer.status, expected, `${method} ${route} with ${token}: ${JSON.stringify(answer.body)}`);
  }
  const refused = await call('POST', '/tasks/x/retry', bearer(TOKENS.callback), {});
  assert.match(refused.body.error, /callback remote-service may not POST \/tasks\/:id\/retry: that is for operators/);
  const notTheirs = await call('GET', '/tasks/theirs', bearer(TOKENS.ward));
  assert.match(notTheirs.body.error, /task theirs was not submitted by ward/);
});

test('dashboard session: login, CSRF on changes, logout, idle and absolute expiry', async (t) => {
  const { call, advance, audit } = await server(t);
  const wrong = await call('POST', '/login', {}, { name: 'alice', password: 'guess' });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.error, 'wrong operator name or password');
  assert.equal((await call('POST', '/login', {}, { name: 'nobody', password: 'open sesame' })).status, 401);
  assert.equal((await call('POST', '/login', {}, { name: '<script>alert(1)</script>', password: 'x' })).status, 401);
  assert.equal((await call('POST', '/login', {}, { name: 'alice' })).status, 400);
  const crossSite = await call('POST', '/login', { origin: 'https://evil.example' }, { name: 'alice', password: 'open sesame' });
  assert.equal(crossSite.status, 403);

  const login = await call('POST', '/login', {}, { name: 'alice', password: 'open sesame' });
  assert.equal(login.status, 200);
  const setCookie = login.headers.get('set-cookie') ?? '';
  assert.match(setCookie, /^petspool_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/, 'no Secure flag over plain HTTP');
  const cookie = { cookie: setCookie.split(';')[0]! };
  const csrf = login.body.csrf_token as string;
  assert.deepEqual((await call('GET', '/session', cookie)).body, { name: 'alice', csrf_token: csrf });

  // A change with the cookie alone (what a cross-site form sends) is refused; with the header it goes through.
  const forged = await call('POST', '/tasks/t1/retry', cookie, {});
  assert.equal(forged.status, 403);
  assert.match(forged.body.error, /missing or wrong x-csrf-token header/);
  assert.equal((await call('POST', '/tasks/t1/retry', { ...cookie, 'x-csrf-token': 'guessed' }, {})).status, 403);
  const real = await call('POST', '/tasks/t1/retry', { ...cookie, 'x-csrf-token': csrf }, {});
  assert.equal(real.status, 200);
  assert.equal(real.body.by, 'alice');

  // Idle: each request keeps the session alive; past idle_minutes without one it has expired.
  advance(50_000);
  assert.equal((await call('GET', '/tasks/t1', cookie)).status, 200);
  advance(50_000);
  assert.equal((await call('GET', '/tasks/t1', cookie)).status, 200, 'used 50 s ago: still valid');
  advance(61_000);
  const idle = await call('GET', '/tasks/t1', cookie);
  assert.equal(idle.status, 401);
  assert.equal(idle.body.error, 'session expired, log in again');

  // Absolute: a busy session ends after max_hours all the same.
  const second = await call('POST', '/login', {}, { name: 'bob', password: 'bobs password' });
  const bobCookie = { cookie: (second.headers.get('set-cookie') ?? '').split(';')[0]! };
  for (let i = 0; i < 70; i++) {
    advance(55_000);
    const answer = await call('GET', '/tasks/t1', bobCookie);
    if (answer.status !== 200) {
      assert.equal(answer.body.error, 'session expired, log in again');
      assert.ok(i * 55_000 >= 3600_000 - 55_000, `ended after ${i} steps`);
      break;
    }
    assert.ok(i < 66, 'the session outlived max_hours');
  }

  // Logout ends the session (and needs the CSRF token like any change).
  const third = await call('POST', '/login', {}, { name: 'alice', password: 'open sesame' });
  const thirdCookie = { cookie: (third.headers.get('set-cookie') ?? '').split(';')[0]! };
  assert.equal((await call('POST', '/logout', thirdCookie, {})).status, 403);
  assert.equal((await call('POST', '/logout', { ...thirdCookie, 'x-csrf-token': third.body.csrf_token }, {})).status, 200);
  const after = await call('GET', '/tasks/t1', thirdCookie);
  assert.equal(after.status, 401);
  assert.match(after.body.error, /not logged in .*log in again/);

  const actions = (await readAuditLog(audit.file)).map((e) => `${e.who} ${e.action}`);
  assert.deepEqual(actions, ['alice login_failed', 'nobody login_failed', '(not an operator name) login_failed', 'alice login', 'alice access_denied', 'alice access_denied',
    'alice task.retry', 'bob login', 'alice login', 'alice access_denied', 'alice logout']);
});

test('password guessing is slowed: after 5 failures the account and the address are locked (429, Retry-After), doubling', async (t) => {
  const { call, advance, audit } = await server(t);
  for (let i = 1; i <= 5; i++) {
    assert.equal((await call('POST', '/login', {}, { name: 'alice', password: `guess ${i}` })).status, 401, `attempt ${i}`);
  }
  const locked = await call('POST', '/login', {}, { name: 'alice', password: 'open sesame' });
  assert.equal(locked.status, 429, 'even the right password is not tried while locked');
  assert.equal(locked.headers.get('retry-after'), '1');
  assert.match(locked.body.error, /too many failed logins: try again in 1 s/);
  // The lock is on the address too: another account from the same client waits as well.
  assert.equal((await call('POST', '/login', {}, { name: 'bob', password: 'bobs password' })).status, 429);

  advance(1001);
  assert.equal((await call('POST', '/login', {}, { name: 'alice', password: 'guess 6' })).status, 401);
  const longer = await call('POST', '/login', {}, { name: 'alice', password: 'open sesame' });
  assert.equal(longer.status, 429);
  assert.equal(longer.headers.get('retry-after'), '2', 'the delay doubles with every further failure');
  advance(2001);
  assert.equal((await call('POST', '/login', {}, { name: 'alice', password: 'open sesame' })).status, 200, 'the right password after the wait');
  assert.equal((await call('POST', '/login', {}, { name: 'alice', password: 'guess 7' })).status, 401, 'a success cleared the count');
  assert.equal((await call('POST', '/login', {}, { name: 'alice', password: 'open sesame' })).status, 200);

  // Guesses sent all at once are counted as they arrive, not when their checks end: at most 5 are heard.
  advance(3600_000 * 2);
  const parallel = await Promise.all(Array.from({ length: 8 }, (_, i) => call('POST', '/login', {}, { name: 'bob', password: `guess ${i}` })));
  assert.deepEqual(parallel.map((a) => a.status).sort(), [401, 401, 401, 401, 401, 429, 429, 429]);

  const entries = (await readAuditLog(audit.file)).filter((e) => e.who === 'alice');
  assert.equal(entries.filter((e) => e.action === 'login_failed').length, 7);
  assert.equal(entries.filter((e) => e.action === 'login_throttled').length, 2);
  assert.ok(entries.every((e) => e.client === '127.0.0.1' && e.role === 'operator' && !Number.isNaN(Date.parse(e.at))));
});

test('scrypt password strings: self-describing, salted, verified in constant time; malformed ones never match', async () => {
  const a = await hashPassword('correct horse');
  const b = await hashPassword('correct horse');
  assert.match(a, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
  assert.notEqual(a, b, 'a fresh salt each time');
  assert.equal(await verifyPassword('correct horse', a), true);
  assert.equal(await verifyPassword('correct horse', b), true);
  assert.equal(await verifyPassword('Correct horse', a), false);
  assert.equal(await verifyPassword('correct horse', 'plain-text-password'), false);
  assert.equal(await verifyPassword('x', 'scrypt$16384$8$1$$'), false);
  await assert.rejects(hashPassword(''), /empty/);
});
