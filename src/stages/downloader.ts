/**
 * Downloader stage: processing/ -> downloaded/. Waits for `{task_id}_{client_id}.zip` in the
 * share's results folder (share.inbox), verifies it and keeps it in the task folder as
 * `result.zip` ({task_id}.npy + metadata.json).
 *
 * - The share may be an SMB/NFS mount where inotify sees nothing the other side writes, so the
 *   folder is polled every share.poll_seconds; the service's callback (POST /process_ready) makes
 *   the runner look at once.
 * - A file is taken only once complete: announced by the callback, or unchanged in size and mtime
 *   since the previous look, or older than one poll interval.
 * - It is read from the share once, copied into the task folder, and checked there in memory
 *   (result-archive.ts): every entry (names, sizes within limits sized for the uploaded volume,
 *   CRC-32 but for the .npy), the .npy's sha256 against metadata.json; the copy is fsynced
 *   meanwhile and renamed to `result.zip` once sound. Only then is the archive removed from the
 *   share, together with the upload it answers. The verified volume goes to the unpacker in
 *   memory (result-handoff.ts).
 * - A crash before the rename leaves a `.tmp-` folder (removed by start-up recovery) and the
 *   archive on the share, which is taken again; a crash after it leaves `result.zip`, and the task
 *   moves on even if the archive is already off the share.
 * - A damaged archive may still be being written: it is looked at again and fails the task when it
 *   stays damaged. An archive that breaks the rules (an entry escaping the folder, a zip bomb) is
 *   refused at once.
 * - Without a result remote.processing_timeout_seconds after the upload, the service is asked
 *   (GET /tasks/{id}); a task it lost, failed or cannot report on fails with that reason.
 * - `tasks retry` of a task this stage failed sends it back to packed/: it is uploaded again.
 */
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Stats } from 'node:fs';
import type { ApplianceParts } from '../runner/appliance-parts.js';
import { RemoteUnavailableError, type RemoteClient, type RemoteTaskStatus } from '../remote/client.js';
import { parseTaskMetadata } from '../remote/metadata.js';
import {
  LEGACY_RESULT_DIR, placeResultArchive, readPlacedResult, RESULT_ARCHIVE, resultArchiveLimits, ResultArchiveError, ResultChecksumError,
  type VerifiedResult,
} from '../remote/result-archive.js';
import { DEFAULT_ARCHIVE_LIMITS, ZipRefusedError, type ExtractLimits } from '../remote/zip-extract.js';
import { voxelCount } from '../imaging/volume.js';
import type { Stage, StageJob, StageOutcome } from '../runner/stage.js';
import type { TaskRecord } from '../spool/task-record.js';
import { archiveNameFor, METADATA_FILE } from '../remote/upload-archive.js';
import { metrics } from '../metrics/metrics.js';
import type { SourceHeaderPrefetch } from './source-header-prefetch.js';
import type { ResultHandoff } from './result-handoff.js';

/** Limits a result archive must keep when the uploaded volume's size is unknown: plain names, no bomb. */
export const RESULT_LIMITS: ExtractLimits = { ...DEFAULT_ARCHIVE_LIMITS, allowedNames: /^[A-Za-z0-9._-]+$/ };

/** Looks at an unchanged damaged archive before the task fails. */
const DAMAGED_LOOKS = 3;

/** ZipRefusedError messages (zip-extract.ts) that mean damaged bytes, which a writer still busy may fix. */
const DAMAGE_PATTERN = /is corrupt|is truncated|not a readable zip|central directory is damaged|could not be opened/;

export interface DownloaderOptions {
  /** How often the results folder is looked at (default share.poll_seconds). */
  pollMs?: number;
  /** Retry backoff when the share or the service cannot be reached (default poll interval doubling to 5 min). */
  backoff?: { initialMs: number; maxMs: number };
  /**
   * With the embedded service: when it started. It runs inside the appliance, so a task uploaded
   * before (by a run that was stopped or killed) was never processed and is uploaded again.
   */
  embeddedSince?: number;
  /** Reads the source headers of a waiting task ahead of the unpacker. */
  prefetch?: SourceHeaderPrefetch;
  /** Where the verified result goes for the unpacker, in memory. */
  results?: ResultHandoff;
}

interface FileLook { size: number; mtimeMs: number }

export function downloaderStage(parts: Pick<ApplianceParts, 'config'>, remote: RemoteClient, opts: DownloaderOptions = {}): Stage {
  const { config } = parts;
  const inbox = config.share.inbox;
  const pollMs = opts.pollMs ?? config.share.poll_seconds * 1000;
  const timeoutMs = config.remote.processing_timeout_seconds * 1000;
  // Once overdue, the service is asked at most this often.
  const askEveryMs = Math.max(pollMs, Math.min(60_000, timeoutMs));
  // Size and mtime of each task's result at the previous look (lost on restart: one more poll then).
  const lastLook = new Map<string, FileLook>();

  async function waitingForResult(job: StageJob): Promise<StageOutcome> {
    const now = Date.now();
    const facts = job.record.facts;
    const since = Date.parse(String(facts.uploaded_at ?? enteredProcessingAt(job.record)));
    if (opts.embeddedSince !== undefined && since < opts.embeddedSince) {
      return { kind: 'done', to: 'packed', detail: 'the embedded processing service restarted with the appliance: uploading again' };
    }
    if (!(now - since >= timeoutMs)) return { kind: 'wait', afterMs: pollMs };
    const lastAsked = Date.parse(String(facts.remote_checked_at ?? ''));
    if (now - lastAsked < askEveryMs) return { kind: 'wait', afterMs: pollMs };

    let status: RemoteTaskStatus;
    try {
      status = await remote.getTask(job.id);
    } catch (err) {
      if (err instanceof RemoteUnavailableError) return { kind: 'retry', reason: `no result yet and ${err.message}` };
      return { kind: 'fail', reason: `no result after ${timeoutMs / 1000} s, and asking the remote service failed: ${(err as Error).message}` };
    }
    const overdue = `no result after ${Math.round((now - since) / 1000)} s`;
    if (status === 'unknown') return { kind: 'fail', reason: `the remote service has lost task ${job.id} (${overdue}; it does not know the task)` };
    if (status === 'unsupported') {
      return { kind: 'fail', reason: `${overdue}, and the remote service cannot report on tasks (it has no GET /tasks/{id} route)` };
    }
    if (status.state === 'failed') return { kind: 'fail', reason: `the remote service failed the task: ${status.message ?? '(no message)'}` };
    // The service could be asked: a retry delay from an earlier outage no longer counts.
    const checked = { remote_checked_at: new Date(now).toISOString(), remote_state: status.state, retrying_since: undefined };
    if (status.state === 'done') {
      const doneSince = Date.parse(String(facts.remote_done_at ?? new Date(now).toISOString()));
      if (now - doneSince >= timeoutMs) {
        return { kind: 'fail', reason: `the remote service reports task ${job.id} done, but its result never appeared in ${inbox}` };
      }
      job.log.warn(`the remote service reports the task done; waiting for its result in ${inbox}`);
      return { kind: 'wait', afterMs: pollMs, facts: { ...checked, remote_done_at: new Date(doneSince).toISOString() } };
    }
    job.log.info(`${overdue}; the remote service says "${status.state}", waiting on`);
    return { kind: 'wait', afterMs: pollMs, facts: checked };
  }

  /** Damaged bytes: look again later (the writer may still be busy), fail when they stay so. */
  function damaged(job: StageJob, file: Stats, reason: string): StageOutcome {
    const previous = job.record.facts.result_damage as { size: number; mtime_ms: number; looks: number } | undefined;
    const same = previous && previous.size === file.size && previous.mtime_ms === file.mtimeMs;
    const looks = same ? previous.looks + 1 : 1;
    if (looks >= DAMAGED_LOOKS) {
      return { kind: 'fail', reason: `the result archive is damaged: ${reason} (unchanged after ${looks} looks)` };
    }
    job.log.warn(`result archive damaged (look ${looks} of ${DAMAGED_LOOKS}): ${reason}`);
    return {
      kind: 'wait', afterMs: pollMs,
      facts: { result_damage: { size: file.size, mtime_ms: file.mtimeMs, looks }, last_error: `result archive damaged: ${reason}` },
    };
  }

  /** Copy, check and place `result.zip`; the outcome says what to do when the archive is not usable. */
  async function take(job: StageJob, shared: string, file: Stats): Promise<StageOutcome | VerifiedResult> {
    try {
      const result = await placeResultArchive(shared, job.dir, job.id, await limitsFor(job.dir));
      metrics.add('bytes_downloaded_total', file.size);
      return result;
    } catch (err) {
      if (err instanceof ZipRefusedError) {
        if (!(await exists(shared))) return { kind: 'wait', afterMs: pollMs };
        if (DAMAGE_PATTERN.test(err.message)) return damaged(job, file, err.message);
        return { kind: 'fail', reason: `the result archive was refused: ${err.message}` };
      }
      if (err instanceof ResultArchiveError) return { kind: 'fail', reason: `the result archive is not usable: ${err.message}` };
      if (err instanceof ResultChecksumError) return damaged(job, file, err.message);
      if (!(await exists(shared))) return { kind: 'wait', afterMs: pollMs };
      throw err;
    }
  }

  /** The result is in place: clear the share of it and of the upload it answers. */
  async function finish(job: StageJob, archive: string, result: VerifiedResult, detail: string): Promise<StageOutcome> {
    opts.results?.put(job.id, result);
    await rm(path.join(inbox, archive), { force: true }).then(
      () => job.log.info(`took ${archive} from the share`),
      (err: Error) => job.log.warn(`result taken, but ${archive} could not be removed from the share: ${err.message}`),
    );
    // The service is done with the upload; the task folder keeps its own copy.
    await rm(path.join(config.share.outbox, archive), { force: true })
      .catch((err: Error) => job.log.warn(`the upload ${archive} could not be removed from the share: ${err.message}`));
    return {
      kind: 'done',
      detail,
      facts: { downloaded_at: new Date().toISOString(), result_sha256: result.npySha256, result_damage: undefined, last_error: undefined },
    };
  }

  return {
    name: 'downloader',
    from: 'processing',
    to: 'downloaded',
    concurrency: 4,
    giveUpAfterMs: config.remote.give_up_after_seconds * 1000,
    backoff: opts.backoff ?? { initialMs: pollMs, maxMs: 300_000 },
    async process(job: StageJob): Promise<StageOutcome> {
      const archive = archiveNameFor(job.id, config.remote.client_id);
      const shared = path.join(inbox, archive);
      if (retriedAfterFailure(job.record)) return uploadAgain(shared, job.dir);
      void opts.prefetch?.start(job.id, job.dir);
      let file: Stats;
      try {
        file = await stat(shared);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'ENOENT') {
          // Placed before a restart that came before the share was cleared.
          const placed = await readPlacedResult(job.dir, job.id, await limitsFor(job.dir));
          if (placed) return finish(job, archive, placed, `result ${archive} downloaded (taken before a restart)`);
          return waitingForResult(job);
        }
        return { kind: 'retry', reason: `cannot read the share's results folder ${inbox}: ${e.code ?? e.message}` };
      }

      const previous = lastLook.get(job.id);
      lastLook.set(job.id, { size: file.size, mtimeMs: file.mtimeMs });
      const announced = job.record.facts.callback_at !== undefined;
      const unchanged = previous !== undefined && previous.size === file.size && previous.mtimeMs === file.mtimeMs;
      const settled = Date.now() - file.mtimeMs >= pollMs;
      if (!announced && !unchanged && !settled) return { kind: 'wait', afterMs: pollMs };

      const taken = await take(job, shared, file);
      if ('kind' in taken) {
        if (taken.kind === 'fail') lastLook.delete(job.id);
        return taken;
      }
      lastLook.delete(job.id);
      return finish(job, archive, taken, `result ${archive} downloaded`);
    },
  };
}

/**
 * Limits sized for the uploaded volume (the task folder's metadata.json), within RESULT_LIMITS:
 * the archive is written to local disk, so a bomb or a wrong volume is stopped at its size.
 */
async function limitsFor(taskDir: string): Promise<ExtractLimits> {
  let voxels: number;
  try {
    voxels = voxelCount(parseTaskMetadata(JSON.parse(await readFile(path.join(taskDir, METADATA_FILE), 'utf8')) as unknown).shape);
  } catch {
    return RESULT_LIMITS;
  }
  const sized = resultArchiveLimits(voxels);
  return {
    maxEntries: Math.min(sized.maxEntries, RESULT_LIMITS.maxEntries),
    maxEntryBytes: Math.min(sized.maxEntryBytes, RESULT_LIMITS.maxEntryBytes),
    maxTotalBytes: Math.min(sized.maxTotalBytes, RESULT_LIMITS.maxTotalBytes),
    allowedNames: RESULT_LIMITS.allowedNames,
  };
}

/**
 * Put back by `tasks retry` after this stage failed it (the service lost or failed the task, or its
 * result was refused): waiting again would only repeat the failure, so the task is processed again.
 */
function retriedAfterFailure(record: TaskRecord): boolean {
  const [before, last] = record.history.slice(-2);
  return before?.state === 'failed' && last?.state === 'processing';
}

/** Back to the uploader, without a result of the failed round that could be mistaken for the new one. */
async function uploadAgain(shared: string, taskDir: string): Promise<StageOutcome> {
  await rm(shared, { force: true });
  await rm(path.join(taskDir, RESULT_ARCHIVE), { force: true });
  await rm(path.join(taskDir, LEGACY_RESULT_DIR), { recursive: true, force: true });
  return {
    kind: 'done', to: 'packed', detail: 'retried after the remote leg failed: uploading again',
    facts: {
      uploaded_at: undefined, callback_at: undefined, remote_checked_at: undefined, remote_state: undefined,
      remote_done_at: undefined, result_damage: undefined, last_error: undefined,
    },
  };
}

/** When the task entered processing/ (for tasks without uploaded_at, e.g. put back by an operator). */
function enteredProcessingAt(record: TaskRecord): string {
  return [...record.history].reverse().find((h) => h.state === 'processing')?.at ?? record.updated_at;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false);
}

