/**
 * Zip archives dropped into the hot folder (or sent through the upload API): a study exported as
 * a .zip, nested folders, a DICOMDIR and a README inside. Each archive is extracted with the
 * checks of remote/zip-extract.ts (no entry outside the extraction folder: no "..", absolute
 * path or symbolic link; entry count and expanded sizes within zip_intake's limits, counted on
 * the bytes that really come out) into a hidden folder of the hot folder, every file fsynced,
 * then a manifest is written: from then on the archive's content is in our custody. Its DICOM
 * files go to the receiver one by one, its other entries are set aside in ignored/ with a
 * reason.json listing them, and only when every file has been handed over is the archive
 * removed.
 *
 * A crash anywhere leaves a state the next start resumes from: an extraction without manifest
 * is thrown away and done again from the archive; with a manifest, only the files still in the
 * extraction folder are handed over (those already received left it), so nothing is received
 * twice and no series is split into a second task.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log/logger.js';
import { declaredZipSize, extractZipInto, formatBytes, ZipRefusedError, type ExtractLimits } from '../remote/zip-extract.js';
import { fsyncPath, writeFileDurably } from '../spool/durable.js';
import type { Spool } from '../spool/spool.js';
import type { Receiver, ReceiveOutcome } from './receiver.js';

/** Hidden (the hot-folder watcher skips dot-names) folder of incoming/ holding the extractions. */
export const EXTRACTIONS_DIR = '.unzip';
const MANIFEST = 'manifest.json';
const FILES = 'files';
const PARTIAL = '.files-partial';
/** An unreadable archive this recently written may still be being copied: look again later. */
const STILL_ARRIVING_MS = 60_000;
const LOOK_AGAIN_MS = 10_000;
/** An archive that does not fit on the disk now: looked at again this much later. */
const DISK_LOOK_AGAIN_MS = 60_000;
/** Files handed to the receiver at once. */
const HAND_OVER_CONCURRENCY = 4;

interface Manifest {
  /** The archive's path relative to the hot folder. */
  archive: string;
  size: number;
  mtimeMs: number;
  /** Entries that are not DICOM (no DICM prefix), set aside rather than handed over. */
  notDicom: string[];
}

/** Does the file start like a zip archive (local file header, or an empty archive's end record)? */
export async function looksLikeZip(file: string): Promise<boolean> {
  const head = await bytesAt(file, 0, 4);
  return head.length === 4 && head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6));
}

export class ZipIntake {
  private readonly extractions: string;
  /** Extractions being worked on (by key): the hot folder and the start-up sweep may both find one. */
  private readonly busy = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly spool: Spool, private readonly receiver: Receiver, private readonly limits: ExtractLimits,
    /** dicom.min_free_mb: an archive is unpacked only if this much disk stays free after it. */
    private readonly minFreeMb: number, private readonly log: Logger) {
    this.extractions = path.join(spool.layout.folder('incoming'), EXTRACTIONS_DIR);
  }

  private get hotFolder(): string {
    return this.spool.layout.folder('incoming');
  }

  /** Resume what an earlier run left in the extraction folder (start-up). */
  async resumeLeftovers(sender: string): Promise<void> {
    const keys = await readdir(this.extractions).catch(() => [] as string[]);
    for (const key of keys) {
      const manifest = await this.readManifest(key);
      if (!manifest) {
        // Not fully extracted: the archive, still in the hot folder, is extracted again when seen.
        if (!this.busy.has(key)) await rm(path.join(this.extractions, key), { recursive: true, force: true });
        continue;
      }
      await this.exclusively(key, () => this.handOver(key, manifest, sender));
    }
  }

  /** Extract `archive` (a file in the hot folder) and hand its content over; resumes a started one. */
  async take(archive: string, sender: string): Promise<void> {
    const info = await stat(archive);
    const key = extractionKey(path.relative(this.hotFolder, archive), info.size, info.mtimeMs);
    await this.exclusively(key, async () => {
      const manifest = await this.readManifest(key) ?? await this.extract(archive, key, info, sender);
      if (manifest) await this.handOver(key, manifest, sender);
    });
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async exclusively(key: string, work: () => Promise<void>): Promise<void> {
    if (this.busy.has(key)) return;
    this.busy.add(key);
    try {
      await work();
    } finally {
      this.busy.delete(key);
    }
  }

  private async readManifest(key: string): Promise<Manifest | undefined> {
    const text = await readFile(path.join(this.extractions, key, MANIFEST), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : JSON.parse(text) as Manifest;
  }

  /** Extract into a fresh folder and write the manifest; undefined when the archive was refused or must wait. */
  private async extract(archive: string, key: string, info: { size: number; mtimeMs: number }, sender: string): Promise<Manifest | undefined> {
    const dir = path.join(this.extractions, key);
    const name = path.relative(this.hotFolder, archive);
    await rm(dir, { recursive: true, force: true });
    await mkdir(path.join(dir, PARTIAL), { recursive: true });
    try {
      const needed = await declaredZipSize(archive);
      const { bavail, bsize } = await statfs(dir);
      const spare = bavail * bsize - this.minFreeMb * 1024 ** 2;
      if (needed > spare) {
        await rm(dir, { recursive: true, force: true });
        this.log.warn(`zip archive ${name} expands to ${formatBytes(needed)}, more than the ${formatBytes(Math.max(0, spare))} free above dicom.min_free_mb; it waits in the hot folder`);
        this.lookAgain(archive, sender, DISK_LOOK_AGAIN_MS);
        return undefined;
      }
      await extractZipInto(archive, path.join(dir, PARTIAL), this.limits);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      if (!(err instanceof ZipRefusedError)) throw err;
      if (/not a readable zip archive/.test(err.message) && Date.now() - info.mtimeMs < STILL_ARRIVING_MS) {
        // A copy that paused longer than the hot folder's stability wait: its end is not there yet.
        this.log.info(`${name} is not a complete zip archive yet; looking again in ${LOOK_AGAIN_MS / 1000} s`);
        this.lookAgain(archive, sender, LOOK_AGAIN_MS);
        return undefined;
      }
      this.log.warn(`zip archive ${name} refused: ${err.message}`);
      await this.receiver.refuseFile(archive, sender, `zip archive refused: ${err.message}`);
      return undefined;
    }
    await rename(path.join(dir, PARTIAL), path.join(dir, FILES));
    const files = await listFiles(path.join(dir, FILES));
    const notDicom: string[] = [];
    for (const file of files) if (!(await hasDicomPrefix(path.join(dir, FILES, file)))) notDicom.push(file);
    const manifest: Manifest = { archive: name, size: info.size, mtimeMs: info.mtimeMs, notDicom };
    await writeFileDurably(path.join(dir, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
    this.log.info(`zip archive ${name}: ${files.length} file(s) extracted`);
    return manifest;
  }

  private lookAgain(archive: string, sender: string, ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.take(archive, sender).catch((e: Error) => this.log.error(`zip archive ${path.basename(archive)}: ${e.message}`));
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  /** Hand what is left of an extraction to the receiver, then remove the archive and the extraction. */
  private async handOver(key: string, manifest: Manifest, sender: string): Promise<void> {
    const dir = path.join(this.extractions, key);
    const archive = path.join(this.hotFolder, manifest.archive);
    const files = await listFiles(path.join(dir, FILES));
    const notDicom = new Set(manifest.notDicom);
    const setAside = files.filter((f) => notDicom.has(f));
    if (setAside.length) await this.setAside(key, manifest, setAside, path.join(dir, FILES));
    const dicom = files.filter((f) => !notDicom.has(f));
    const tasks = new Set<string>();
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < dicom.length) {
        const entry = dicom[next++]!;
        const outcome = await this.receiver.receiveFile(path.join(dir, FILES, entry), sender, { archive, entry });
        if (outcome.kind === 'collected' || outcome.kind === 'duplicate') tasks.add(outcome.taskId);
      }
    };
    await Promise.all(Array.from({ length: Math.min(HAND_OVER_CONCURRENCY, dicom.length) }, lane));
    await this.syncTasks(tasks);

    const outcome: ReceiveOutcome = { kind: 'unpacked', files: dicom.length, skipped: manifest.notDicom };
    // Removed only if it is still the archive this extraction came from (not a new one of the same name).
    const current = await stat(archive).catch(() => undefined);
    if (current && current.size === manifest.size && current.mtimeMs === manifest.mtimeMs) {
      await unlink(archive);
      await fsyncPath(path.dirname(archive));
    }
    await rm(dir, { recursive: true, force: true });
    const skipped = manifest.notDicom.length
      ? `; ${manifest.notDicom.length} entr${manifest.notDicom.length === 1 ? 'y is' : 'ies are'} not DICOM and set aside in ignored/${ignoredName(key, manifest)}: ${listed(manifest.notDicom)}`
      : '';
    this.log.info(`zip archive ${manifest.archive} taken: ${dicom.length} DICOM file(s) handed over${skipped}`);
    this.receiver.reported(archive, sender, outcome);
  }

  /** The receiver renames instances into task folders: make those entries durable before the archive goes. */
  private async syncTasks(taskIds: Set<string>): Promise<void> {
    for (const id of taskIds) {
      const located = await this.spool.locateTask(id).catch(() => undefined);
      // A task that moved on meanwhile was moved durably by the spool.
      if (located) await fsyncPath(path.join(located.dir, 'instances')).catch(() => undefined);
    }
  }

  /** Non-DICOM entries go to ignored/<archive>/ as they were in the archive, with a reason.json. */
  private async setAside(key: string, manifest: Manifest, entries: string[], from: string): Promise<void> {
    const folder = path.join(this.spool.layout.folder('ignored'), ignoredName(key, manifest));
    for (const entry of entries) {
      await mkdir(path.dirname(path.join(folder, entry)), { recursive: true });
      await rename(path.join(from, entry), path.join(folder, entry));
    }
    await writeFile(path.join(folder, 'reason.json'), JSON.stringify({
      stage: 'receiver', archive: manifest.archive, at: new Date().toISOString(),
      reason: `not DICOM (no DICM prefix): ${manifest.notDicom.length} entr${manifest.notDicom.length === 1 ? 'y' : 'ies'} of the zip archive were not imported`,
      entries: manifest.notDicom,
    }, null, 2) + '\n');
    await fsyncPath(folder);
  }
}

export function zipLimits(config: { max_entries: number; max_total_mb: number; max_entry_mb: number }): ExtractLimits {
  return { maxEntries: config.max_entries, maxTotalBytes: config.max_total_mb * 1024 ** 2, maxEntryBytes: config.max_entry_mb * 1024 ** 2 };
}

function extractionKey(relative: string, size: number, mtimeMs: number): string {
  return createHash('sha256').update(`${relative}\u0000${size}\u0000${mtimeMs}`).digest('hex').slice(0, 16);
}

function ignoredName(key: string, manifest: Manifest): string {
  return `archive-${key}_${path.basename(manifest.archive).replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

/** Files under `dir`, relative, '/'-separated, sorted (the archive's own order is lost; names are stable). */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

async function hasDicomPrefix(file: string): Promise<boolean> {
  return (await bytesAt(file, 128, 4)).toString('latin1') === 'DICM';
}

/** Up to `length` bytes of `file` from `position` (fewer at its end). */
async function bytesAt(file: string, position: number, length: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const bytes = Buffer.alloc(length);
    const { bytesRead } = await fh.read(bytes, 0, length, position);
    return bytes.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function listed(names: string[], max = 10): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}
