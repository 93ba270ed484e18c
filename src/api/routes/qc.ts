/** Quality control: the held tasks, and the operator's approve / reject. */
import { HttpError, type Route } from '../router.js';
import { TaskOperationError } from '../../app/task-operations.js';
import type { QcOperations } from '../../stages/qc-gate.js';

const STATUS_OF: Record<TaskOperationError['problem'], number> = { not_found: 404, conflict: 409, invalid: 400 };

async function answering<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof TaskOperationError) throw new HttpError(STATUS_OF[err.problem], err.message);
    throw err;
  }
}

export function qcRoutes(qc: QcOperations): Route[] {
  return [
    { method: 'GET', path: '/qc', handler: async () => ({ body: await qc.list() }) },
    { method: 'POST', path: '/qc/:id/approve', handler: (req) => answering(async () => ({ body: await qc.approve(req.params.id!) })) },
    {
      method: 'POST', path: '/qc/:id/reject',
      handler: (req) => answering(async () => {
        const reason = (req.body as { reason?: unknown } | undefined)?.reason;
        if (typeof reason !== 'string' || !reason.trim()) throw new HttpError(400, 'a rejection needs a reason: {"reason": "..."}');
        return { body: await qc.reject(req.params.id!, reason) };
      }),
    },
  ];
}
