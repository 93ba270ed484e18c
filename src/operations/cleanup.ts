/**
 * Removing finished work from the spool (the `cleanup` command). Only finished task folders
 * (sent/, failed/, aborted/) and ignored/ series folders are ever looked at; live tasks, incoming/
 * and received/ are not. Each folder is first claimed by renaming it to a `.tmp-` name in the same
 * folder, then deleted: the rename is atomic against the appliance moving the same task (an
 * operator retry of a failed task), so exactly one of the two wins and neither sees half a folder.
 * A claimed folder left by a crash is removed by the appliance's start-up repair (Spool.recover).
 */
import { lstat, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { FINISHED_FOLDERS, TASK_FOLDERS, TMP_PREFIX, isTaskId } from '../spool/layout.js';
import type { Spool } from '../spool/spool.js';
import type { Store } from '../db/store.js';

export type CleanupFolder = 'sent' | 'failed' | 'aborted' | 'ignored';

export interface CleanupEntry {
  /** A finished task folder, or an ignored (non-PET) series folder. */
  kind: 'task' | 'ignored';
  folder: CleanupFolder;
  /** Task id, or the ignored series' folder name (its SeriesInstanceUID). */
  name: string;
  bytes: number;
  /** The newest modification time of the folder or anything in it. */
  last_change: string;
}

export interface CleanupResult {
  removed: CleanupEntry[];
  /** Candidates left alone because they moved or changed between the scan and the removal. */
  skipped: { folder: CleanupFolder; name: string; why: string }[];
  bytes_freed: number;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "7d", "12h", "30m", "90s" → seconds. */
export function parseAge(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$/i.exec(text);
  if (!m) throw new Error(`"${text}" is not an age: write a number and a unit s, m, h or d (e.g. 7d, 12h)`);
  return Number(m[1]) * UNIT_SECONDS[m[2]!.toLowerCase()]!;
}

interface TreeFacts { bytes: number; newestMs: number }

/** Total size of the files under `dir` and the newest mtime of it and its entries. */
async function treeFacts(dir: string): Promise<TreeFacts> {
  const top = await lstat(dir);
  const facts: TreeFacts = { bytes: 0, newestMs: top.mtimeMs };
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      const s = await lstat(full);
      facts.newestMs = Math.max(facts.newestMs, s.mtimeMs);
      if (e.isDirectory()) await walk(full);
      else facts.bytes += s.size;
    }
  };
  await walk(dir);
  return facts;
}

function entryPath(spool: Spool, e: Pick<CleanupEntry, 'folder' | 'name'>): string {
  return path.join(spool.layout.folder(e.folder), e.name);
}

/** Finished tasks and ignored series whose last change is more than `olderThanSeconds` ago, oldest first. */
export async function findCleanupCandidates(spool: Spool, olderThanSeconds: number, now = Date.now()): Promise<CleanupEntry[]> {
  const cutoff = now - olderThanSeconds * 1000;
  const found: CleanupEntry[] = [];
  const consider = async (kind: CleanupEntry['kind'], folder: CleanupFolder, name: string): Promise<void> => {
    // A folder that vanished while we looked was moved or removed by someone else: not ours.
    const facts = await treeFacts(entryPath(spool, { folder, name })).catch(() => undefined);
    if (facts && facts.newestMs < cutoff) {
      found.push({ kind, folder, name, bytes: facts.bytes, last_change: new Date(facts.newestMs).toISOString() });
    }
  };
  for (const folder of FINISHED_FOLDERS as readonly CleanupFolder[]) {
    for (const id of await spool.taskIds(folder as 'sent' | 'failed' | 'aborted')) await consider('task', folder, id);
  }
  const ignored = await readdir(spool.layout.folder('ignored'), { withFileTypes: true }).catch(() => []);
  for (const e of ignored) {
    if (e.isDirectory() && !e.name.startsWith('.')) await consider('ignored', 'ignored', e.name);
  }
  return found.sort((a, b) => a.last_change.localeCompare(b.last_change));
}

/** Claim each candidate by renaming it out of sight, check it is still old, then delete it. */
export async function removeCandidates(spool: Spool, candidates: CleanupEntry[], olderThanSeconds: number,
  now = Date.now()): Promise<CleanupResult> {
  const cutoff = now - olderThanSeconds * 1000;
  const result: CleanupResult = { removed: [], skipped: [], bytes_freed: 0 };
  for (const c of candidates) {
    const live = entryPath(spool, c);
    const claimed = path.join(path.dirname(live), `${TMP_PREFIX}cleanup-${c.name}`);
    try {
      await rename(live, claimed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      result.skipped.push({ folder: c.folder, name: c.name, why: 'moved away since the scan (retried or removed by someone else)' });
      continue;
    }
    const facts = await treeFacts(claimed);
    if (facts.newestMs >= cutoff) {
      // Something was added since the scan (a new instance of an ignored series): give it back.
      await rename(claimed, live);
      result.skipped.push({ folder: c.folder, name: c.name, why: 'changed since the scan' });
      continue;
    }
    await rm(claimed, { recursive: true, force: true });
    result.removed.push({ ...c, bytes: facts.bytes });
    result.bytes_freed += facts.bytes;
  }
  return result;
}

/**
 * Drop the database rows of tasks cleanup removed, but only of those that are in no spool folder
 * any more (a task retried meanwhile keeps its row). Only the database's one writer may call this:
 * the appliance (POST /maintenance/prune) or the CLI while it holds the spool lock.
 */
export async function pruneTaskRows(store: Store, spool: Spool, ids: readonly string[]): Promise<string[]> {
  const pruned: string[] = [];
  for (const id of ids) {
    if (!isTaskId(id) || !store.data.tasks[id]) continue;
    let stillThere = false;
    for (const folder of TASK_FOLDERS) stillThere ||= await spool.hasTask(folder, id);
    if (stillThere) continue;
    delete store.data.tasks[id];
    pruned.push(id);
  }
  if (pruned.length) store.markDirty();
  return pruned;
}
