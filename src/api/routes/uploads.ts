/**
 * Upload API in the icometrix SDK style: POST /uploads starts one, PUT /uploads/:id/files/:name
 * sends a file (raw body), POST /uploads/:id/complete hands it to the hot folder, GET /uploads/:id
 * follows the import and GET /uploads/:id/tasks lists the tasks its files went to.
 */
import type { Route } from '../router.js';
import type { UploadSessions } from '../../uploads/upload-sessions.js';
import type { TaskOperations } from '../../operations/task-operations.js';

export function uploadRoutes(uploads: UploadSessions, tasks: TaskOperations): Route[] {
  return [
    { method: 'POST', path: '/uploads', handler: async () => ({ status: 201, body: await uploads.create() }) },
    {
      method: 'PUT', path: '/uploads/:id/files/:name', raw: true,
      handler: async (req) => {
        try {
          return { body: await uploads.addFile(req.params.id!, req.params.name!, req.raw!) };
        } catch (err) {
          req.raw!.resume(); // read the refused body to its end so the client gets the answer, not a reset
          throw err;
        }
      },
    },
    {
      method: 'POST', path: '/uploads/:id/complete',
      handler: async (req) => ({ body: await uploads.complete(req.params.id!) }),
    },
    { method: 'GET', path: '/uploads/:id', handler: async (req) => ({ body: uploads.status(req.params.id!) }) },
    {
      method: 'GET', path: '/uploads/:id/tasks',
      handler: async (req) => {
        const ids = new Set(uploads.status(req.params.id!).task_ids);
        return { body: (await tasks.list()).filter((t) => ids.has(t.id)) };
      },
    },
  ];
}
