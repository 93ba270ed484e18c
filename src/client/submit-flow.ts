/**
 * `petspool submit`, after the choice of appliance: upload the folder through the upload API,
 * wait for the import, then (optionally) wait for the results and download them. The local
 * appliance and a remote one are reached the same way (its API URL and token), so both take this
 * one path; only how the URL and token are found differs (src/cli/commands/submit.ts).
 */
import path from 'node:path';
import {
  NoDicomFilesError, PetspoolTimeoutError, type DownloadedSeries, type PetspoolClient, type TaskProgress, type TaskSummary,
  type UploadResult,
} from './petspool-client.js';

export interface SubmitOptions {
  dir: string;
  /** Wait until every task is done, failed or aborted. */
  wait: boolean;
  /** Write the delivered series under outDir/<task>/<series>/ (implies wait). */
  outDir?: string;
  /** Overall limit, upload included. */
  timeoutMs: number;
}

/** What the command shows while the flow runs; the CLI renders it (progress bars on a TTY, lines otherwise). */
export interface SubmitReporter {
  uploaded(upload: UploadResult): void;
  imported(tasks: TaskSummary[], problems: string[]): void;
  progress(task: TaskProgress): void;
  downloaded(taskId: string, series: DownloadedSeries[]): void;
}

export type SubmitVerdict = 'submitted' | 'done' | 'failed' | 'no_dicom' | 'timeout';

export interface SubmitOutcome {
  verdict: SubmitVerdict;
  /** One sentence for the person at the keyboard. */
  message: string;
  upload_id: string | null;
  files: number;
  problems: string[];
  tasks: TaskSummary[];
  /** Final progress per task (when waited for). */
  finished: TaskProgress[];
  downloads: { task_id: string; series: DownloadedSeries[] }[];
}

export async function runSubmitFlow(client: PetspoolClient, opts: SubmitOptions, report: SubmitReporter): Promise<SubmitOutcome> {
  const deadline = Date.now() + opts.timeoutMs;
  const remaining = () => Math.max(1, deadline - Date.now());
  const outcome: SubmitOutcome = {
    verdict: 'submitted', message: '', upload_id: null, files: 0, problems: [], tasks: [], finished: [], downloads: [],
  };
  let upload: UploadResult;
  try {
    upload = await client.uploadDicomDir(opts.dir);
  } catch (err) {
    if (!(err instanceof NoDicomFilesError)) throw err;
    return { ...outcome, verdict: 'no_dicom', message: err.message, problems: err.problems };
  }
  report.uploaded(upload);
  Object.assign(outcome, { upload_id: upload.uploadId, files: upload.files });

  try {
    const imported = await client.waitForImport(upload.uploadId, { timeoutMs: remaining() });
    outcome.problems = imported.problems;
    outcome.tasks = await client.tasksForUpload(upload.uploadId);
    report.imported(outcome.tasks, imported.problems);
    if (outcome.tasks.length === 0) {
      return { ...outcome, verdict: 'no_dicom', message: `No task was made from ${opts.dir}: ${imported.problems.join('; ') || 'no PET series found'}` };
    }
    if (!opts.wait && !opts.outDir) {
      return { ...outcome, message: `${tasksText(outcome.tasks.length)} submitted; follow with: petspool tasks show <id>` };
    }
    const results = await client.waitForResults(outcome.tasks.map((t) => t.id), { timeoutMs: remaining(), onProgress: (t) => report.progress(t) });
    outcome.finished = results.tasks;
    if (opts.outDir) {
      for (const t of results.tasks.filter((x) => x.state === 'done')) {
        const series = await client.downloadResults(t.id, path.join(opts.outDir, t.id));
        outcome.downloads.push({ task_id: t.id, series });
        report.downloaded(t.id, series);
      }
    }
  } catch (err) {
    if (!(err instanceof PetspoolTimeoutError)) throw err;
    return { ...outcome, finished: err.tasks, verdict: 'timeout', message: `Timed out after ${Math.round(opts.timeoutMs / 1000)} s: ${err.message}` };
  }
  const notDone = outcome.finished.filter((t) => t.state !== 'done');
  if (notDone.length === 0) return { ...outcome, verdict: 'done', message: `${tasksText(outcome.finished.length)} done` };
  return {
    ...outcome, verdict: 'failed',
    message: `${notDone.length} of ${tasksText(outcome.finished.length)} did not finish: `
      + notDone.map((t) => `${t.id} ${t.state}${t.reason ? ` (${t.reason})` : ''}`).join('; '),
  };
}

function tasksText(n: number): string {
  return n === 1 ? '1 task' : `${n} tasks`;
}
