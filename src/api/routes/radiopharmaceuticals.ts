/** The tracer table: seed plus operator-added entries; POST adds (or replaces by id) an entry. */
import { z } from 'zod';
import { HttpError, type Route } from '../router.js';
import type { Store } from '../../db/store.js';
import { addRadiopharmaceutical, listRadiopharmaceuticals } from '../../settings/effective-settings.js';

const entrySchema = z.object({
  id: z.string(),
  name: z.string(),
  synonyms: z.array(z.string()).default([]),
  codes: z.array(z.object({ scheme: z.string(), value: z.string() })).default([]),
  nuclide: z.string(),
  halfLifeSeconds: z.number(),
});

export function radiopharmaceuticalRoutes(store: Store): Route[] {
  return [
    { method: 'GET', path: '/radiopharmaceuticals', handler: () => ({ body: listRadiopharmaceuticals(store.data) }) },
    {
      method: 'POST', path: '/radiopharmaceuticals', audit: 'radiopharmaceuticals.add',
      handler: async (req) => {
        const parsed = entrySchema.safeParse(req.body);
        if (!parsed.success) {
          throw new HttpError(400, `not a radiopharmaceutical entry: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
        }
        const result = addRadiopharmaceutical(store, parsed.data);
        if (!result.ok) return { status: 400, body: { error: `refused: ${result.problems.join('; ')}`, problems: result.problems } };
        // On disk before answering: `radiopharmaceuticals list` reads the database file directly.
        await store.flush();
        return { status: 201, body: { entry: result.entry, replaced: result.replaced } };
      },
    },
  ];
}
