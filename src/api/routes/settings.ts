/**
 * Settings operators edit without touching config.yaml: filters, destinations and qc.required.
 * Edits are stored in the database and win over config.yaml; every answer is flushed to disk first
 * because the CLI's list commands read the database file.
 */
import { HttpError, type Route } from '../router.js';
import type { LoadedConfig } from '../../config/load.js';
import type { Store } from '../../db/store.js';
import {
  addDestination, addFilter, effectiveQcRequired, listDestinations, listFilters, removeDestination, removeFilter, setQcRequired,
  type SettingEditResult,
} from '../../settings/effective-settings.js';

async function edited<T>(store: Store, result: SettingEditResult<T>) {
  if (!result.ok) return { status: 400, body: { error: `refused: ${result.problems.join('; ')}`, problems: result.problems } };
  await store.flush();
  return { status: 201, body: { value: result.value, replaced: result.replaced } };
}

export function settingsRoutes(config: LoadedConfig, store: Store): Route[] {
  return [
    { method: 'GET', path: '/settings/filters', handler: () => ({ body: listFilters(config, store.data) }) },
    { method: 'POST', path: '/settings/filters', audit: 'settings.filters.add', handler: (req) => edited(store, addFilter(config, store, req.body)) },
    {
      method: 'POST', path: '/settings/filters/:name/remove', audit: 'settings.filters.remove',
      handler: async (req) => {
        if (!removeFilter(config, store, req.params.name!)) throw new HttpError(404, `no filter named ${req.params.name}`);
        await store.flush();
        return { body: listFilters(config, store.data) };
      },
    },
    { method: 'GET', path: '/settings/destinations', handler: () => ({ body: listDestinations(config, store.data) }) },
    { method: 'POST', path: '/settings/destinations', audit: 'settings.destinations.add', handler: (req) => edited(store, addDestination(config, store, req.body)) },
    {
      method: 'POST', path: '/settings/destinations/:name/remove', audit: 'settings.destinations.remove',
      handler: async (req) => {
        if (!removeDestination(config, store, req.params.name!)) throw new HttpError(404, `no destination named ${req.params.name}`);
        await store.flush();
        return { body: listDestinations(config, store.data) };
      },
    },
    { method: 'GET', path: '/settings/qc', handler: () => ({ body: effectiveQcRequired(config, store.data) }) },
    {
      method: 'POST', path: '/settings/qc', audit: 'settings.qc_required',
      handler: async (req) => {
        const required = (req.body as { required?: unknown } | undefined)?.required;
        if (typeof required !== 'boolean' && required !== null) {
          throw new HttpError(400, 'send {"required": true|false}, or null to follow config.yaml again');
        }
        setQcRequired(store, required);
        await store.flush();
        return { body: effectiveQcRequired(config, store.data) };
      },
    },
  ];
}
