import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readNpy, writeNpy } from '../../src/imaging/npy.js';
import { RemoteClient, RemoteRejectedError, RemoteUnavailableError } from '../../src/remote/client.js';
import { medianFilter3 } from '../../src/reference-service/median-filter.js';
import { sha256File, type TaskMetadata } from '../../src/remote/metadata.js';
import { PROCESSING_METHOD } from '../../src/reference-service/reference-processing.js';
import { checkLicence, startReferenceService, type ReferenceService } from '../../src/reference-service/reference-service.js';
import { checkZip, extractZipSafely } from '../../src/remote/zip-extract.js';
import { packZip } from '../../src/remote/zip-pack.js';

const TOKEN = 'remote-secret';
const CALLBACK_TOKEN = 'appliance-api-token';
const CLIENT = 'site-01';
const SHAPE: [number, number, number] = [10, 16, 18];
const limits = { maxEntries: 4, maxTotalBytes: 64 * 1024 * 1024, maxEntryBytes: 64 * 1024 * 1024 };

function metadataFor(taskId: string, npySha: string, overrides: Partial<TaskMetadata> = {}): TaskMetadata {
  return {
    task_id: taskId, client_id: CLIENT, shape: SHAPE, axis_order: 'slice,row,column', spacing_mm: [3, 2, 2],
    orientation: [1, 0, 0, 0, 1, 0], units: 'BQML',
    radiopharmaceutical: { name: 'Fluorodeoxyglucose', code: 'C-B1031', nuclide: '18F' },
    half_life_s: 6586.2, dose_bq: 3.5e8, injection_datetime: '2024-05-01T08:00:00', series_date: '20240501',
    series_time: '090000', patient: { weight_kg: 70, size_m: 1.75, age: '054Y' }, scanner_model: 'Biograph',
    reconstruction: { method: 'OSEM', iterations: 3, subsets: 21 }, npy_sha256: npySha, ...overrides,
  };
}

/** A noisy phantom: a hot block on a warm background plus deterministic noise. */
function phantom(): Float32Array {
  const [S, R, C] = SHAPE;
  const data = new Float32Array(S * R * C);
  let state = 12345;
  for (let s = 0; s < S; s++) for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const hot = r >= 4 && r < 12 && c >= 5 && c < 13;
    data[(s * R + r) * C + c] = (hot ? 5000 : 1000) + ((state >>> 8) / 65536 - 128) * 4;
  }
  return data;
}

function std(values: Float32Array): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
}

/** The appliance side of the callback: records each POST /process_ready. */
interface CallbackReceiver { url: string; server: Server; calls: { taskId: string; auth?: string }[]; next(taskId: string): Promise<void> }

async function startCallbackReceiver(): Promise<CallbackReceiver> {
  const calls: { taskId: string; auth?: string }[] = [];
  const waiters = new Map<string, () => void>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const taskId = (JSON.parse(body) as { task_id: string }).task_id;
      calls.push({ taskId, auth: req.headers.authorization });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      waiters.get(taskId)?.();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/process_ready`, server, calls,
    next: (taskId) => new Promise((resolve) => {
      if (calls.some((c) => c.taskId === taskId)) resolve();
      else waiters.set(taskId, resolve);
    }),
  };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('reference processing service on loopback with a folder as the share', () => {
  let tmp: string;
  let outbox: string;
  let inbox: string;
  let service: ReferenceService;
  let receiver: CallbackReceiver;
  let client: RemoteClient;
  const input = phantom();

  /** Pack an upload into the outbox the way the uploader does; returns its file name. */
  async function upload(taskId: string, overrides: Partial<TaskMetadata> = {}): Promise<string> {
    const work = path.join(tmp, `work-${taskId}`);
    await mkdir(work);
    const npy = path.join(work, `${taskId}.npy`);
    await writeNpy(npy, input, SHAPE);
    const json = path.join(work, 'metadata.json');
    await writeFile(json, JSON.stringify(metadataFor(taskId, await sha256File(npy), overrides)));
    const name = `${taskId}_${CLIENT}.zip`;
    await packZip(path.join(outbox, name), [npy, json]);
    return name;
  }

  async function submit(taskId: string, overrides: Partial<TaskMetadata> = {}): Promise<void> {
    const inputFile = await upload(taskId, overrides);
    await client.startProcessing({ input_file: inputFile, task_id: taskId, callback_url: receiver.url, metadata: metadataFor(taskId, '0'.repeat(64)) });
  }

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'petspool-reference-'));
    outbox = path.join(tmp, 'share', 'outbox');
    inbox = path.join(tmp, 'share', 'inbox');
    await mkdir(outbox, { recursive: true });
    await mkdir(inbox, { recursive: true });
    receiver = await startCallbackReceiver();
    service = await startReferenceService({
      token: TOKEN, callbackToken: CALLBACK_TOKEN, outboxDir: outbox, inboxDir: inbox,
      licences: { active: true, radiopharmaceuticals: ['FDG', 'C-B1031'], reconstructionMethods: ['OSEM'] },
      callbackRetryDelayMs: 50,
    });
    client = new RemoteClient({ baseUrl: service.url, token: TOKEN, clientId: CLIENT, timeoutMs: 5000 });
  });
  after(async () => {
    await service.close();
    await new Promise((resolve) => receiver.server.close(resolve));
    await rm(tmp, { recursive: true, force: true });
  });

  it('processes an upload: result appears whole, verifies, is denoised, and the callback carries the token', async () => {
    const called = receiver.next('t-ok');
    await submit('t-ok');
    await called;
    assert.deepEqual(receiver.calls.find((c) => c.taskId === 't-ok')?.auth, `Bearer ${CALLBACK_TOKEN}`);
    // Only the finished archive is in the results folder: no temporary names left behind.
    assert.deepEqual(await readdir(inbox), ['t-ok_site-01.zip']);
    const zip = path.join(inbox, 't-ok_site-01.zip');
    await checkZip(zip);
    const dest = path.join(tmp, 'result-ok');
    await extractZipSafely(zip, dest, limits);
    const metadata = JSON.parse(await readFile(path.join(dest, 'metadata.json'), 'utf8')) as TaskMetadata;
    assert.equal(metadata.npy_sha256, await sha256File(path.join(dest, 't-ok.npy')));
    assert.equal(metadata.processing?.method, PROCESSING_METHOD);
    assert.equal(metadata.task_id, 't-ok');
    const result = await readNpy(path.join(dest, 't-ok.npy'));
    assert.deepEqual(result.shape, SHAPE);
    assert.deepEqual(result.data, medianFilter3(input, SHAPE), 'deterministic: exactly the documented filter');
    // Noise inside the hot block drops.
    const block = (v: Float32Array): Float32Array => v.filter((_x, i) => {
      const r = Math.floor(i / SHAPE[2]) % SHAPE[1]; const c = i % SHAPE[2];
      return r >= 5 && r < 11 && c >= 6 && c < 12;
    });
    assert.ok(std(block(result.data)) < 0.7 * std(block(input)), `std ${std(block(result.data))} vs ${std(block(input))}`);
    assert.deepEqual(await client.getTask('t-ok'), { state: 'done' });
  });

  it('answers check_model per licence: 200, 406 for an unlicensed tracer, 407 for an unknown reconstruction', async () => {
    assert.deepEqual(await client.checkModel(metadataFor('x', '0'.repeat(64))), { ok: true });
    assert.deepEqual(await client.checkModel(metadataFor('x', '0'.repeat(64), { radiopharmaceutical: { name: 'PSMA-1007', code: null, nuclide: '18F' } })),
      { ok: false, code: 406, message: 'no licence for radiopharmaceutical PSMA-1007' });
    assert.deepEqual(await client.checkModel(metadataFor('x', '0'.repeat(64), { reconstruction: { method: 'FBP' } })),
      { ok: false, code: 407, message: 'no model for reconstruction method FBP' });
    const unlicensed = await startReferenceService({ token: TOKEN, outboxDir: outbox, inboxDir: inbox, licences: { active: false } });
    try {
      const other = new RemoteClient({ baseUrl: unlicensed.url, token: TOKEN, clientId: CLIENT });
      assert.deepEqual(await other.checkModel(metadataFor('x', '0'.repeat(64))), { ok: false, code: 405, message: 'no active licence' });
    } finally {
      await unlicensed.close();
    }
    assert.equal(checkLicence({ active: true }, { radiopharmaceutical: { name: 'anything' } }).code, 200, 'no lists = everything licensed');
  });

  it('refuses requests without the token, with a path for input_file, or for a missing file', async () => {
    const noToken = new RemoteClient({ baseUrl: service.url, token: 'wrong', clientId: CLIENT });
    await assert.rejects(noToken.checkModel({}), (err: unknown) => err instanceof RemoteRejectedError && err.status === 401);
    const meta = metadataFor('t-bad', '0'.repeat(64));
    await assert.rejects(client.startProcessing({ input_file: '../secret.zip', task_id: 't-bad', callback_url: receiver.url, metadata: meta }),
      (err: unknown) => err instanceof RemoteRejectedError && err.status === 400 && /must be a file name inside the upload folder/.test(err.message));
    await assert.rejects(client.startProcessing({ input_file: 'absent.zip', task_id: 't-bad', callback_url: receiver.url, metadata: meta }),
      /input file absent\.zip not found in the upload folder/);
  });

  it('fails a task whose .npy does not match the sha256 in its metadata, and says so on GET /tasks', async () => {
    await submit('t-sha', { npy_sha256: 'f'.repeat(64) });
    const status = await waitFor('task failed', async () => {
      const s = await client.getTask('t-sha');
      return typeof s === 'object' && s.state !== 'processing' ? s : undefined;
    });
    assert.equal(status.state, 'failed');
    assert.match(status.message ?? '', /sha256 of t-sha\.npy does not match metadata\.json/);
    await assert.rejects(stat(path.join(inbox, 't-sha_site-01.zip')));
  });

  it('fault: 503 for the first N calls, then normal service (set through POST /_faults)', async () => {
    const set = await fetch(`${service.url}/_faults`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ failNextCalls: 2 }),
    });
    assert.equal(set.status, 200);
    const unauthorised = await fetch(`${service.url}/_faults`, { method: 'POST', body: '{}' });
    assert.equal(unauthorised.status, 401);
    for (let i = 0; i < 2; i++) {
      await assert.rejects(client.checkModel(metadataFor('x', '0'.repeat(64))),
        (err: unknown) => err instanceof RemoteUnavailableError && err.status === 503 && err.retryable);
    }
    assert.deepEqual(await client.checkModel(metadataFor('x', '0'.repeat(64))), { ok: true });
  });

  it('fault: slow answers time out as unavailable', async () => {
    service.setFaults({ responseDelayMs: 400 });
    try {
      const impatient = new RemoteClient({ baseUrl: service.url, token: TOKEN, clientId: CLIENT, timeoutMs: 100 });
      await assert.rejects(impatient.checkModel({}), (err: unknown) => err instanceof RemoteUnavailableError && /did not answer/.test(err.message));
    } finally {
      service.setFaults({});
    }
  });

  it('fault: never calls back, but the result is there and GET /tasks says done', async () => {
    service.setFaults({ neverCallBack: true });
    await submit('t-silent');
    await waitFor('task done', async () => ((await client.getTask('t-silent')) as { state: string }).state === 'done' || undefined);
    await checkZip(path.join(inbox, 't-silent_site-01.zip'));
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!receiver.calls.some((c) => c.taskId === 't-silent'));
    service.setFaults({});
  });

  it('fault: a corrupt result archive fails the soundness check', async () => {
    service.setFaults({ result: 'corrupt' });
    const called = receiver.next('t-corrupt');
    await submit('t-corrupt');
    await called;
    service.setFaults({});
    await assert.rejects(checkZip(path.join(inbox, 't-corrupt_site-01.zip')), /corrupt/);
  });

  it('fault: a result with a ../x entry is refused and writes nothing outside the target', async () => {
    service.setFaults({ result: 'zip-slip' });
    const called = receiver.next('t-slip');
    await submit('t-slip');
    await called;
    service.setFaults({});
    const target = path.join(tmp, 'slip', 'target');
    await assert.rejects(extractZipSafely(path.join(inbox, 't-slip_site-01.zip'), target, limits), /entry \.\.\/x escapes the folder/);
    await assert.rejects(stat(path.join(tmp, 'slip', 'x')));
    await assert.rejects(stat(target));
  });

  it('fault: a zip bomb result is small on disk and refused by the size limits', async () => {
    service.setFaults({ result: 'zip-bomb' });
    const called = receiver.next('t-bomb');
    await submit('t-bomb');
    await called;
    service.setFaults({});
    const bomb = path.join(inbox, 't-bomb_site-01.zip');
    assert.ok((await stat(bomb)).size < 8 * 1024 * 1024);
    await assert.rejects(checkZip(bomb), /t-bomb\.npy expands to 3 GiB, past the 2 GiB per-entry limit/);
  });

  it('fault: a lost task is unknown to GET /tasks and never called back', async () => {
    service.setFaults({ loseTasks: true });
    await submit('t-lost');
    service.setFaults({});
    assert.equal(await client.getTask('t-lost'), 'unknown');
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!receiver.calls.some((c) => c.taskId === 't-lost'));
    await assert.rejects(stat(path.join(inbox, 't-lost_site-01.zip')));
  });

  it('fault: no /tasks route makes getTask report unsupported', async () => {
    service.setFaults({ noTasksRoute: true });
    try {
      assert.equal(await client.getTask('t-ok'), 'unsupported');
    } finally {
      service.setFaults({});
    }
    assert.deepEqual(await client.getTask('t-ok'), { state: 'done' });
  });
});
