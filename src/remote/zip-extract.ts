import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, rmdir, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, createInflateRaw } from 'node:zlib';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { fsyncPath, writeAll } from '../spool/durable.js';

/**
 * Archives come from the other side of a VPN share, so they are untrusted input: names are
 * checked before anything is written, and sizes are enforced on the bytes that really come out of
 * the decompressor (a zip bomb's headers lie).
 */
export interface ExtractLimits {
  maxEntries: number;
  /** Sum of all decompressed entry sizes. */
  maxTotalBytes: number;
  maxEntryBytes: number;
  /** When given, every file entry's name must match (e.g. /^[\w.-]+$/). */
  allowedNames?: RegExp;
}

const GiB = 1024 ** 3;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
/** Pieces read from the archive and out of the decompressor: large ones keep the per-piece cost (thread hand-overs, checks, writes) small. */
const READ_CHUNK_BYTES = 1024 * 1024;
const INFLATE_CHUNK_BYTES = 1024 * 1024;

/** Generous for a PET volume (400×512×512 float32 is 420 MB) yet far below a bomb's expansion. */
export const DEFAULT_ARCHIVE_LIMITS: ExtractLimits = { maxEntries: 16, maxTotalBytes: 2 * GiB, maxEntryBytes: 2 * GiB };

export interface ZipEntryInfo { name: string; size: number }

/** A refusal of the archive itself (as opposed to a local I/O failure while writing it out). */
export class ZipRefusedError extends Error {
  override name = 'ZipRefusedError';
}

/**
 * Extract `zipPath` into `destDir`. Entries are written into a hidden `destDir/.partial-*`
 * folder, fsynced, and renamed into place only when the whole archive passed every check; on any
 * problem nothing is left behind and the Error says what was wrong. Returns the extracted files'
 * paths.
 */
export async function extractZipSafely(zipPath: string, destDir: string, limits: ExtractLimits): Promise<string[]> {
  const destExisted = await stat(destDir).then(() => true, () => false);
  await mkdir(destDir, { recursive: true });
  const partial = await mkdtemp(path.join(destDir, '.partial-'));
  const placed: string[] = [];
  try {
    const entries = await extractZipInto(zipPath, partial, limits);
    for (const { name } of entries) {
      const target = path.join(destDir, name);
      await mkdir(path.dirname(target), { recursive: true });
      await rename(path.join(partial, name), target);
      placed.push(target);
    }
    await fsyncPath(destDir);
    return placed;
  } catch (err) {
    await Promise.all(placed.map((p) => rm(p, { force: true })));
    await rm(partial, { recursive: true, force: true });
    if (!destExisted) await rmdir(destDir).catch(() => undefined); // only succeeds if we left it empty
    throw err;
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
}

/**
 * For an entry whose bytes the caller checks itself with something stronger than the zip's CRC-32
 * (a sha256 it was given), a function that sees them as they stream past; the CRC-32 of such an
 * entry is not computed (on a 105 MB volume it cost about an eighth of the read). The caller
 * makes its check once the read resolves. Undefined for the entries the CRC-32 checks.
 */
export type CallerCheck = (name: string) => ((chunk: Buffer) => void) | undefined;

/**
 * Extract every file entry of `zipPath` into the existing, empty folder `dir` in one pass through
 * the decompressor, with the checks of checkZip (names, counts, sizes, CRC-32). Each file and each
 * folder written is fsynced, so once this returns the content survives a crash; `dir` should be a
 * temporary folder the caller renames into place when it is satisfied with the content (and
 * removes on failure: a refused archive leaves what was written so far).
 */
export async function extractZipInto(zipPath: string, dir: string, limits: ExtractLimits): Promise<ZipEntryInfo[]> {
  const folders = new Set<string>([dir]);
  const entries = await walkZip(zipPath, limits, async (name) => {
    const target = path.join(dir, name);
    const parent = path.dirname(target);
    if (!folders.has(parent)) {
      await mkdir(parent, { recursive: true });
      for (let f = parent; f.startsWith(dir) && !folders.has(f); f = path.dirname(f)) folders.add(f);
    }
    return new DurableFileSink(target);
  });
  // Deepest first, so that every folder's new entries are durable before its parent's.
  for (const folder of [...folders].sort((a, b) => b.length - a.length)) await fsyncPath(folder);
  return entries;
}

/**
 * Read every entry through the decompressor and check its CRC and size, writing nothing: tells
 * whether an archive arrived whole and sound. Returns the file entries.
 */
export async function checkZip(zipPath: string, limits: ExtractLimits = DEFAULT_ARCHIVE_LIMITS): Promise<ZipEntryInfo[]> {
  return walkZip(zipPath, limits, async () => new Writable({ write: (_chunk, _enc, done) => done() }));
}

/**
 * Read every file entry of `zipPath` into memory, with the checks of checkZip (names, counts,
 * sizes, and the CRC-32 of each entry `checkedByCaller` leaves to it): each entry's bytes land in
 * a SharedArrayBuffer of the size its header declares (within the limits; the bytes that come out
 * of the decompressor must match it), so worker threads can use them without a copy.
 */
export async function readZipIntoMemory(zipPath: string, limits: ExtractLimits, checkedByCaller?: CallerCheck): Promise<Map<string, Uint8Array>> {
  const contents = new Map<string, Uint8Array>();
  let declared = 0;
  await walkZip(zipPath, limits, async (name, size) => {
    declared += size;
    if (declared > limits.maxTotalBytes) throw new ZipRefusedError(`archive expands past ${formatBytes(limits.maxTotalBytes)} limit`);
    const content = new Uint8Array(new SharedArrayBuffer(size));
    contents.set(name, content);
    return new MemorySink(content);
  }, checkedByCaller);
  return contents;
}

/**
 * The sum of the sizes the central directory declares for the entries, without reading them:
 * what extracting needs on disk at least (a lying header is still caught while extracting).
 */
export async function declaredZipSize(zipPath: string): Promise<number> {
  const zip = await openZip(zipPath);
  try {
    let total = 0;
    for (let entry = await nextEntry(zip); entry; entry = await nextEntry(zip)) total += entry.uncompressedSize;
    return total;
  } finally {
    zip.close();
  }
}

/** Where an entry's checked bytes go, given its name and declared size. */
type EntrySink = (name: string, size: number) => Promise<Writable>;

/** Open, validate every name and declared size, then stream each file entry, checked, to `sink`. */
async function walkZip(zipPath: string, limits: ExtractLimits, sink: EntrySink, checkedByCaller?: CallerCheck): Promise<ZipEntryInfo[]> {
  const zip = await openZip(zipPath);
  try {
    if (zip.entryCount > limits.maxEntries) {
      throw new ZipRefusedError(`archive has ${zip.entryCount} entries, more than the limit of ${limits.maxEntries}`);
    }
    const seen = new Set<string>();
    const files: ZipEntryInfo[] = [];
    const budget = { total: 0 };
    let entryNumber = 0;
    for (let entry = await nextEntry(zip); entry; entry = await nextEntry(zip)) {
      entryNumber += 1;
      if (entryNumber > limits.maxEntries) throw new ZipRefusedError(`archive has more than ${limits.maxEntries} entries`);
      const name = entryName(entry);
      const isDirectory = name.endsWith('/');
      checkEntry(entry, name, isDirectory, limits);
      if (seen.has(name)) throw new ZipRefusedError(`entry ${name} appears twice in the archive`);
      seen.add(name);
      if (isDirectory) continue;
      const stored = await openEntry(zip, zipPath, entry, name);
      // Inflated here rather than by yauzl, whose decompressor hands over 16 KiB at a time.
      const data = entry.compressionMethod === METHOD_DEFLATE ? createInflateRaw({ chunkSize: INFLATE_CHUNK_BYTES }) : undefined;
      let readFailed = false;
      for (const stream of [stored, data]) stream?.once('error', () => { readFailed = true; });
      try {
        const checked = new CheckedBytes(entry, name, limits, budget, checkedByCaller?.(name));
        const target = await sink(name, entry.uncompressedSize);
        await (data ? pipeline(stored, data, checked, target) : pipeline(stored, checked, target));
      } catch (err) {
        if (err instanceof ZipRefusedError) throw err;
        if (readFailed) throw new ZipRefusedError(`entry ${name} is corrupt: ${(err as Error).message}`);
        throw new Error(`writing entry ${name} failed: ${(err as Error).message}`);
      }
      files.push({ name, size: entry.uncompressedSize });
    }
    return files;
  } finally {
    zip.close();
  }
}

function openZip(zipPath: string): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    // decodeStrings: false so that we see the raw names and apply our own rules (and messages);
    // validateEntrySizes: false because CheckedBytes enforces sizes with the configured limits.
    yauzl.open(zipPath, { lazyEntries: true, decodeStrings: false, validateEntrySizes: false, autoClose: false }, (err, zip) => {
      if (err) reject(new ZipRefusedError(`${path.basename(zipPath)} is not a readable zip archive: ${err.message}`));
      else resolve(zip);
    });
  });
}

function nextEntry(zip: ZipFile): Promise<Entry | null> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    const onEntry = (entry: Entry): void => { cleanup(); resolve(entry); };
    const onEnd = (): void => { cleanup(); resolve(null); };
    const onError = (err: Error): void => { cleanup(); reject(new ZipRefusedError(`archive central directory is damaged: ${err.message}`)); };
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

/**
 * The entry's bytes as stored in the archive (compressed, for a deflated one), read in large
 * pieces: yauzl's own stream reads 16 KiB at a time, each piece a separate read and decompressor
 * call.
 */
function openEntry(zip: ZipFile, zipPath: string, entry: Entry, name: string): Promise<Readable> {
  return new Promise((resolve, reject) => {
    zip.readLocalFileHeader(entry, { minimal: true }, (err, header) => {
      if (err) return reject(new ZipRefusedError(`entry ${name} could not be opened: ${err.message}`));
      if (entry.compressedSize === 0) return resolve(Readable.from([]));
      resolve(createReadStream(zipPath, {
        start: header.fileDataStart, end: header.fileDataStart + entry.compressedSize - 1, highWaterMark: READ_CHUNK_BYTES,
      }));
    });
  });
}

/** The raw name bytes: UTF-8 when the entry says so, otherwise read byte-for-byte (latin1). */
function entryName(entry: Entry): string {
  const raw = entry.fileName as unknown as Buffer;
  return raw.toString((entry.generalPurposeBitFlag & 0x800) !== 0 ? 'utf8' : 'latin1');
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

/** Rules on an entry's name, type and declared size; throws with the reason. */
function checkEntry(entry: Entry, name: string, isDirectory: boolean, limits: ExtractLimits): void {
  const shown = JSON.stringify(name).slice(1, -1);
  if (name === '') throw new ZipRefusedError('archive has an entry with an empty name');
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) throw new ZipRefusedError(`entry ${shown} has control characters in its name`);
  if (name.includes('\\')) throw new ZipRefusedError(`entry ${shown} has a backslash in its name`);
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) throw new ZipRefusedError(`entry ${shown} has an absolute path`);
  const segments = (isDirectory ? name.slice(0, -1) : name).split('/');
  if (segments.includes('..')) throw new ZipRefusedError(`entry ${shown} escapes the folder`);
  if (segments.some((s) => s === '' || s === '.')) throw new ZipRefusedError(`entry ${shown} is not a plain relative path`);
  if (((entry.externalFileAttributes >>> 16) & S_IFMT) === S_IFLNK) throw new ZipRefusedError(`entry ${shown} is a symbolic link`);
  if (isDirectory) return;
  if (limits.allowedNames && !limits.allowedNames.test(name)) throw new ZipRefusedError(`entry ${shown} is not an expected file name`);
  if (entry.isEncrypted()) throw new ZipRefusedError(`entry ${shown} is encrypted`);
  if (entry.compressionMethod !== METHOD_STORED && entry.compressionMethod !== METHOD_DEFLATE) {
    throw new ZipRefusedError(`entry ${shown} uses compression method ${entry.compressionMethod}; only stored (0) and deflate (8) are read`);
  }
  if (entry.uncompressedSize > limits.maxEntryBytes) {
    throw new ZipRefusedError(`entry ${shown} expands to ${formatBytes(entry.uncompressedSize)}, past the ${formatBytes(limits.maxEntryBytes)} per-entry limit`);
  }
}

/**
 * Passes an entry's decompressed bytes through while counting them against the limits and the
 * size the header declared, and checks the CRC-32 at the end (or hands the bytes to the caller's
 * own check). Either runs in a later turn (setImmediate, in order): the decompressor hands over
 * its next job to the thread pool only once this returns, and so inflates the next piece meanwhile.
 */
class CheckedBytes extends Transform {
  private bytes = 0;
  private crc = 0;

  constructor(
    private readonly entry: Entry,
    private readonly name: string,
    private readonly limits: ExtractLimits,
    private readonly budget: { total: number },
    /** The caller's own check (CallerCheck), which stands in for the CRC-32. */
    private readonly callerCheck: ((chunk: Buffer) => void) | undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.budget.total += chunk.length;
    if (this.bytes > this.limits.maxEntryBytes) {
      return done(new ZipRefusedError(`entry ${this.name} expands past the ${formatBytes(this.limits.maxEntryBytes)} per-entry limit`));
    }
    if (this.budget.total > this.limits.maxTotalBytes) {
      return done(new ZipRefusedError(`archive expands past ${formatBytes(this.limits.maxTotalBytes)} limit`));
    }
    if (this.bytes > this.entry.uncompressedSize) {
      return done(new ZipRefusedError(`entry ${this.name} expands past the ${formatBytes(this.entry.uncompressedSize)} its header declares`));
    }
    done(null, chunk);
    setImmediate(() => {
      if (this.callerCheck) this.callerCheck(chunk);
      else this.crc = crc32(chunk, this.crc);
    });
  }

  override _flush(done: TransformCallback): void {
    setImmediate(() => this.check(done)); // after the CRC of the last piece
  }

  private check(done: TransformCallback): void {
    if (this.bytes !== this.entry.uncompressedSize) {
      return done(new ZipRefusedError(`entry ${this.name} is truncated: ${this.bytes} of ${this.entry.uncompressedSize} bytes`));
    }
    if (!this.callerCheck && this.crc !== this.entry.crc32) return done(new ZipRefusedError(`entry ${this.name} is corrupt (CRC-32 mismatch)`));
    done();
  }
}

/**
 * Copies an entry's checked bytes into memory sized beforehand (CheckedBytes keeps them within
 * it), in a later turn like CheckedBytes's CRC.
 */
class MemorySink extends Writable {
  private filled = 0;

  constructor(private readonly content: Uint8Array) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    const at = this.filled;
    this.filled += chunk.length;
    setImmediate(() => this.content.set(chunk, at));
    done();
  }

  override _final(done: (err?: Error | null) => void): void {
    setImmediate(done); // after the last copy
  }
}

/**
 * Writes an entry into a new file (never over an existing one, so a name given twice or a link
 * planted beforehand cannot redirect it) and fsyncs it before the stream finishes.
 */
class DurableFileSink extends Writable {
  private handle: FileHandle | undefined;

  constructor(private readonly file: string) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _construct(done: (err?: Error | null) => void): void {
    open(this.file, 'wx').then((h) => { this.handle = h; done(); }, done);
  }

  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    writeAll(this.handle!, chunks.map((c) => c.chunk)).then(() => done(), done);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.handle!.sync().then(() => done(), done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    const handle = this.handle;
    this.handle = undefined;
    if (!handle) return done(err);
    handle.close().then(() => done(err), (closeErr: Error) => done(err ?? closeErr));
  }
}

export function formatBytes(n: number): string {
  const units: [string, number][] = [['GiB', GiB], ['MiB', 1024 ** 2], ['KiB', 1024]];
  for (const [unit, size] of units) {
    if (n >= size) return `${Number.isInteger(n / size) ? n / size : (n / size).toFixed(1)} ${unit}`;
  }
  return `${n} bytes`;
}
