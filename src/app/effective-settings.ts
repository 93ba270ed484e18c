/**
 * Settings as the appliance applies them: config.yaml with the operator's edits from the database
 * layered on top (operator edits win). Read live, so an edit through the API or the CLI takes effect
 * for the next task without a restart.
 */
import type { DestinationConfig } from '../config/schema.js';
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
