/**
 * Upload API in the icometrix SDK style: POST /uploads starts one, PUT /uploads/:id/files/:name
 * sends a file (raw body), POST /uploads/:id/complete hands it to the hot folder, GET /uploads/:id
 * follows the import and GET /uploads/:id/tasks lists the tasks its files went to.
 */
import { actorOf, type ApiRequest, type Route } from '../router.js';
import { AccessDeniedError } from '../auth/access-control.js';
import type { UploadSessions } from '../../uploads/upload-sessions.js';
import type { TaskOperations } from '../../operations/task-operations.js';

const SUBMITTERS = ['submitter', 'operator'] as const;

export function uploadRoutes(uploads: UploadSessions, tasks: TaskOperations): Route[] {
  /** A submitter follows only its own uploads (an operator any). */
  const own = (req: ApiRequest): string => {
    const id = req.params.id!;
    if (req.principal?.role === 'submitter' && uploads.submitterOf(id) !== req.principal.name) {
      throw new AccessDeniedError(`upload ${id} was not started by ${req.principal.name}: a submitter sees only its own uploads`, req.principal);
    }
    return id;
  };
  return [
    { method: 'POST', path: '/uploads', allow: SUBMITTERS, handler: async (req) => ({ status: 201, body: await uploads.create(actorOf(req)) }) },
    {
      method: 'PUT', path: '/uploads/:id/files/:name', raw: true, allow: SUBMITTERS,
      handler: async (req) => {
        try {
          return { body: await uploads.addFile(own(req), req.params.name!, req.raw!) };
        } catch (err) {
          req.raw!.resume(); // read the refused body to its end so the client gets the answer, not a reset
          throw err;
        }
      },
    },
    {
      method: 'POST', path: '/uploads/:id/complete', allow: SUBMITTERS,
      handler: async (req) => ({ body: await uploads.complete(own(req)) }),
    },
    { method: 'GET', path: '/uploads/:id', allow: SUBMITTERS, handler: async (req) => ({ body: uploads.status(own(req)) }) },
    {
      method: 'GET', path: '/uploads/:id/tasks', allow: SUBMITTERS,
      handler: async (req) => {
        const ids = new Set(uploads.status(own(req)).task_ids);
        return { body: (await tasks.list()).filter((t) => ids.has(t.id)) };
      },
    },
  ];
}
