/**
 * POST /maintenance/prune {"task_ids": [...]}: `petspool cleanup` removed these finished task
 * folders while the appliance ran; the appliance, the database's only writer, drops their rows.
 */
import { HttpError, type Route } from '../router.js';
import { pruneTaskRows } from '../../operations/cleanup.js';
import type { Spool } from '../../spool/spool.js';
import type { Store } from '../../db/store.js';

export function maintenanceRoutes(spool: Spool, store: Store): Route[] {
  return [{
    method: 'POST', path: '/maintenance/prune', audit: 'maintenance.prune',
    handler: async (req) => {
      const ids = (req.body as { task_ids?: unknown } | undefined)?.task_ids;
      if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) {
        throw new HttpError(400, 'body must be {"task_ids": ["<task id>", ...]}');
      }
      const pruned = await pruneTaskRows(store, spool, ids as string[]);
      await store.flush();
      return { body: { pruned } };
    },
  }];
}
