import { createServer, type Agent, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { silentLogger, type Logger } from '../log/logger.js';
import { collectGarbage } from '../util/collect-garbage.js';
import { httpRequest } from '../remote/client.js';
import { loadTlsFiles } from '../tls/pem-files.js';
import { processUpload } from './reference-processing.js';
import { referenceFaultsSchema, type ReferenceFaults } from './reference-faults.js';

/**
 * The reference processing service: a real HTTP server with the remote service's contract
 * (DESIGN.md, "Remote service contract"), used embedded by the demo and tests, or standalone as
 * `petspool reference-server`. It can be told to fail like real services do (reference-faults.ts).
 */

export interface ReferenceLicences {
  active: boolean;
  /** Licensed radiopharmaceuticals, by name or code (case-insensitive); empty or absent = all. */
  radiopharmaceuticals?: string[];
  /** Reconstruction methods there is a model for (case-insensitive); empty or absent = all. */
  reconstructionMethods?: string[];
}

export interface ReferenceServiceOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** Bearer token callers must send. */
  token: string;
  /** Token sent on the callback (the appliance's api.callback_token); default `token`. */
  callbackToken?: string;
  /** How an https callback URL is trusted (embedded: the appliance's own certificate, pinned); default the system CAs. */
  callbackAgent?: Agent;
  /** Where uploads appear (the share's upload folder, `share.outbox` seen from the appliance). */
  outboxDir: string;
  /** Where results are written (`share.inbox` seen from the appliance). */
  inboxDir: string;
  licences: ReferenceLicences;
  faults?: ReferenceFaults;
  logger?: Logger;
  /** Callback attempts before giving up (default 5), first retry after callbackRetryDelayMs (default 500), doubling. */
  callbackAttempts?: number;
  callbackRetryDelayMs?: number;
  /** Serve https with this certificate and key (PEM files) instead of http. */
  tls?: { certFile: string; keyFile: string };
  /** An https callback URL's certificate is checked against this CA (PEM file); absent = the system's trust store. */
  callbackCaFile?: string;
}

export interface ReferenceService {
  url: string;
  port: number;
  /** Current faults (a copy); change them with setFaults or POST /_faults. */
  faults(): ReferenceFaults;
  setFaults(faults: ReferenceFaults): void;
  /** Stop listening, abandon callback retries and wait for running tasks to end. */
  close(): Promise<void>;
}

export type TaskState = 'processing' | 'done' | 'failed';
interface TaskRecord { state: TaskState; message?: string }

export interface LicenceVerdict { code: 200 | 405 | 406 | 407; message: string }

/** Only what the licence check reads; the validator asks before the volume (and its sha256) exists. */
const licenceQuerySchema = z.looseObject({
  radiopharmaceutical: z.looseObject({ name: z.string().nullish(), code: z.string().nullish() }).nullish(),
  reconstruction: z.looseObject({ method: z.string().nullish() }).nullish(),
});
type LicenceQuery = z.infer<typeof licenceQuerySchema>;

/** 200, or the licence code the contract defines: 405 none active, 406 tracer, 407 reconstruction. */
export function checkLicence(licences: ReferenceLicences, query: LicenceQuery): LicenceVerdict {
  if (!licences.active) return { code: 405, message: 'no active licence' };
  const lower = (list?: string[]): string[] => (list ?? []).map((s) => s.toLowerCase());
  const tracers = lower(licences.radiopharmaceuticals);
  const tracer = query.radiopharmaceutical;
  const tracerKeys = [tracer?.name, tracer?.code].filter((s): s is string => !!s).map((s) => s.toLowerCase());
  if (tracers.length > 0 && !tracerKeys.some((k) => tracers.includes(k))) {
    return { code: 406, message: `no licence for radiopharmaceutical ${tracer?.name ?? tracer?.code ?? '(none given)'}` };
  }
  const methods = lower(licences.reconstructionMethods);
  const method = query.reconstruction?.method;
  if (methods.length > 0 && !(method && methods.includes(method.toLowerCase()))) {
    return { code: 407, message: `no model for reconstruction method ${method ?? '(none given)'}` };
  }
  return { code: 200, message: 'model available' };
}

const idPattern = /^[A-Za-z0-9._-]{1,128}$/;
const processingSchema = z.object({
  input_file: z.string(),
  client_id: z.string().regex(idPattern, 'must be 1-128 letters, digits, ., _ or -'),
  task_id: z.string().regex(idPattern, 'must be 1-128 letters, digits, ., _ or -'),
  callback_url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  metadata: licenceQuerySchema,
});

class HttpError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

const MAX_BODY_BYTES = 1024 * 1024;

export async function startReferenceService(opts: ReferenceServiceOptions): Promise<ReferenceService> {
  const log = opts.logger ?? silentLogger;
  let faults: ReferenceFaults = { ...opts.faults };
  const tasks = new Map<string, TaskRecord>();
  const running = new Set<Promise<void>>();
  const stopping = new AbortController();
  const callbackAttempts = opts.callbackAttempts ?? 5;
  const callbackRetryDelayMs = opts.callbackRetryDelayMs ?? 500;

  async function route(req: IncomingMessage, url: URL): Promise<{ status: number; body: unknown }> {
    const method = req.method ?? 'GET';
    if (url.pathname === '/_faults') {
      requireToken(req);
      if (method === 'POST') {
        const parsed = referenceFaultsSchema.safeParse(await readJson(req));
        if (!parsed.success) throw new HttpError(400, `invalid faults: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
        faults = parsed.data;
        log.warn('reference service: faults set', { faults });
      }
      return { status: 200, body: faults };
    }

    if (faults.responseDelayMs) await sleep(faults.responseDelayMs, undefined, { signal: stopping.signal });
    if (faults.failNextCalls && faults.failNextCalls > 0) {
      faults = { ...faults, failNextCalls: faults.failNextCalls - 1 };
      throw new HttpError(503, 'service temporarily unavailable (injected fault)');
    }

    const taskMatch = /^\/tasks\/([^/]+)$/.exec(url.pathname);
    if (method === 'POST' && url.pathname === '/check_model') {
      requireToken(req);
      const query = licenceQuerySchema.safeParse(await readJson(req));
      if (!query.success) throw new HttpError(400, 'body must be the task metadata');
      const verdict = checkLicence(opts.licences, query.data);
      return { status: verdict.code, body: { message: verdict.message } };
    }
    if (method === 'POST' && url.pathname === '/processing') {
      requireToken(req);
      return acceptProcessing(await readJson(req));
    }
    if (method === 'GET' && taskMatch && !faults.noTasksRoute) {
      requireToken(req);
      const taskId = decodeURIComponent(taskMatch[1]);
      const task = tasks.get(taskId);
      if (!task) return { status: 404, body: { message: 'unknown task' } };
      return { status: 200, body: { task_id: taskId, ...task } };
    }
    return { status: 404, body: `Cannot ${method} ${url.pathname}` };
  }

  async function acceptProcessing(body: unknown): Promise<{ status: number; body: unknown }> {
    const parsed = processingSchema.safeParse(body);
    if (!parsed.success) {
      throw new HttpError(400, `invalid request: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    const request = parsed.data;
    // input_file names a file inside the upload folder, never a path.
    if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(request.input_file) || request.input_file.includes('..')) {
      throw new HttpError(400, `input_file ${JSON.stringify(request.input_file)} must be a file name inside the upload folder`);
    }
    const verdict = checkLicence(opts.licences, request.metadata);
    if (verdict.code !== 200) throw new HttpError(verdict.code, verdict.message);
    const archivePath = path.join(opts.outboxDir, request.input_file);
    const st = await stat(archivePath).catch(() => null);
    if (!st?.isFile()) throw new HttpError(400, `input file ${request.input_file} not found in the upload folder`);

    if (tasks.get(request.task_id)?.state === 'processing') return { status: 200, body: { response: 'Processing' } };
    if (faults.loseTasks) {
      log.warn('reference service: losing task (injected fault)', { task: request.task_id });
      return { status: 200, body: { response: 'Processing' } };
    }
    tasks.set(request.task_id, { state: 'processing' });
    const work = runTask(request.task_id, request.client_id, archivePath, request.callback_url)
      .finally(() => running.delete(work));
    running.add(work);
    return { status: 200, body: { response: 'Processing' } };
  }

  async function runTask(taskId: string, clientId: string, archivePath: string, callbackUrl: string): Promise<void> {
    const taskLog = log.child({ task: taskId, stage: 'reference' });
    try {
      if (faults.processingDelayMs) await sleep(faults.processingDelayMs, undefined, { signal: stopping.signal });
      const started = Date.now();
      const result = await processUpload({ archivePath, taskId, clientId, inboxDir: opts.inboxDir, result: faults.result });
      // The task's volumes are garbage now: collect them in the service's own time, before the
      // appliance (same process) needs the memory for the result.
      collectGarbage();
      tasks.set(taskId, { state: 'done' });
      const processingMs = Date.now() - started;
      // processing_ms as a field: the end-to-end benchmark subtracts the service's own time.
      taskLog.info(`processed in ${processingMs} ms, result ${path.basename(result)}`, { processing_ms: processingMs });
    } catch (err) {
      if (stopping.signal.aborted) return;
      tasks.set(taskId, { state: 'failed', message: (err as Error).message });
      taskLog.warn(`processing failed: ${(err as Error).message}`);
      return;
    }
    if (faults.neverCallBack) {
      taskLog.warn('not calling back (injected fault)');
      return;
    }
    await callBack(taskId, callbackUrl, taskLog);
  }

  async function callBack(taskId: string, callbackUrl: string, taskLog: Logger): Promise<void> {
    for (let attempt = 1; attempt <= callbackAttempts && !stopping.signal.aborted; attempt++) {
      let outcome: string;
      try {
        const ca = opts.callbackCaFile ? loadTlsFiles({ where: '--callback', caFile: opts.callbackCaFile }).ca : undefined;
        const res = await httpRequest(new URL(callbackUrl), 'POST', opts.callbackToken ?? opts.token, { task_id: taskId }, 10_000, stopping.signal,
          { ca, agent: opts.callbackAgent });
        if (res.status >= 200 && res.status < 300) {
          taskLog.info('called back');
          return;
        }
        outcome = `HTTP ${res.status}`;
        // A refusal (bad token, unknown task) will not change on retry.
        if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
          taskLog.warn(`callback refused (${outcome}); not retrying`);
          return;
        }
      } catch (err) {
        outcome = (err as Error).message;
      }
      taskLog.warn(`callback attempt ${attempt}/${callbackAttempts} failed: ${outcome}`);
      if (attempt < callbackAttempts) {
        await sleep(callbackRetryDelayMs * 2 ** (attempt - 1), undefined, { signal: stopping.signal }).catch(() => undefined);
      }
    }
  }

  function requireToken(req: IncomingMessage): void {
    if (req.headers.authorization !== `Bearer ${opts.token}`) throw new HttpError(401, 'missing or wrong bearer token');
  }

  const handle: RequestListener = (req, res) => {
    const url = new URL(req.url ?? '/', 'http://reference');
    route(req, url).then(
      ({ status, body }) => send(res, status, body),
      (err: unknown) => {
        if (err instanceof HttpError) send(res, err.status, { message: err.message });
        else if (stopping.signal.aborted) send(res, 503, { message: 'service is stopping' });
        else {
          log.error(`reference service: ${req.method} ${url.pathname} failed: ${(err as Error).message}`);
          send(res, 500, { message: 'internal error' });
        }
      },
    );
  };
  const server = opts.tls
    ? createHttpsServer({ ...loadTlsFiles({ where: '--tls', certFile: opts.tls.certFile, keyFile: opts.tls.keyFile }), minVersion: 'TLSv1.2' }, handle)
    : createServer(handle);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host ?? '127.0.0.1';
  const url = `${opts.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info(`reference processing service listening on ${url}`);

  return {
    url,
    port,
    faults: () => ({ ...faults }),
    setFaults: (next) => { faults = referenceFaultsSchema.parse(next); },
    async close() {
      stopping.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await Promise.allSettled([...running]);
    },
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  if (typeof body === 'string') {
    // Plain text, as a web framework's "no such route" page: clients must not mistake it for JSON.
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end(body);
  } else {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'request body too large');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
  } catch {
    throw new HttpError(400, 'request body is not JSON');
  }
}
