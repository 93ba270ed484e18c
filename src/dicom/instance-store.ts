import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { InstanceHeader } from './instance-header.js';
import { readInstanceHeader } from './read-header.js';

const write = promisify(fs.write);
const fdatasync = promisify(fs.fdatasync);
const fsync = promisify(fs.fsync);
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
  header: InstanceHeader;
}

/** How long a free-space reading is trusted: statfs per instance would cost a syscall each. */
const FREE_SPACE_TTL_MS = 1000;
const TMP_DIR = '.tmp';

/**
 * Writes received instances into `receivedDir/<calling AE>/` durably, mail-queue style: the bytes
 * go to `.tmp/`, are fdatasync'ed, renamed under their final name and the directory is fsync'ed,
 * so a final name always holds a complete file, even after a power cut.
 *
 * Final names start with a zero-padded arrival stamp (ms time + sequence), so `ls` order is
 * arrival order and two arrivals of the same SOP Instance UID never overwrite each other.
 */
export class InstanceStore {
  private sequence = 0;
  private lastStampMs = 0;
  private freeSpace = { bytes: Number.POSITIVE_INFINITY, readAt: 0 };
  /** Open directory descriptors kept for the fsync after each rename (saves an open/close). */
  private readonly dirFds = new Map<string, number>();

  constructor(private readonly receivedDir: string, private readonly minFreeMb: number) {}

  /** Creates the folders and removes what a crash left half-written in `.tmp/`. */
  async init(): Promise<void> {
    const tmp = path.join(this.receivedDir, TMP_DIR);
    await fs.promises.rm(tmp, { recursive: true, force: true });
    await fs.promises.mkdir(tmp, { recursive: true });
  }

  /**
   * Stores one Part-10 file (file meta + dataset, as received). Throws StoreFailure with the
   * status to answer: A700 disk low, C210 not parseable as DICOM, 0110 anything else.
   */
  async store(file: Buffer, callingAeTitle: string): Promise<StoredFile> {
    await this.ensureFreeSpace();
    const tmpPath = path.join(this.receivedDir, TMP_DIR, `${this.arrivalStamp()}.part`);
    let fd: number | undefined;
    try {
      fd = fs.openSync(tmpPath, 'wx');
      // Writing and flushing run on the thread pool while this thread parses the header.
      const flushed = writeAndFlush(fd, file);
      let header: InstanceHeader | undefined;
      let parseError: Error | undefined;
      try {
        header = readInstanceHeader(file);
      } catch (err) {
        parseError = err as Error;
      }
      await flushed;
      fs.closeSync(fd);
      fd = undefined;
      if (!header) throw new StoreFailure(StoreStatus.CannotUnderstand, parseError?.message ?? 'unparseable dataset');

      const dir = await this.aeDirectory(callingAeTitle);
      const finalPath = path.join(dir, `${path.basename(tmpPath, '.part')}_${safeName(header.sopInstanceUid)}.dcm`);
      fs.renameSync(tmpPath, finalPath);
      await fsync(this.dirFd(dir));
      return { path: finalPath, header };
    } catch (err) {
      if (fd !== undefined) fs.closeSync(fd);
      fs.rmSync(tmpPath, { force: true });
      if (err instanceof StoreFailure) throw err;
      throw new StoreFailure(StoreStatus.ProcessingFailure, (err as Error).message);
    }
  }

  close(): void {
    for (const fd of this.dirFds.values()) fs.closeSync(fd);
    this.dirFds.clear();
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
    if (!this.dirFds.has(dir)) {
      await fs.promises.mkdir(dir, { recursive: true });
      // The new directory's own entry must be durable too.
      await fsync(this.dirFd(this.receivedDir));
      this.dirFd(dir);
    }
    return dir;
  }

  private dirFd(dir: string): number {
    let fd = this.dirFds.get(dir);
    if (fd === undefined) {
      fd = fs.openSync(dir, 'r');
      this.dirFds.set(dir, fd);
    }
    return fd;
  }
}

async function writeAndFlush(fd: number, bytes: Buffer): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await write(fd, bytes, written, bytes.length - written);
    written += bytesWritten;
  }
  await fdatasync(fd);
}

/** AE titles and UIDs become path components: keep them to a safe alphabet. */
export function safeName(text: string): string {
  // A leading dot would hide the folder (or hit `.tmp`).
  const cleaned = text.trim().replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\./, '_');
  return cleaned === '' ? '_' : cleaned;
}
