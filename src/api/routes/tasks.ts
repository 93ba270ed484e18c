/** Operator task routes: the same TaskOperations the CLI uses when the appliance is stopped. */
import { HttpError, type Route } from '../router.js';
import { TaskOperationError, parseStateFilter, type TaskOperations } from '../../app/task-operations.js';

const STATUS_OF: Record<TaskOperationError['problem'], number> = { not_found: 404, conflict: 409, invalid: 400 };

/** Turn an operation's refusal into the HTTP answer; anything else stays a 500. */
async function answering<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof TaskOperationError) throw new HttpError(STATUS_OF[err.problem], err.message);
    throw err;
  }
}

export function taskRoutes(ops: TaskOperations): Route[] {
  return [
    {
      method: 'GET', path: '/tasks',
      handler: (req) => answering(async () => {
        const state = req.query.get('state');
        return { body: await ops.list(state ? { state: parseStateFilter(state) } : {}) };
      }),
    },
    { method: 'GET', path: '/tasks/:id', handler: (req) => answering(async () => ({ body: await ops.show(req.params.id!) })) },
    {
      method: 'POST', path: '/tasks/:id/retry',
      handler: (req) => answering(async () => ({ body: await ops.retry(req.params.id!) })),
    },
    {
      method: 'POST', path: '/tasks/:id/abort',
      handler: (req) => answering(async () => {
        const reason = (req.body as { reason?: unknown } | undefined)?.reason;
        if (reason !== undefined && typeof reason !== 'string') throw new HttpError(400, 'reason must be a text');
        return { body: await ops.abort(req.params.id!, reason) };
      }),
    },
  ];
}
