/** Operator task routes: the same TaskOperations the CLI uses when the appliance is stopped. */
import { HttpError, actorOf, type Route } from '../router.js';
import { parseStateFilter, type TaskOperations } from '../../operations/task-operations.js';

export function taskRoutes(ops: TaskOperations): Route[] {
  return [
    {
      method: 'GET', path: '/tasks',
      handler: async (req) => {
        const state = req.query.get('state');
        return { body: await ops.list(state ? { state: parseStateFilter(state) } : {}) };
      },
    },
    { method: 'GET', path: '/tasks/:id', allow: ['operator', 'submitter'], ownTask: true, handler: async (req) => ({ body: await ops.show(req.params.id!) }) },
    {
      method: 'POST', path: '/tasks/:id/retry', audit: 'task.retry',
      handler: async (req) => ({ body: await ops.retry(req.params.id!, actorOf(req)) }),
    },
    {
      method: 'POST', path: '/tasks/:id/abort', audit: 'task.abort',
      handler: async (req) => {
        const reason = (req.body as { reason?: unknown } | undefined)?.reason;
        if (reason !== undefined && typeof reason !== 'string') throw new HttpError(400, 'reason must be a text');
        return { body: await ops.abort(req.params.id!, reason, actorOf(req)) };
      },
    },
  ];
}
