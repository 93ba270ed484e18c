/**
 * Typed client of a petspool appliance's upload API, in the icometrix SDK style:
 * upload a folder → wait for the import → wait for the results → download them.
 *
 *   const client = new PetspoolClient({ url: 'https://appliance:8480', token, ca: readFileSync('hospital-ca.pem') });
 *   const upload = await client.uploadDicomDir('/data/pet');
 *   const { taskIds } = await client.waitForImport(upload.uploadId);
 *   await client.waitForResults(taskIds, { onProgress: (t) => console.log(t.id, t.state) });
 *   for (const id of taskIds) await client.downloadResults(id, `/out/${id}`);
 *
 * Built on node:http(s) (the global fetch hides some status codes, and the rest of petspool
 * speaks HTTP the same way).
 */
import http from 'node:http';
import https from 'node:https';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface PetspoolClientOptions {
  /** Base URL of the appliance's API, e.g. http://appliance:8480 */
  url: string;
  /** A submitter's token (api.submitters of the appliance), or an operator's. */
  token: string;
  /** HTTPS: PEM CA certificate(s) to trust for the appliance, when its certificate is from a private (hospital) CA. */
  ca?: string | Buffer;
  /** HTTPS: a ready agent instead (e.g. one pinning the appliance's certificate). */
  agent?: http.Agent;
  /** How often to ask while waiting (default 1000 ms). */
  pollMs?: number;
  /** Files sent at the same time (default 4). */
  concurrency?: number;
}

export type TaskState =
  | 'collecting' | 'compiled' | 'validated' | 'packed' | 'processing' | 'downloaded' | 'unpacking_sending' | 'unpacked'
  | 'awaiting_qc' | 'sending' | 'done' | 'failed' | 'aborted';

/** The stages a task goes through, in order (unpacking_sending only without, awaiting_qc only with a QC hold). */
export const TASK_STAGES: readonly TaskState[] = [
  'collecting', 'compiled', 'validated', 'packed', 'processing', 'downloaded', 'unpacking_sending', 'unpacked', 'awaiting_qc', 'sending',
  'done',
];

export interface UploadResult {
  uploadId: string;
  /** DICOM files the appliance accepted. */
  files: number;
  /** Plain sentences: "2 files are not DICOM: a.txt, b.jpg". */
  problems: string[];
}

export interface ImportResult {
  taskIds: string[];
  problems: string[];
}

/** A task as GET /tasks and GET /uploads/:id/tasks list it. */
export interface TaskSummary {
  id: string;
  state: TaskState;
  series_instance_uid: string;
  study_instance_uid: string;
  series_description: string | null;
  images: number;
  reason: string | null;
  outputs: string[];
  sender: string;
  created_at: string;
  updated_at: string;
}

/** A task while waiting for results. */
export interface TaskProgress {
  id: string;
  state: TaskState;
  reason: string | null;
  /** Position of `state` in TASK_STAGES (0-based); failed/aborted keep the last stage reached. */
  stage: number;
  stages: number;
  finished: boolean;
}

export interface ResultsOutcome {
  tasks: TaskProgress[];
  /** Every task is done. */
  allDone: boolean;
}

export interface ResultSeries {
  series: string;
  series_instance_uid: string | null;
  files: string[];
}

export interface DownloadedSeries {
  series: string;
  dir: string;
  files: number;
}

/** An answer the appliance gave that is not what was asked for. */
export class PetspoolApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'PetspoolApiError';
  }
}

/** Waiting took longer than allowed; `tasks` holds the last known progress (waitForResults). */
export class PetspoolTimeoutError extends Error {
  constructor(message: string, readonly tasks: TaskProgress[] = []) {
    super(message);
    this.name = 'PetspoolTimeoutError';
  }
}

/** The folder holds nothing the appliance could import. */
export class NoDicomFilesError extends Error {
  constructor(readonly dir: string, readonly problems: string[] = []) {
    super(`No DICOM files found in ${dir}${problems.length ? `: ${problems.join('; ')}` : ''}`);
    this.name = 'NoDicomFilesError';
  }
}

const FINISHED: ReadonlySet<TaskState> = new Set(['done', 'failed', 'aborted']);

interface UploadStatusBody {
  upload_id: string;
  state: 'uploading' | 'importing' | 'imported';
  files: number;
  problems: string[];
  task_ids: string[];
}

interface Answer { status: number; body: Buffer }

export class PetspoolClient {
  private readonly base: URL;
  private readonly pollMs: number;
  private readonly concurrency: number;

  constructor(private readonly options: PetspoolClientOptions) {
    this.base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
    this.pollMs = options.pollMs ?? 1000;
    this.concurrency = options.concurrency ?? 4;
  }

  get url(): string {
    return this.base.toString().replace(/\/$/, '');
  }

  /**
   * Send every file of `dir` (sub-folders too, dot-files skipped) as one upload and complete it.
   * Throws NoDicomFilesError when the folder is empty or none of its files is DICOM.
   */
  async uploadDicomDir(dir: string, opts: { onFile?: (done: number, total: number) => void } = {}): Promise<UploadResult> {
    const files = await listFiles(dir);
    if (files.length === 0) throw new NoDicomFilesError(dir);
    const names = uploadNames(files.map((f) => path.relative(dir, f)));
    const { upload_id: uploadId } = await this.json<UploadStatusBody>('POST', '/uploads', {});
    let next = 0;
    let done = 0;
    const worker = async () => {
      while (next < files.length) {
        const i = next++;
        const file = files[i]!;
        await this.sendFile(uploadId, names[i]!, file);
        opts.onFile?.(++done, files.length);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, files.length) }, worker));
    const status = await this.json<UploadStatusBody>('POST', `/uploads/${uploadId}/complete`, {});
    if (status.files === 0) throw new NoDicomFilesError(dir, status.problems.filter((p) => !p.startsWith('No DICOM files')));
    return { uploadId, files: status.files, problems: status.problems };
  }

  /** Resolves when every file of the upload reached its task (or was refused). */
  async waitForImport(uploadId: string, opts: { timeoutMs?: number } = {}): Promise<ImportResult> {
    const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
    for (;;) {
      const s = await this.uploadStatus(uploadId);
      if (s.state === 'imported') return { taskIds: s.task_ids, problems: s.problems };
      if (Date.now() > deadline) {
        throw new PetspoolTimeoutError(`upload ${uploadId} was not imported within ${Math.round((opts.timeoutMs ?? 120_000) / 1000)} s (state ${s.state})`);
      }
      await sleep(this.pollMs);
    }
  }

  async uploadStatus(uploadId: string): Promise<UploadStatusBody> {
    return this.json<UploadStatusBody>('GET', `/uploads/${encodeURIComponent(uploadId)}`);
  }

  async tasksForUpload(uploadId: string): Promise<TaskSummary[]> {
    return this.json<TaskSummary[]>('GET', `/uploads/${encodeURIComponent(uploadId)}/tasks`);
  }

  async task(taskId: string): Promise<TaskProgress> {
    const detail = await this.json<{ record: { id: string; state: TaskState; reason: string | null; history: { state: TaskState }[] } }>(
      'GET', `/tasks/${encodeURIComponent(taskId)}`);
    return progressOf(detail.record);
  }

  /**
   * Resolves when every task is done, failed or aborted; `onProgress` hears each task whenever
   * its state changed. Throws PetspoolTimeoutError (with the last progress) after `timeoutMs`.
   */
  async waitForResults(taskIds: string[], opts: { timeoutMs?: number; onProgress?: (task: TaskProgress) => void } = {}): Promise<ResultsOutcome> {
    const timeoutMs = opts.timeoutMs ?? 3600_000;
    const deadline = Date.now() + timeoutMs;
    const latest = new Map<string, TaskProgress>();
    for (;;) {
      for (const id of taskIds) {
        if (latest.get(id)?.finished) continue;
        const now = await this.task(id);
        if (latest.get(id)?.state !== now.state) opts.onProgress?.(now);
        latest.set(id, now);
      }
      const tasks = taskIds.map((id) => latest.get(id)!);
      if (tasks.every((t) => t.finished)) return { tasks, allDone: tasks.every((t) => t.state === 'done') };
      if (Date.now() > deadline) {
        throw new PetspoolTimeoutError(`tasks not finished within ${Math.round(timeoutMs / 1000)} s: `
          + tasks.filter((t) => !t.finished).map((t) => `${t.id} (${t.state})`).join(', '), tasks);
      }
      await sleep(this.pollMs);
    }
  }

  async results(taskId: string): Promise<ResultSeries[]> {
    return this.json<ResultSeries[]>('GET', `/tasks/${encodeURIComponent(taskId)}/results`);
  }

  /** Write every output series of a task as outDir/<series>/<file>.dcm (each file complete before it appears). */
  async downloadResults(taskId: string, outDir: string): Promise<DownloadedSeries[]> {
    const out: DownloadedSeries[] = [];
    for (const s of await this.results(taskId)) {
      const dir = path.join(outDir, s.series);
      await mkdir(dir, { recursive: true });
      for (const file of s.files) {
        const answer = await this.request('GET', `/tasks/${encodeURIComponent(taskId)}/results/${encodeURIComponent(s.series)}/${encodeURIComponent(file)}`);
        if (answer.status !== 200) throw apiError('GET', `results/${s.series}/${file}`, answer);
        const tmp = path.join(dir, `.${file}.part`);
        await writeFile(tmp, answer.body);
        await rename(tmp, path.join(dir, file));
      }
      out.push({ series: s.series, dir, files: s.files.length });
    }
    return out;
  }

  private async sendFile(uploadId: string, name: string, file: string): Promise<void> {
    const size = (await stat(file)).size;
    const answer = await this.request('PUT', `/uploads/${uploadId}/files/${encodeURIComponent(name)}`, {
      stream: () => createReadStream(file), size,
    });
    if (answer.status !== 200) throw apiError('PUT', `file ${name}`, answer);
  }

  private async json<T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
    const answer = await this.request(method, route, body === undefined ? undefined : { json: body });
    if (answer.status < 200 || answer.status >= 300) throw apiError(method, route, answer);
    return JSON.parse(answer.body.toString('utf8')) as T;
  }

  private request(method: string, route: string,
    payload?: { json: unknown } | { stream: () => NodeJS.ReadableStream; size: number }): Promise<Answer> {
    const url = new URL(route.replace(/^\//, ''), this.base);
    const transport = url.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = { authorization: `Bearer ${this.options.token}` };
    let json: Buffer | undefined;
    if (payload && 'json' in payload) {
      json = Buffer.from(JSON.stringify(payload.json));
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(json.length);
    } else if (payload) {
      headers['content-type'] = 'application/dicom';
      headers['content-length'] = String(payload.size);
    }
    return new Promise<Answer>((resolve, reject) => {
      const tls = url.protocol === 'https:' ? { agent: this.options.agent, ca: this.options.ca } : {};
      const req = transport.request(url, { method, headers, timeout: 60_000, ...tls }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from ${this.url} within 60 s`)));
      req.on('error', (err: NodeJS.ErrnoException) => reject(new PetspoolApiError(0,
        `cannot reach the appliance at ${this.url} (${err.code ?? err.message})`)));
      if (json) req.end(json);
      else if (payload && 'stream' in payload) payload.stream().on('error', (e) => req.destroy(e)).pipe(req);
      else req.end();
    });
  }
}

export function progressOf(record: { id: string; state: TaskState; reason: string | null; history: { state: TaskState }[] }): TaskProgress {
  // A failed or aborted task shows how far it got: the last ordinary stage in its history.
  const reached = [...record.history].reverse().map((h) => TASK_STAGES.indexOf(h.state)).find((i) => i >= 0) ?? 0;
  const stage = FINISHED.has(record.state) && record.state !== 'done' ? reached : Math.max(0, TASK_STAGES.indexOf(record.state));
  return {
    id: record.id, state: record.state, reason: record.reason, stage, stages: TASK_STAGES.length, finished: FINISHED.has(record.state),
  };
}

function apiError(method: string, what: string, answer: Answer): PetspoolApiError {
  let message = answer.body.toString('utf8').slice(0, 300);
  try {
    const parsed = JSON.parse(message) as { error?: unknown };
    if (typeof parsed.error === 'string') message = parsed.error;
  } catch {
    // not JSON: keep the text
  }
  const hint = answer.status === 401 ? ' (wrong or missing token)' : answer.status === 403 ? ' (not allowed for this token)' : '';
  return new PetspoolApiError(answer.status, `${method} ${what}: ${answer.status}${hint} ${message}`.trim());
}

/** Files of a folder tree, sorted, without dot-files (the hot folder skips them as well). */
async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...await listFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/**
 * Upload names (the appliance takes one path segment of plain characters): the relative path with
 * folders joined by "__", so problems name files recognisably; numbered only where two would clash.
 */
function uploadNames(relatives: string[]): string[] {
  const seen = new Set<string>();
  return relatives.map((relative, i) => {
    let name = relative.split(path.sep).join('__').replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[._-]/, '_').slice(-180);
    if (seen.has(name)) name = `${String(i).padStart(6, '0')}_${name}`;
    seen.add(name);
    return name;
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
