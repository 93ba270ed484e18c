import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../log/logger.js';
import { arrivalStamp, safeName } from '../spool/arrival-name.js';
import { fsyncPath, writeFileDurably } from '../spool/durable.js';
import { IntakeJournal } from './intake-journal.js';
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
  /** Resolves once the file itself is durable (the instance may be handed on); rejects when the journal stopped first. */
  durable: Promise<void>;
}

/** How long a free-space reading is trusted: statfs per instance would cost a syscall each. */
const FREE_SPACE_TTL_MS = 1000;

/**
 * Stores received instances under `receivedDir/<calling AE>/` through the intake journal
 * (intake-journal.ts): once store() resolves the instance is on disk, in the journal; `durable`
 * tells when its file is in place under its final name and no longer needs the journal. An
 * instance too large for a journal segment is written on its own instead: fdatasync, rename,
 * folder fsync.
 *
 * Final names start with an arrival stamp (arrival-name.ts).
 */
export class InstanceStore {
  private freeSpace = { bytes: Number.POSITIVE_INFINITY, readAt: 0 };
  private journal: IntakeJournal | undefined;

  constructor(private readonly receivedDir: string, private readonly minFreeMb: number, private readonly logger: Logger) {}

  /** Opens the intake journal, which restores what it still holds; returns how many instances that was. */
  async init(): Promise<number> {
    const { journal, restored } = await IntakeJournal.open(this.receivedDir, this.logger);
    this.journal = journal;
    return restored;
  }

  /**
   * Stores one Part-10 file (file meta + dataset, as received) under `sopInstanceUid` (the
   * C-STORE request's). Only the element structure is checked here (tags and lengths, about
   * 0.03 ms): the header's values are read after Success, by dcmjs at many times that cost, and a
   * file whose values turn out unreadable is quarantined then. Throws StoreFailure with the
   * status to answer: A700 disk low, C210 structurally broken, 0110 anything else.
   */
  async store(file: Buffer, callingAeTitle: string, sopInstanceUid: string): Promise<StoredFile> {
    await this.ensureFreeSpace();
    const { problem } = walkStructure(file);
    if (problem) throw new StoreFailure(StoreStatus.CannotUnderstand, defectMessage(problem));
    const relativePath = path.join(safeName(callingAeTitle), `${arrivalStamp()}_${safeName(sopInstanceUid)}.dcm`);
    const finalPath = path.join(this.receivedDir, relativePath);
    try {
      if (!IntakeJournal.fits(relativePath, file)) {
        // A new AE folder's own entry must be durable too.
        if (await fs.promises.mkdir(path.dirname(finalPath), { recursive: true })) await fsyncPath(this.receivedDir);
        await writeFileDurably(finalPath, file);
        return { path: finalPath, bytes: file, durable: Promise.resolve() };
      }
      const { checkpointed } = await this.journal!.append(relativePath, file);
      return { path: finalPath, bytes: file, durable: checkpointed };
    } catch (err) {
      throw new StoreFailure(StoreStatus.ProcessingFailure, (err as Error).message);
    }
  }

  /** Makes every stored file durable and closes the journal. */
  async close(): Promise<void> {
    await this.journal?.close();
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
}
