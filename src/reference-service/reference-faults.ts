import { open, rename, rm } from 'node:fs/promises';
import { constants, crc32, deflateRawSync } from 'node:zlib';
import { z } from 'zod';
import { temporaryNameFor } from '../remote/zip-pack.js';
import {
  centralDirectoryHeader, endOfCentralDirectory, FLAG_UTF8_NAME, localFileHeader, UNIX_REGULAR_FILE_0644, type DosTime, type ZipRecordFields,
} from '../remote/zip-records.js';

/**
 * Ways the reference service can be told to misbehave, the way real remote services and VPN
 * shares fail. Set at start (opts.faults) or on a running service with `POST /_faults`.
 */
export const referenceFaultsSchema = z.object({
  /** Answer 503 to this many of the next requests (any route but /_faults); counts down. */
  failNextCalls: z.number().int().min(0).optional(),
  /** Wait this long before every answer. */
  responseDelayMs: z.number().int().min(0).optional(),
  /** Wait this long before processing an accepted task. */
  processingDelayMs: z.number().int().min(0).optional(),
  /** Process and write the result, but never call back. */
  neverCallBack: z.boolean().optional(),
  /** What to write into the results folder instead of a sound result archive. */
  result: z.enum(['ok', 'corrupt', 'zip-slip', 'zip-bomb']).optional(),
  /** Forget accepted tasks: GET /tasks/{id} says unknown, no result, no callback. */
  loseTasks: z.boolean().optional(),
  /** Behave like a service without the GET /tasks/{id} route (plain 404 "Cannot GET"). */
  noTasksRoute: z.boolean().optional(),
}).strict();

export type ReferenceFaults = z.infer<typeof referenceFaultsSchema>;

/** What the zip-bomb fault claims to expand to: 3 GiB of zeros, in a file of about 3 MiB. */
export const ZIP_BOMB_BYTES = 3 * 1024 ** 3;

export interface CraftedEntry {
  name: string;
  data: Buffer;
  /** Unix mode (type and permission bits); default a regular file, 0644. 0o120777 makes a symlink. */
  mode?: number;
}

/**
 * Write a zip by hand (stored entries, no zip64), for archives no zip tool would produce, such
 * as an entry named `../x`. Written under a temporary name and renamed into place.
 */
export async function writeCraftedZip(file: string, entries: CraftedEntry[]): Promise<void> {
  await writeZipParts(file, entries.map(storedPart));
}

/**
 * Write a zip bomb: `otherEntries` plus one deflated entry `name` that really expands to
 * `expandsTo` zero bytes (a multiple of 1 MiB, below 4 GiB), while its headers declare
 * `declaredSize` (default: the truth; a smaller value makes a bomb that lies about its size).
 * Built without compressing gigabytes: one 1 MiB block of zeros is deflated with a full flush
 * (byte-aligned, independent of what came before) and repeated, then closed by an empty final block.
 */
export async function writeZipBomb(
  file: string, name: string, expandsTo: number, opts: { declaredSize?: number; otherEntries?: CraftedEntry[] } = {},
): Promise<void> {
  const MiB = 1024 * 1024;
  if (expandsTo % MiB !== 0 || expandsTo >= 2 ** 32) throw new Error('zip bomb size must be a multiple of 1 MiB below 4 GiB');
  const zeros = Buffer.alloc(MiB);
  const block = deflateRawSync(zeros, { level: 9, finishFlush: constants.Z_FULL_FLUSH });
  const finalEmptyBlock = Buffer.from([0x03, 0x00]); // BFINAL=1, fixed Huffman, end-of-block
  const repeats = expandsTo / MiB;
  const zerosCrc = crcOfZeros(repeats, zeros);
  const bomb: ZipPart = {
    name, method: 8, crc: zerosCrc, compressedSize: block.length * repeats + finalEmptyBlock.length,
    size: opts.declaredSize ?? expandsTo,
    chunks: { [Symbol.iterator]: function* () { for (let i = 0; i < repeats; i++) yield block; yield finalEmptyBlock; } },
  };
  const others = (opts.otherEntries ?? []).map(storedPart);
  await writeZipParts(file, [...others, bomb]);
}

/** CRC-32 of `mebibytes` MiB of zeros; computed in 1 MiB steps (a few hundred ms for 3 GiB). */
function crcOfZeros(mebibytes: number, zeros: Buffer): number {
  let crc = 0;
  for (let i = 0; i < mebibytes; i++) crc = crc32(zeros, crc);
  return crc;
}

interface ZipPart {
  name: string;
  /** 0 stored, 8 deflated */
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  chunks: Iterable<Buffer>;
  mode?: number;
}

function storedPart(e: CraftedEntry): ZipPart {
  return { name: e.name, method: 0, crc: crc32(e.data), compressedSize: e.data.length, size: e.data.length, chunks: [e.data], mode: e.mode };
}

/** 2024-01-01 00:00:00: crafted archives are byte-for-byte the same every time. */
const DOS_TIME: DosTime = { time: 0, date: (2024 - 1980) << 9 | 1 << 5 | 1 };

async function writeZipParts(file: string, parts: ZipPart[]): Promise<void> {
  const temporary = temporaryNameFor(file);
  const fh = await open(temporary, 'w');
  try {
    let offset = 0;
    const central: Buffer[] = [];
    const write = async (buf: Buffer): Promise<void> => {
      await fh.write(buf);
      offset += buf.length;
    };
    for (const part of parts) {
      const fields: ZipRecordFields = {
        name: Buffer.from(part.name, 'utf8'), flags: FLAG_UTF8_NAME, method: part.method, dosTime: DOS_TIME,
        crc32: part.crc, compressedSize: part.compressedSize, size: part.size,
      };
      const localOffset = offset;
      await write(localFileHeader(fields));
      for (const chunk of part.chunks) await write(chunk);
      central.push(centralDirectoryHeader(fields, part.mode ?? UNIX_REGULAR_FILE_0644, localOffset));
    }
    const centralOffset = offset;
    const centralBytes = Buffer.concat(central);
    await write(centralBytes);
    await write(endOfCentralDirectory(parts.length, centralBytes.length, centralOffset));
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(temporary, { force: true });
    throw err;
  }
  await fh.close();
  await rename(temporary, file);
}

/**
 * Damage an archive the way an interrupted copy or a bad link does: overwrite a stretch in the
 * middle of the entry data, so the central directory still reads but the content fails its
 * check (CRC-32, or the sha256 a result gives) or does not inflate.
 */
export async function corruptZipInPlace(file: string): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const { size } = await fh.stat();
    const stretch = Math.min(4096, Math.max(1, Math.floor(size / 8)));
    await fh.write(Buffer.alloc(stretch, 0xa5), 0, stretch, Math.floor(size / 3));
    await fh.sync();
  } finally {
    await fh.close();
  }
}
