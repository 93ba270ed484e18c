/**
 * Upload sessions of the HTTP upload API (icometrix SDK style: start, send files, complete, then
 * follow the import). Files are streamed into a staging folder per upload (spool/uploads/<id>/),
 * never into the hot folder: on completion the whole folder is renamed into
 * incoming/upload-<id>/ in one step, so the hot-folder watcher only ever sees complete files.
 * The receiver reports the outcome of each file, which is how an upload learns its task ids.
 * A zip archive is taken as one file (checked whole on arrival) and unpacked by the hot folder's
 * zip intake; the outcomes of its entries are reported with the archive as their origin.
 *
 * Sessions live in memory: an upload interrupted by a restart is abandoned (its staging folder is
 * removed at the next start) and the client starts again.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { readInstanceHeader } from '../dicom/read-header.js';
import { TaskNotFoundError, type Spool } from '../spool/spool.js';
import type { TaskRecord } from '../spool/task-record.js';
import type { Logger } from '../log/logger.js';
import type { ReceivedFile, ReceiveOutcome } from '../stages/receiver.js';
import { fsyncPath, renameDurably } from '../spool/durable.js';
import { TMP_PREFIX } from '../spool/layout.js';
import { checkZip, ZipRefusedError, type ExtractLimits } from '../remote/zip-extract.js';
import { looksLikeZip } from '../stages/zip-intake.js';

export type UploadState = 'uploading' | 'importing' | 'imported';

/** GET /uploads/:id: what the client follows until the import is over. */
export interface UploadStatus {
  upload_id: string;
  state: UploadState;
  /** DICOM files accepted into the upload. */
  files: number;
  /** Files refused when they were sent (not DICOM, unreadable). */
  refused: number;
  /** Plain sentences for the person who sent the files ("3 files are not DICOM: ..."). */
  problems: string[];
  /** Tasks the accepted files were collected into, in order of first appearance. */
  task_ids: string[];
  created_at: string;
  completed_at: string | null;
}

/** PUT /uploads/:id/files/:name: whether the file joined the upload. */
export interface UploadedFile {
  name: string;
  accepted: boolean;
  bytes: number;
  problem?: string;
  /** For a zip archive: its file entries (checked whole when it arrived; unpacked on completion). */
  entries?: number;
}

/** Where an upload's request went wrong; the routes turn it into 404/409/400. */
export class UploadError extends Error {
  constructor(readonly problem: 'not_found' | 'conflict' | 'invalid', message: string) {
    super(message);
    this.name = 'UploadError';
  }
}

/** Upload file names: one path segment, no leading dot (the hot folder skips dot-files). */
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;
const UPLOAD_ID = /^[0-9a-f]{16}$/;
/** Prefix of an upload's folder inside the hot folder. */
export const HOT_FOLDER_PREFIX = 'upload-';
/** Finished sessions are forgotten after this long. */
const KEEP_FINISHED_MS = 24 * 3600_000;

interface Refusal { name: string; kind: 'not_dicom' | 'unreadable' | 'archive'; detail: string }

interface Session {
  id: string;
  /** The submitter (or operator) who started the upload: only they may follow it. */
  submitter: string;
  state: UploadState;
  stagingDir: string;
  hotDir: string;
  accepted: Set<string>;
  refusals: Refusal[];
  /** Outcome per accepted file name, as the receiver reports them (a zip archive: 'unpacked' or 'quarantined'). */
  outcomes: Map<string, ReceiveOutcome>;
  /** Outcome per entry of an accepted zip archive ("study.zip/PET/IM00001"). */
  entries: Map<string, ReceiveOutcome>;
  taskIds: string[];
  writing: number;
  createdAt: Date;
  completedAt: Date | null;
}

export class UploadSessions {
  /** A Service of the appliance: stop() stops listening to the receiver. */
  readonly name = 'uploads';
  private readonly sessions = new Map<string, Session>();
  private readonly stagingRoot: string;
  private readonly hotFolder: string;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly spool: Spool, private readonly receiver: { onReceived(l: (r: ReceivedFile) => void): () => void },
    private readonly log: Logger, private readonly zipLimits: ExtractLimits) {
    this.stagingRoot = path.resolve(spool.layout.folder('uploads'));
    this.hotFolder = path.resolve(spool.layout.folder('incoming'));
  }

  /** Remove what uploads of an earlier run left behind, and start listening to the receiver. */
  async start(): Promise<void> {
    await mkdir(this.stagingRoot, { recursive: true });
    const leftovers = await readdir(this.stagingRoot);
    for (const name of leftovers) await rm(path.join(this.stagingRoot, name), { recursive: true, force: true });
    if (leftovers.length) this.log.info(`removed ${leftovers.length} unfinished upload(s) of the last run`, { stage: 'uploads' });
    this.unsubscribe = this.receiver.onReceived((r) => this.noteReceived(r));
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
  }

  async create(submitter: string): Promise<UploadStatus> {
    this.forgetOldSessions();
    const id = randomBytes(8).toString('hex');
    const session: Session = {
      id, submitter, state: 'uploading', stagingDir: path.join(this.stagingRoot, id), hotDir: path.join(this.hotFolder, `${HOT_FOLDER_PREFIX}${id}`),
      accepted: new Set(), refusals: [], outcomes: new Map(), entries: new Map(), taskIds: [], writing: 0, createdAt: new Date(), completedAt: null,
    };
    await mkdir(session.stagingDir);
    this.sessions.set(id, session);
    return this.status(id);
  }

  /**
   * Stream one file into the upload's staging folder (temporary name, fsync), then keep it only if
   * it is a readable DICOM file or a sound zip archive within zip_intake's limits: the answer says
   * so at once, the refusal also shows in the status.
   */
  async addFile(id: string, name: string, body: Readable): Promise<UploadedFile> {
    const session = this.session(id);
    if (session.state !== 'uploading') throw new UploadError('conflict', `upload ${id} is already complete; start a new upload`);
    if (!FILE_NAME.test(name)) {
      throw new UploadError('invalid', `file name "${name}" is not allowed: use 1-200 letters, digits, ., _ or -, not starting with a dot`);
    }
    session.writing++;
    const tmp = path.join(session.stagingDir, `${TMP_PREFIX}${name}`);
    try {
      const bytes = await writeSynced(tmp, body);
      const archive = await looksLikeZip(tmp) ? await checkArchive(tmp, name, this.zipLimits) : undefined;
      const refusal = archive ? archive.refusal : checkDicom(tmp, name);
      session.refusals = session.refusals.filter((r) => r.name !== name);
      if (refusal) {
        await rm(tmp, { force: true });
        session.accepted.delete(name);
        session.refusals.push(refusal);
        return { name, accepted: false, bytes, problem: refusal.detail };
      }
      await rename(tmp, path.join(session.stagingDir, name));
      session.accepted.add(name);
      return { name, accepted: true, bytes, ...(archive ? { entries: archive.entries } : {}) };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    } finally {
      session.writing--;
    }
  }

  /** Hand the upload to the hot folder (one rename) and let the import run. */
  async complete(id: string): Promise<UploadStatus> {
    const session = this.session(id);
    if (session.state !== 'uploading') return this.status(id);
    if (session.writing > 0) throw new UploadError('conflict', `upload ${id} still has ${session.writing} file(s) being sent; complete it after they are sent`);
    session.completedAt = new Date();
    if (session.accepted.size === 0) {
      session.state = 'imported';
      await rm(session.stagingDir, { recursive: true, force: true });
    } else {
      session.state = 'importing';
      await fsyncPath(session.stagingDir);
      await renameDurably(session.stagingDir, session.hotDir);
      this.log.info(`upload ${id}: ${session.accepted.size} file(s) handed to the hot folder`, { stage: 'uploads' });
    }
    return this.status(id);
  }

  status(id: string): UploadStatus {
    const s = this.session(id);
    return {
      upload_id: s.id, state: s.state, files: s.accepted.size, refused: s.refusals.length, problems: problemsOf(s),
      task_ids: [...s.taskIds], created_at: s.createdAt.toISOString(), completed_at: s.completedAt?.toISOString() ?? null,
    };
  }

  /** Who started the upload. */
  submitterOf(id: string): string {
    return this.session(id).submitter;
  }

  /**
   * Whether `name` submitted the task: an upload of this run collected files into it, or its
   * task.json says so (facts.submitted_by, written when the files were collected).
   */
  async submitted(name: string, taskId: string): Promise<boolean> {
    for (const s of this.sessions.values()) if (s.submitter === name && s.taskIds.includes(taskId)) return true;
    try {
      return submittersOf((await this.spool.locateTask(taskId)).record).includes(name);
    } catch (err) {
      if (err instanceof TaskNotFoundError) return false;
      throw err;
    }
  }

  private session(id: string): Session {
    const s = UPLOAD_ID.test(id) ? this.sessions.get(id) : undefined;
    if (!s) throw new UploadError('not_found', `no upload ${id} (uploads are forgotten after a day or a restart)`);
    return s;
  }

  private noteReceived({ file, outcome, origin }: ReceivedFile): void {
    const resolved = path.resolve(origin?.archive ?? file);
    const folder = path.basename(path.dirname(resolved));
    if (path.dirname(path.dirname(resolved)) !== this.hotFolder || !folder.startsWith(HOT_FOLDER_PREFIX)) return;
    const s = this.sessions.get(folder.slice(HOT_FOLDER_PREFIX.length));
    const name = path.basename(resolved);
    if (!s || !s.accepted.has(name)) return;
    // An entry of an uploaded zip: its archive is done when the zip intake reports the archive itself.
    if (origin) s.entries.set(`${name}/${origin.entry}`, outcome);
    else s.outcomes.set(name, outcome);
    if (outcome.kind === 'collected' && !s.taskIds.includes(outcome.taskId)) {
      s.taskIds.push(outcome.taskId);
      this.recordSubmitter(outcome.taskId, s.submitter).catch((err: Error) => this.log.error(
        `cannot record submitter ${s.submitter} on task ${outcome.taskId}: ${err.message}`, { stage: 'uploads', task: outcome.taskId }));
    }
    if (s.state === 'importing' && s.outcomes.size >= s.accepted.size) {
      s.state = 'imported';
      this.log.info(`upload ${s.id} imported: ${s.taskIds.length} task(s)`, { stage: 'uploads' });
    }
  }

  /** facts.submitted_by on the task, wherever it is now (it may move on meanwhile: look again). */
  private async recordSubmitter(taskId: string, name: string): Promise<void> {
    for (;;) {
      const { folder, record } = await this.spool.locateTask(taskId);
      if (submittersOf(record).includes(name)) return;
      try {
        await this.spool.updateTask(taskId, folder, (r) => ({ ...r, facts: { ...r.facts, submitted_by: [...submittersOf(r), name] } }));
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }

  private forgetOldSessions(now = Date.now()): void {
    for (const [id, s] of this.sessions) {
      if (s.state === 'imported' && s.completedAt && now - s.completedAt.getTime() > KEEP_FINISHED_MS) this.sessions.delete(id);
    }
  }
}

/** The submitters recorded on a task (several when uploads of the same series were sent by different submitters). */
export function submittersOf(record: TaskRecord): string[] {
  const by = record.facts.submitted_by;
  return Array.isArray(by) ? by.filter((n): n is string => typeof n === 'string') : [];
}

async function writeSynced(file: string, body: Readable): Promise<number> {
  const out = createWriteStream(file, { flags: 'w' });
  let bytes = 0;
  body.on('data', (chunk: Buffer) => { bytes += chunk.length; });
  await pipeline(body, out);
  const fh = await open(file, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  return bytes;
}

/** A zip archive is read through whole (names, limits, CRCs), so a damaged or hostile one is refused at once. */
async function checkArchive(file: string, name: string, limits: ExtractLimits): Promise<{ refusal?: Refusal; entries: number }> {
  try {
    return { entries: (await checkZip(file, limits)).length };
  } catch (err) {
    if (!(err instanceof ZipRefusedError)) throw err;
    return { refusal: { name, kind: 'archive', detail: `zip archive refused: ${err.message}` }, entries: 0 };
  }
}

/** Only the header is read: enough to know the file is DICOM with the identifiers the receiver needs. */
function checkDicom(file: string, name: string): Refusal | undefined {
  try {
    readInstanceHeader(file);
    return undefined;
  } catch (err) {
    const message = (err as Error).message;
    return { name, kind: message.startsWith('not a DICOM file') ? 'not_dicom' : 'unreadable', detail: message };
  }
}

/** Counted, plain sentences: what a radiographer needs to know about the files, not a log. */
function problemsOf(s: Session): string[] {
  const problems: string[] = [];
  const notDicom = s.refusals.filter((r) => r.kind === 'not_dicom');
  if (notDicom.length) problems.push(`${files(notDicom.length)} not DICOM: ${listed(notDicom.map((r) => r.name))}`);
  for (const r of s.refusals.filter((x) => x.kind === 'unreadable')) problems.push(`${r.name} is damaged DICOM (${r.detail})`);
  for (const r of s.refusals.filter((x) => x.kind === 'archive')) problems.push(`${r.name}: ${r.detail}`);
  if (s.state !== 'uploading' && s.accepted.size === 0) problems.push('No DICOM files in this upload');
  for (const [name, o] of s.outcomes) {
    if (o.kind === 'unpacked' && o.skipped.length) {
      problems.push(`${name}: ${o.skipped.length === 1 ? '1 entry is' : `${o.skipped.length} entries are`} not DICOM and ${o.skipped.length === 1 ? 'was' : 'were'} not imported: ${listed(o.skipped)}`);
    }
  }
  const grouped = new Map<string, string[]>();
  for (const [name, o] of [...s.outcomes, ...s.entries]) {
    const key = o.kind === 'ignored' ? `ignored (${o.why})`
      : o.kind === 'quarantined' ? `refused: ${o.reason} (task ${o.taskId})`
        : o.kind === 'skipped' ? `skipped (${o.why})` : undefined;
    if (key) grouped.set(key, [...(grouped.get(key) ?? []), name]);
  }
  for (const [what, names] of grouped) {
    problems.push(`${names.length} ${names.length === 1 ? 'file was' : 'files were'} ${what}: ${listed(names)}`);
  }
  return problems;
}

function files(n: number): string {
  return n === 1 ? '1 file is' : `${n} files are`;
}

function listed(names: string[], max = 5): string {
  const sorted = [...names].sort();
  return sorted.length <= max ? sorted.join(', ') : `${sorted.slice(0, max).join(', ')} and ${sorted.length - max} more`;
}
