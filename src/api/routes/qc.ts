/** Quality control: the held tasks, and the operator's approve / reject. */
import { HttpError, actorOf, type Route } from '../router.js';
import type { QcOperations } from '../../operations/qc-operations.js';

export function qcRoutes(qc: QcOperations): Route[] {
  return [
    { method: 'GET', path: '/qc', handler: async () => ({ body: await qc.list() }) },
    { method: 'POST', path: '/qc/:id/approve', audit: 'qc.approve', handler: async (req) => ({ body: await qc.approve(req.params.id!, actorOf(req)) }) },
    {
      method: 'POST', path: '/qc/:id/reject', audit: 'qc.reject',
      handler: async (req) => {
        const reason = (req.body as { reason?: unknown } | undefined)?.reason;
        if (typeof reason !== 'string' || !reason.trim()) throw new HttpError(400, 'a rejection needs a reason: {"reason": "..."}');
        return { body: await qc.reject(req.params.id!, reason, actorOf(req)) };
      },
    },
  ];
}
