import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { DurableWriter } from './durable-writer.js';
import { defectMessage, walkStructure } from './structure-check.js';

const statfs = promisify(fs.statfs);

/** C-STORE statuses the store can end with besides Success. */
export const StoreStatus = {
  Success: 0x0000,
  OutOfResources: 0xa700,
  CannotUnderstand: 0xc210,
  ProcessingFailure: 0x0110,
} as const;

/** A refusal with the DIMSE status to answer. */
export class StoreFailure extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export interface StoredFile {
  path: string;
  bytes: Buffer;
}

/** How long a free-space reading is trusted: statfs per instance would cost a syscall each. */
const FREE_SPACE_TTL_MS = 1000;
const TMP_DIR = '.tmp';

/**
 * Writes received instances into `receivedDir/<calling AE>/` durably, mail-queue style: the bytes
 * go to `.tmp/`, are fdatasync'ed, renamed under their final name and the directory is fsync'ed,
 * so a final name always holds a complete file, even after a power cut (DurableWriter's threads
 * do those steps).
 *
 * Final names start with a zero-padded arrival stamp (ms time + sequence), so `ls` order is
 * arrival order and two arrivals of the same SOP Instance UID never overwrite each other.
 */
export class InstanceStore {
  private sequence = 0;
  private lastStampMs = 0;
  private freeSpace = { bytes: Number.POSITIVE_INFINITY, readAt: 0 };
  /** Folders of calling AEs known to exist (created and made durable once). */
  private readonly aeDirectories = new Set<string>();
  private readonly writer: DurableWriter;

  /** `maxParallel`: writes that may wait on the disk at once (one per open association). */
  constructor(private readonly receivedDir: string, private readonly minFreeMb: number, maxParallel: number) {
    this.writer = new DurableWriter(maxParallel);
  }

  /** Creates the folders and removes what a crash left half-written in `.tmp/`. */
  async init(): Promise<void> {
    const tmp = path.join(this.receivedDir, TMP_DIR);
    await fs.promises.rm(tmp, { recursive: true, force: true });
    await fs.promises.mkdir(tmp, { recursive: true });
  }

  /**
   * Stores one Part-10 file (file meta + dataset, as received) under `sopInstanceUid` (the
   * C-STORE request's) and returns its final path and its bytes (in a new Buffer: `file` is
   * empty afterwards, see DurableWriter.write). Only the element structure is checked here
   * (tags and lengths, about 0.03 ms): the header's values are read after Success, by dcmjs at
   * many times that cost, and a file whose values turn out unreadable is quarantined then. Throws StoreFailure with the
   * status to answer: A700 disk low, C210 structurally broken, 0110 anything else.
   */
  async store(file: Buffer, callingAeTitle: string, sopInstanceUid: string): Promise<StoredFile> {
    await this.ensureFreeSpace();
    const { problem } = walkStructure(file);
    if (problem) throw new StoreFailure(StoreStatus.CannotUnderstand, defectMessage(problem));
    const stamp = this.arrivalStamp();
    try {
      const dir = await this.aeDirectory(callingAeTitle);
      const finalPath = path.join(dir, `${stamp}_${safeName(sopInstanceUid)}.dcm`);
      const bytes = await this.writer.write({ bytes: file, tmpPath: path.join(this.receivedDir, TMP_DIR, `${stamp}.part`), finalPath, dir });
      return { path: finalPath, bytes };
    } catch (err) {
      throw new StoreFailure(StoreStatus.ProcessingFailure, (err as Error).message);
    }
  }

  async close(): Promise<void> {
    await this.writer.close();
  }

  private async ensureFreeSpace(): Promise<void> {
    const now = Date.now();
    if (now - this.freeSpace.readAt > FREE_SPACE_TTL_MS) {
      const stats = await statfs(this.receivedDir);
      this.freeSpace = { bytes: stats.bavail * stats.bsize, readAt: now };
    }
    const freeMb = this.freeSpace.bytes / (1024 * 1024);
    if (freeMb < this.minFreeMb) {
      throw new StoreFailure(StoreStatus.OutOfResources, `free disk ${Math.floor(freeMb)} MB is below min_free_mb ${this.minFreeMb}`);
    }
  }

  /** `<ms since epoch, 14 digits>-<sequence, 6 digits>`: sorts by arrival, never repeats. */
  private arrivalStamp(): string {
    this.lastStampMs = Math.max(this.lastStampMs, Date.now());
    this.sequence = (this.sequence + 1) % 1_000_000;
    return `${String(this.lastStampMs).padStart(14, '0')}-${String(this.sequence).padStart(6, '0')}`;
  }

  private async aeDirectory(callingAeTitle: string): Promise<string> {
    const dir = path.join(this.receivedDir, safeName(callingAeTitle));
    if (!this.aeDirectories.has(dir)) {
      await fs.promises.mkdir(dir, { recursive: true });
      // The new directory's own entry must be durable too.
      const parent = await fs.promises.open(this.receivedDir, 'r');
      try {
        await parent.sync();
      } finally {
        await parent.close();
      }
      this.aeDirectories.add(dir);
    }
    return dir;
  }
}

/** AE titles and UIDs become path components: keep them to a safe alphabet. */
export function safeName(text: string): string {
  // A leading dot would hide the folder (or hit `.tmp`).
  const cleaned = text.trim().replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\./, '_');
  return cleaned === '' ? '_' : cleaned;
}
