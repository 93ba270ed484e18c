/**
 * Writes a zip archive of in-memory entries, DEFLATE-compressed in parallel on the libuv thread
 * pool, without copying the entries' bytes first; or compressed beforehand by deflateInMemory.
 *
 * Each entry is cut into chunks that are compressed independently (async zlib.deflateRaw). Every
 * chunk but the last ends with a sync flush, which leaves the stream byte-aligned with no final
 * block, so the chunks' outputs laid end to end are one valid deflate stream (pigz does the same).
 * A few chunks are in flight at once; their outputs are written in order as they complete, so
 * memory stays at a few chunks whatever the entry's size. The CRC-32 is taken on the main thread
 * (zlib.crc32) as chunks complete.
 *
 * Each local header is written after its entry's data, into space reserved before it, so the
 * header carries the real CRC and sizes (no data descriptors: every reader accepts this layout).
 * This writer makes no zip64 archives: an entry or archive of 4 GiB or more is refused with an
 * error before anything broken is written.
 *
 * The archive is written under a hidden temporary name in the target folder, fsynced, renamed into
 * place and the folder fsynced, so the target either does not exist or is complete; the temporary
 * file is removed on failure.
 */
import { availableParallelism } from 'node:os';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { fsyncPath } from '../spool/durable.js';
import { temporaryNameFor } from './zip-pack.js';
import {
  centralDirectoryHeader, endOfCentralDirectory, FLAG_UTF8_NAME, LOCAL_HEADER_BYTES, localFileHeader, UNIX_REGULAR_FILE_0644,
  type DosTime, type ZipRecordFields,
} from './zip-records.js';

/** Consecutive pieces of one entry's content, e.g. an .npy header then a Float32Array's bytes. */
export type ZipContent = readonly ArrayBufferView[];

export type ZipEntry = {
  /** Path inside the archive, '/'-separated. */
  name: string;
  /**
   * The content, or a promise of it: the writer awaits it only when it reaches this entry, so
   * e.g. a checksum of an earlier entry can still be computing while that entry is compressed.
   */
  content: ZipContent | Promise<ZipContent>;
} | {
  name: string;
  /** The content compressed already (deflateInMemory), written as it is. */
  deflated: DeflatedContent;
};

/** An entry's content as one deflate stream in memory, with what its zip records need. */
export interface DeflatedContent {
  chunks: Buffer[];
  /** Uncompressed bytes. */
  size: number;
  crc32: number;
}

export interface WriteZipOptions {
  /** zlib level 0-9 (default 1: float voxels gain little from harder work). */
  level?: number;
  /** zlib strategy (default zlib.constants.Z_DEFAULT_STRATEGY). */
  strategy?: number;
  /** Uncompressed bytes per chunk compressed as one thread-pool job (default 4 MiB). */
  chunkBytes?: number;
  /** Chunks being compressed at once (default: one more than the cores, leaving a pool thread for file writes). */
  parallelChunks?: number;
  /** Modification time recorded for every entry (default now). */
  modified?: Date;
  /**
   * Sizes and offsets must stay below this (default 0xFFFFFFFF, the zip32 limit: that value means
   * "see zip64"). Lower only to test the refusal without gigabytes of data.
   */
  sizeLimit?: number;
}

export interface WrittenZipEntry {
  name: string;
  size: number;
  compressedSize: number;
  crc32: number;
}

export interface WrittenZip {
  /** Size of the archive file in bytes. */
  bytes: number;
  entries: WrittenZipEntry[];
}

const ZIP32_LIMIT = 0xffff_ffff;
const MAX_ENTRIES = 0xffff;
const DEFAULT_CHUNK_BYTES = 4 << 20;
const METHOD_DEFLATE = 8;

/** Zip `entries`, in the given order, into `zipPath`. Resolves once the archive is durably in place. */
export async function writeZip(zipPath: string, entries: readonly ZipEntry[], opts: WriteZipOptions = {}): Promise<WrittenZip> {
  // Promised contents are awaited later; if we fail first, their rejections must not go unhandled.
  for (const entry of entries) if ('content' in entry && entry.content instanceof Promise) entry.content.catch(() => undefined);
  const names = entries.map((entry) => checkedName(entry.name));
  const settings = resolveSettings(opts);
  if (entries.length === 0) throw new Error('writeZip: no entries to write');
  if (entries.length >= MAX_ENTRIES) throw new Error(`writeZip: ${entries.length} entries; this writer makes no zip64 archives (at most ${MAX_ENTRIES - 1})`);

  const temporary = temporaryNameFor(zipPath);
  const archiveName = path.basename(zipPath);
  let fh: FileHandle | undefined;
  try {
    fh = await open(temporary, 'wx');
    const written: WrittenZipEntry[] = [];
    const offsets: number[] = [];
    let position = 0;
    for (const [index, entry] of entries.entries()) {
      const name = names[index];
      const data = 'deflated' in entry ? entry.deflated : await entry.content;
      const size = 'chunks' in data ? data.size : contentSize(data);
      if (size >= settings.sizeLimit) {
        throw new Error(`${archiveName}: entry ${entry.name} is ${size} bytes; this writer makes no zip64 archives, so entries must stay under ${settings.sizeLimit} bytes`);
      }
      const dataStart = position + LOCAL_HEADER_BYTES + name.length;
      // Compressed beforehand: written as it is; otherwise compressed a few chunks at a time on the
      // thread pool and written in order as they complete.
      const out = new CompressedDataWriter(fh, dataStart, settings, archiveName);
      let crc32: number;
      if ('chunks' in data) {
        for (const compressed of data.chunks) await out.write(compressed);
        crc32 = data.crc32;
      } else {
        crc32 = await deflateInOrder(data, settings, out.write);
      }
      const result = { name: entry.name, size, compressedSize: out.compressedSize, crc32 };
      await writeAll(fh, localFileHeader(recordFields(name, result, settings.dosTime)), position);
      offsets.push(position);
      written.push(result);
      position = dataStart + result.compressedSize;
    }
    const headers = written.map((entry, i) => centralDirectoryHeader(recordFields(names[i]!, entry, settings.dosTime), UNIX_REGULAR_FILE_0644, offsets[i]!));
    const headersLength = headers.reduce((sum, header) => sum + header.length, 0);
    const directory = Buffer.concat([...headers, endOfCentralDirectory(written.length, headersLength, position)]);
    if (position + directory.length >= settings.sizeLimit) {
      throw new Error(`${archiveName}: the archive would be ${position + directory.length} bytes; this writer makes no zip64 archives, so archives must stay under ${settings.sizeLimit} bytes`);
    }
    await writeAll(fh, directory, position);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(temporary, zipPath);
    await fsyncPath(path.dirname(zipPath));
    return { bytes: position + directory.length, entries: written };
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await rm(temporary, { force: true }).catch(() => undefined);
    throw err;
  }
}

interface Settings {
  level: number;
  strategy: number;
  chunkBytes: number;
  parallelChunks: number;
  dosTime: DosTime;
  sizeLimit: number;
}

function resolveSettings(opts: WriteZipOptions): Settings {
  const threadPool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const settings: Settings = {
    level: opts.level ?? 1,
    strategy: opts.strategy ?? zlib.constants.Z_DEFAULT_STRATEGY,
    chunkBytes: opts.chunkBytes ?? DEFAULT_CHUNK_BYTES,
    parallelChunks: opts.parallelChunks ?? Math.max(1, Math.min(availableParallelism() + 1, threadPool - 1)),
    dosTime: dosDateTime(opts.modified ?? new Date()),
    sizeLimit: Math.min(opts.sizeLimit ?? ZIP32_LIMIT, ZIP32_LIMIT),
  };
  if (!Number.isInteger(settings.level) || settings.level < 0 || settings.level > 9) throw new Error(`writeZip: level ${settings.level} is not 0-9`);
  if (!Number.isInteger(settings.chunkBytes) || settings.chunkBytes < 1) throw new Error(`writeZip: chunkBytes ${settings.chunkBytes} is not a positive integer`);
  if (!Number.isInteger(settings.parallelChunks) || settings.parallelChunks < 1) throw new Error(`writeZip: parallelChunks ${settings.parallelChunks} is not a positive integer`);
  return settings;
}

/** The name as stored: UTF-8 bytes of a relative, '/'-separated path with no '..' part. */
function checkedName(name: string): Buffer {
  const parts = name.split('/');
  if (name === '' || name.startsWith('/') || name.includes('\\') || parts.some((part) => part === '' || part === '.' || part === '..')) {
    throw new Error(`writeZip: ${JSON.stringify(name)} is not a relative file path inside the archive`);
  }
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length > 0xffff) throw new Error(`writeZip: the entry name ${name.slice(0, 40)}… is longer than 65535 bytes`);
  return bytes;
}

function contentSize(content: ZipContent): number {
  return content.reduce((sum, piece) => sum + piece.byteLength, 0);
}

/** The content in chunks of at most chunkBytes that never span two pieces (so nothing is copied). */
function* chunksOf(content: ZipContent, chunkBytes: number): Generator<Uint8Array> {
  for (const piece of content) {
    const bytes = new Uint8Array(piece.buffer, piece.byteOffset, piece.byteLength);
    for (let offset = 0; offset < bytes.length; offset += chunkBytes) yield bytes.subarray(offset, offset + chunkBytes);
  }
}

/** Writes an entry's compressed bytes, chunk after chunk, from `start` on, within the size limit. */
class CompressedDataWriter {
  private position: number;

  constructor(private readonly fh: FileHandle, private readonly start: number, private readonly settings: Settings, private readonly archiveName: string) {
    this.position = start;
  }

  readonly write = async (compressed: Buffer): Promise<void> => {
    const end = this.position + compressed.length;
    if (end >= this.settings.sizeLimit) {
      throw new Error(`${this.archiveName}: the archive would reach ${end} bytes or more; this writer makes no zip64 archives, so archives must stay under ${this.settings.sizeLimit} bytes`);
    }
    await writeAll(this.fh, compressed, this.position);
    this.position = end;
  };

  get compressedSize(): number {
    return this.position - this.start;
  }
}

/**
 * `content` compressed into memory as writeZip would compress it, for an entry written later
 * (`deflated`): the packer compresses a volume while its task still waits (pack-ahead.ts).
 */
export async function deflateInMemory(content: ZipContent, opts: Pick<WriteZipOptions, 'level' | 'strategy' | 'chunkBytes' | 'parallelChunks'> = {}): Promise<DeflatedContent> {
  const chunks: Buffer[] = [];
  const crc32 = await deflateInOrder(content, resolveSettings(opts), async (compressed) => { chunks.push(compressed); });
  return { chunks, size: contentSize(content), crc32 };
}

/**
 * Compress `content` as one deflate stream: chunks are compressed a few at a time on the thread
 * pool and handed to `take` in order as they complete; resolves with the content's CRC-32.
 */
async function deflateInOrder(content: ZipContent, settings: Settings, take: (compressed: Buffer) => Promise<void>): Promise<number> {
  const chunks = chunksOf(content, settings.chunkBytes);
  let next = chunks.next();
  const inFlight: { input: Uint8Array; output: Promise<Buffer> }[] = [];
  const dispatch = (): void => {
    while (inFlight.length < settings.parallelChunks && !next.done) {
      const input = next.value;
      next = chunks.next();
      const output = deflateChunk(input, next.done === true, settings);
      output.catch(() => undefined); // awaited below; this only keeps an abandoned one from going unhandled
      inFlight.push({ input, output });
    }
  };
  // An empty entry is one empty final chunk: a valid (two-byte) deflate stream.
  if (next.done) inFlight.push({ input: new Uint8Array(0), output: deflateChunk(new Uint8Array(0), true, settings) });
  let crc32 = 0;
  try {
    dispatch();
    while (inFlight.length > 0) {
      const { input, output } = inFlight[0];
      const compressed = await output;
      inFlight.shift();
      dispatch();
      crc32 = zlib.crc32(input, crc32);
      await take(compressed);
    }
  } finally {
    // Never return while our jobs still occupy the thread pool.
    await Promise.allSettled(inFlight.map((job) => job.output));
  }
  return crc32;
}

function deflateChunk(input: Uint8Array, last: boolean, settings: Settings): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zlib.deflateRaw(input, {
      level: settings.level,
      strategy: settings.strategy,
      finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
      // Room for the whole output at once: one pool job per chunk, not one per 16 KiB of output.
      chunkSize: Math.max(zlib.constants.Z_MIN_CHUNK, input.length + (input.length >> 7) + 1024),
    }, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

async function writeAll(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

function flagsFor(name: Buffer): number {
  return name.some((byte) => byte >= 0x80) ? FLAG_UTF8_NAME : 0;
}

function recordFields(name: Buffer, entry: WrittenZipEntry, dosTime: DosTime): ZipRecordFields {
  return { name, flags: flagsFor(name), method: METHOD_DEFLATE, dosTime, crc32: entry.crc32, compressedSize: entry.compressedSize, size: entry.size };
}

/** MS-DOS date and time (local time, two-second resolution; the format starts in 1980). */
function dosDateTime(when: Date): DosTime {
  const t = when.getFullYear() < 1980 ? new Date(1980, 0, 1) : when.getFullYear() > 2107 ? new Date(2107, 11, 31, 23, 59, 58) : when;
  return {
    time: (t.getHours() << 11) | (t.getMinutes() << 5) | (t.getSeconds() >> 1),
    date: ((t.getFullYear() - 1980) << 9) | ((t.getMonth() + 1) << 5) | t.getDate(),
  };
}
