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
  return withoutSource(listLayered(config.destinations, db.destinations));
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

/** Where an effective setting comes from: config.yaml, or an operator edit stored in the database. */
export type SettingSource = 'config' | 'operator';

/** Operator edits of a named list from config.yaml: entries added (or replacing a config entry), names removed. */
interface NamedLayer<T extends { name: string }> { added: T[]; removed: string[] }

type Listed<T> = T & { source: SettingSource };

function listLayered<T extends { name: string }>(fromConfig: readonly T[], layer: NamedLayer<T>): Listed<T>[] {
  const removed = new Set(layer.removed);
  const added = new Set(layer.added.map((x) => x.name));
  return [
    ...fromConfig.filter((x) => !removed.has(x.name) && !added.has(x.name)).map((x) => ({ ...x, source: 'config' as const })),
    ...layer.added.filter((x) => !removed.has(x.name)).map((x) => ({ ...x, source: 'operator' as const })),
  ];
}

function withoutSource<T>(listed: Listed<T>[]): T[] {
  return listed.map(({ source: _source, ...rest }) => rest as T);
}

/** Add an entry, or replace the one of that name; true when it replaced one (operator's or config's). */
function addLayered<T extends { name: string }>(fromConfig: readonly T[], layer: NamedLayer<T>, item: T): boolean {
  const at = layer.added.findIndex((x) => x.name === item.name);
  if (at >= 0) layer.added[at] = item;
  else layer.added.push(item);
  const replaced = at >= 0 || (!layer.removed.includes(item.name) && fromConfig.some((x) => x.name === item.name));
  layer.removed = layer.removed.filter((n) => n !== item.name);
  return replaced;
}

/** Remove an entry whichever its source (a config entry is hidden); false when none has that name. */
function removeLayered<T extends { name: string }>(fromConfig: readonly T[], layer: NamedLayer<T>, name: string): boolean {
  if (!listLayered(fromConfig, layer).some((x) => x.name === name)) return false;
  layer.added = layer.added.filter((x) => x.name !== name);
  if (fromConfig.some((x) => x.name === name) && !layer.removed.includes(name)) layer.removed.push(name);
  return true;
}

function problemsOf(issues: { path: PropertyKey[]; message: string }[], what: string): string[] {
  return issues.map((i) => `${i.path.map(String).join('.') || what}: ${i.message}`);
}

export type ListedFilter = Listed<FilterConfig>;

/** config.filters minus the removed names, plus the operator's (an operator filter replaces the config's of that name). */
export function listFilters(config: Pick<LoadedConfig, 'filters'>, db: Pick<DbData, 'filters'>): ListedFilter[] {
  return listLayered(config.filters, db.filters);
}

export function effectiveFilters(config: Pick<LoadedConfig, 'filters'>, db: Pick<DbData, 'filters'>): FilterConfig[] {
  return withoutSource(listFilters(config, db));
}

export type SettingEditResult<T> = { ok: true; value: T; replaced: boolean } | { ok: false; problems: string[] };

/**
 * Add an operator filter, or replace the filter of that name (an operator's or config.yaml's);
 * checked with the config's own schema. Marks the store dirty.
 */
export function addFilter(config: Pick<LoadedConfig, 'filters'>, store: Store, candidate: unknown): SettingEditResult<FilterConfig> {
  const parsed = filterSchema.safeParse(candidate);
  if (!parsed.success) return { ok: false, problems: problemsOf(parsed.error.issues, 'filter') };
  const replaced = addLayered(config.filters, store.data.filters, parsed.data);
  store.markDirty();
  return { ok: true, value: parsed.data, replaced };
}

/** Remove a filter, whichever its source; false when no effective filter has that name. Marks the store dirty. */
export function removeFilter(config: Pick<LoadedConfig, 'filters'>, store: Store, name: string): boolean {
  const removed = removeLayered(config.filters, store.data.filters, name);
  if (removed) store.markDirty();
  return removed;
}

export type ListedDestination = Listed<DestinationConfig>;

export function listDestinations(config: Pick<LoadedConfig, 'destinations'>, db: Pick<DbData, 'destinations'>): ListedDestination[] {
  return listLayered(config.destinations, db.destinations);
}

/** Add an operator destination, or replace the one of that name (operator's or config's). Marks the store dirty. */
export function addDestination(config: Pick<LoadedConfig, 'destinations'>, store: Store, candidate: unknown): SettingEditResult<DestinationConfig> {
  const parsed = destinationSchema.safeParse(candidate);
  if (!parsed.success) return { ok: false, problems: problemsOf(parsed.error.issues, 'destination') };
  const replaced = addLayered(config.destinations, store.data.destinations, parsed.data);
  store.markDirty();
  return { ok: true, value: parsed.data, replaced };
}

export function removeDestination(config: Pick<LoadedConfig, 'destinations'>, store: Store, name: string): boolean {
  const removed = removeLayered(config.destinations, store.data.destinations, name);
  if (removed) store.markDirty();
  return removed;
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
