/**
 * Settings as the appliance applies them: config.yaml with the operator's edits from the database
 * layered on top (operator edits win). Read live, so an edit through the API or the CLI takes effect
 * for the next task without a restart.
 */
import { destinationSchema, filterSchema, type DestinationConfig, type FilterConfig } from '../config/schema.js';
import type { LoadedConfig } from '../config/load.js';
import type { DbData } from '../db/schema.js';
import type { Store } from '../db/store.js';
import {
  SEED_RADIOPHARMACEUTICALS, canonicalNuclide, checkNewEntry, mergeRadiopharmaceuticals, type RadiopharmaceuticalEntry,
} from '../rules/radiopharmaceuticals.js';

/** config.destinations minus the removed names, plus the added ones (an added name replaces the config's). */
export function effectiveDestinations(config: Pick<LoadedConfig, 'destinations'>, db: Pick<DbData, 'destinations'>): DestinationConfig[] {
  const removed = new Set(db.destinations.removed);
  const added = new Set(db.destinations.added.map((d) => d.name));
  return [
    ...config.destinations.filter((d) => !removed.has(d.name) && !added.has(d.name)),
    ...db.destinations.added.filter((d) => !removed.has(d.name)),
  ];
}

/** The tracer table the validator matches against: the seed plus operator-added entries. */
export function effectiveRadiopharmaceuticals(db: Pick<DbData, 'radiopharmaceuticals'>): RadiopharmaceuticalEntry[] {
  return mergeRadiopharmaceuticals(SEED_RADIOPHARMACEUTICALS, db.radiopharmaceuticals);
}

export interface ListedRadiopharmaceutical extends RadiopharmaceuticalEntry {
  /** Added by an operator (stored in the database) rather than part of the seed. */
  added: boolean;
}

export function listRadiopharmaceuticals(db: Pick<DbData, 'radiopharmaceuticals'>): ListedRadiopharmaceutical[] {
  const addedIds = new Set(db.radiopharmaceuticals.map((e) => e.id.toLowerCase()));
  return effectiveRadiopharmaceuticals(db).map((e) => ({ ...e, added: addedIds.has(e.id.toLowerCase()) }));
}

export type AddRadiopharmaceuticalResult =
  | { ok: true; entry: RadiopharmaceuticalEntry; replaced: boolean }
  | { ok: false; problems: string[] };

/**
 * Add (or replace, same id) an operator tracer after checkNewEntry found no problem with it against
 * the current table. Only marks the store dirty: callers flush when the answer must be on disk.
 */
export function addRadiopharmaceutical(store: Store, candidate: RadiopharmaceuticalEntry): AddRadiopharmaceuticalResult {
  const entry: RadiopharmaceuticalEntry = {
    id: candidate.id.trim(),
    name: candidate.name.trim(),
    synonyms: candidate.synonyms.map((s) => s.trim()).filter(Boolean),
    codes: candidate.codes.map((c) => ({ scheme: c.scheme.trim(), value: c.value.trim() })),
    nuclide: canonicalNuclide(candidate.nuclide),
    halfLifeSeconds: candidate.halfLifeSeconds,
  };
  const problems = checkNewEntry(entry, effectiveRadiopharmaceuticals(store.data));
  if (problems.length > 0) return { ok: false, problems };
  const list = store.data.radiopharmaceuticals;
  const at = list.findIndex((e) => e.id.toLowerCase() === entry.id.toLowerCase());
  const replaced = at >= 0 || SEED_RADIOPHARMACEUTICALS.some((e) => e.id.toLowerCase() === entry.id.toLowerCase());
  if (at >= 0) list[at] = entry;
  else list.push(entry);
  store.markDirty();
  return { ok: true, entry, replaced };
}

/** "SCT:35321007" -> {scheme, value}; undefined when there is no colon with text on both sides. */
export function parseCode(text: string): { scheme: string; value: string } | undefined {
  const at = text.indexOf(':');
  if (at <= 0 || at === text.length - 1) return undefined;
  return { scheme: text.slice(0, at).trim(), value: text.slice(at + 1).trim() };
}

/** Where an effective filter comes from: config.yaml, or an operator edit stored in the database. */
export type SettingSource = 'config' | 'operator';

export interface ListedFilter extends FilterConfig {
  source: SettingSource;
}

/** config.filters minus the removed names, plus the operator's (an operator filter replaces the config's of that name). */
export function listFilters(config: Pick<LoadedConfig, 'filters'>, db: Pick<DbData, 'filters'>): ListedFilter[] {
  const removed = new Set(db.filters.removed);
  const added = new Set(db.filters.added.map((f) => f.name));
  return [
    ...config.filters.filter((f) => !removed.has(f.name) && !added.has(f.name)).map((f) => ({ ...f, source: 'config' as const })),
    ...db.filters.added.filter((f) => !removed.has(f.name)).map((f) => ({ ...f, source: 'operator' as const })),
  ];
}

export function effectiveFilters(config: Pick<LoadedConfig, 'filters'>, db: Pick<DbData, 'filters'>): FilterConfig[] {
  return listFilters(config, db).map(({ source: _source, ...filter }) => filter);
}

export type SettingEditResult<T> = { ok: true; value: T; replaced: boolean } | { ok: false; problems: string[] };

/**
 * Add an operator filter, or replace the filter of that name (an operator's or config.yaml's);
 * checked with the config's own schema. Marks the store dirty.
 */
export function addFilter(config: Pick<LoadedConfig, 'filters'>, store: Store, candidate: unknown): SettingEditResult<FilterConfig> {
  const parsed = filterSchema.safeParse(candidate);
  if (!parsed.success) return { ok: false, problems: parsed.error.issues.map((i) => `${i.path.join('.') || 'filter'}: ${i.message}`) };
  const filter = parsed.data;
  const { added, removed } = store.data.filters;
  const at = added.findIndex((f) => f.name === filter.name);
  if (at >= 0) added[at] = filter;
  else added.push(filter);
  const replaced = at >= 0 || (!removed.includes(filter.name) && config.filters.some((f) => f.name === filter.name));
  store.data.filters.removed = removed.filter((n) => n !== filter.name);
  store.markDirty();
  return { ok: true, value: filter, replaced };
}

/** Remove a filter, whichever its source; false when no effective filter has that name. Marks the store dirty. */
export function removeFilter(config: Pick<LoadedConfig, 'filters'>, store: Store, name: string): boolean {
  if (!listFilters(config, store.data).some((f) => f.name === name)) return false;
  store.data.filters.added = store.data.filters.added.filter((f) => f.name !== name);
  if (config.filters.some((f) => f.name === name) && !store.data.filters.removed.includes(name)) store.data.filters.removed.push(name);
  store.markDirty();
  return true;
}

export interface ListedDestination extends DestinationConfig {
  source: SettingSource;
}

export function listDestinations(config: Pick<LoadedConfig, 'destinations'>, db: Pick<DbData, 'destinations'>): ListedDestination[] {
  const fromOperator = new Set(db.destinations.added.map((d) => d.name));
  return effectiveDestinations(config, db).map((d) => ({ ...d, source: fromOperator.has(d.name) ? 'operator' as const : 'config' as const }));
}

/** Add an operator destination, or replace the one of that name (operator's or config's). Marks the store dirty. */
export function addDestination(config: Pick<LoadedConfig, 'destinations'>, store: Store, candidate: unknown): SettingEditResult<DestinationConfig> {
  const parsed = destinationSchema.safeParse(candidate);
  if (!parsed.success) return { ok: false, problems: parsed.error.issues.map((i) => `${i.path.join('.') || 'destination'}: ${i.message}`) };
  const destination = parsed.data;
  const { added, removed } = store.data.destinations;
  const at = added.findIndex((d) => d.name === destination.name);
  if (at >= 0) added[at] = destination;
  else added.push(destination);
  const replaced = at >= 0 || (!removed.includes(destination.name) && config.destinations.some((d) => d.name === destination.name));
  store.data.destinations.removed = removed.filter((n) => n !== destination.name);
  store.markDirty();
  return { ok: true, value: destination, replaced };
}

export function removeDestination(config: Pick<LoadedConfig, 'destinations'>, store: Store, name: string): boolean {
  if (!effectiveDestinations(config, store.data).some((d) => d.name === name)) return false;
  store.data.destinations.added = store.data.destinations.added.filter((d) => d.name !== name);
  if (config.destinations.some((d) => d.name === name) && !store.data.destinations.removed.includes(name)) {
    store.data.destinations.removed.push(name);
  }
  store.markDirty();
  return true;
}

/** qc.required as applied: the operator's setting when there is one, else config.yaml's. */
export function effectiveQcRequired(config: Pick<LoadedConfig, 'qc'>, db: Pick<DbData, 'qc_required'>): { required: boolean; source: SettingSource } {
  return db.qc_required === null || db.qc_required === undefined
    ? { required: config.qc.required, source: 'config' }
    : { required: db.qc_required, source: 'operator' };
}

/** Set the operator's QC setting; null hands the decision back to config.yaml. Marks the store dirty. */
export function setQcRequired(store: Store, required: boolean | null): void {
  store.data.qc_required = required;
  store.markDirty();
}
