/**
 * Uploader stage: packed/ -> processing/. Puts the archive into the share's upload folder
 * (share.outbox) so that it appears there only complete — copied under a hidden temporary name,
 * fsynced, renamed, folder fsynced — then asks the remote service to process it
 * (POST /processing). A share that is missing, unwritable or full, and a service that is down,
 * are retried with backoff until remote.give_up_after_seconds; the service refusing the request
 * fails the task with its words.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ApplianceParts } from '../runner/appliance-parts.js';
import { RemoteUnavailableError, type RemoteClient } from '../remote/client.js';
import { PermanentError, type Stage, type StageJob, type StageOutcome } from '../runner/stage.js';
import { archiveNameFor, METADATA_FILE } from '../remote/upload-archive.js';
import { copyIntoShare } from '../remote/share-copy.js';
import { metrics } from '../metrics/metrics.js';

export interface UploaderOptions {
  /** Where the service calls back: `{api}/process_ready` (connect.ts callbackUrlFor). */
  callbackUrl: string;
  /** Retry backoff (default 1 s doubling to 5 min, with jitter). */
  backoff?: { initialMs: number; maxMs: number };
}

export function uploaderStage(parts: Pick<ApplianceParts, 'config'>, remote: RemoteClient, opts: UploaderOptions): Stage {
  const { config } = parts;
  const outbox = config.share.outbox;
  return {
    name: 'uploader',
    from: 'packed',
    to: 'processing',
    concurrency: 2,
    giveUpAfterMs: config.remote.give_up_after_seconds * 1000,
    backoff: opts.backoff ?? { initialMs: 1000, maxMs: 300_000 },
    async process(job: StageJob): Promise<StageOutcome> {
      const archive = archiveNameFor(job.id, config.remote.client_id);
      const metadata = await readMetadata(job.dir);
      const source = path.join(job.dir, archive);
      if (!(await stat(source).then((s) => s.isFile(), () => false))) {
        throw new PermanentError(`${archive} is missing from the task folder; retry the packer`);
      }
      try {
        await copyIntoShare(source, path.join(outbox, archive));
        metrics.add('bytes_uploaded_total', (await stat(source)).size);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        return { kind: 'retry', reason: `cannot write to the share's upload folder ${outbox}: ${e.code ?? ''} ${e.message}`.trim() };
      }
      try {
        await remote.startProcessing({ input_file: archive, task_id: job.id, callback_url: opts.callbackUrl, metadata });
      } catch (err) {
        if (err instanceof RemoteUnavailableError) return { kind: 'retry', reason: err.message };
        return { kind: 'fail', reason: `the remote service refused the task: ${(err as Error).message}` };
      }
      return { kind: 'done', detail: `uploaded ${archive}`, facts: { uploaded_at: new Date().toISOString() } };
    },
  };
}

async function readMetadata(taskDir: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path.join(taskDir, METADATA_FILE), 'utf8')) as unknown;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof SyntaxError) {
      throw new PermanentError(`${METADATA_FILE} is missing or unreadable in the task folder; retry the packer`);
    }
    throw err;
  }
}

