/**
 * POST /process_ready {"task_id"}: the remote service's callback that a task's result is in the
 * share's results folder. It records the callback on the task and makes the downloader look at
 * once (the downloader polls anyway; the callback only saves the wait). Idempotent: a callback
 * for a task already downloaded or further on is answered 200 again.
 */
import { HttpError, type Route } from '../router.js';
import type { ApplianceParts } from '../../runner/appliance-parts.js';
import { TaskNotFoundError } from '../../spool/spool.js';
import type { TaskFolder } from '../../spool/layout.js';

/** The task is past the downloader: nothing left to do for a callback. */
const ALREADY_DOWNLOADED: readonly TaskFolder[] = ['downloaded', 'unpacking_sending', 'unpacked', 'awaiting_qc', 'sending', 'sent'];
/** The callback may overtake the uploader's move to processing/ (a fast service): take note of it. */
const EXPECTING_RESULT: readonly TaskFolder[] = ['packed', 'processing'];

export function processReadyRoutes(parts: Pick<ApplianceParts, 'spool' | 'runner' | 'log'>): Route[] {
  const { spool, runner, log } = parts;
  return [{
    method: 'POST', path: '/process_ready', allow: ['callback'],
    async handler(req) {
      const taskId = (req.body as { task_id?: unknown } | undefined)?.task_id;
      if (typeof taskId !== 'string' || taskId === '') throw new HttpError(400, 'body must be {"task_id": "<task id>"}');
      for (;;) {
        let folder: TaskFolder;
        try {
          folder = (await spool.locateTask(taskId)).folder;
        } catch (err) {
          if (err instanceof TaskNotFoundError) throw new HttpError(404, `unknown task ${taskId}`);
          throw err;
        }
        if (ALREADY_DOWNLOADED.includes(folder)) return { body: { task_id: taskId, state: folder, response: 'already downloaded' } };
        if (!EXPECTING_RESULT.includes(folder)) {
          throw new HttpError(409, `task ${taskId} is ${folder === 'failed' || folder === 'aborted' ? folder : `not uploaded yet (${folder})`}`);
        }
        try {
          await spool.updateTask(taskId, folder, (r) => ({
            ...r, facts: { ...r.facts, callback_at: r.facts.callback_at ?? new Date().toISOString() },
          }));
        } catch (err) {
          // Moved on meanwhile (the downloader took the result): look where it is now.
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw err;
        }
        log.info('result announced by the remote service', { stage: 'api', task: taskId });
        runner.clearDelay(taskId);
        runner.nudge('downloader');
        return { body: { task_id: taskId, response: 'ok' } };
      }
    },
  }];
}
