import { open, readFile, type FileHandle } from 'node:fs/promises';

/**
 * NumPy .npy format version 1.0, little-endian float32 C-order only: what the remote service
 * contract uses. The header is padded with spaces and ends in '\n' so that magic + length +
 * header is a multiple of 64 bytes, as numpy.save writes it.
 */
const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00]);

export function npyHeader(shape: readonly number[]): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = MAGIC.length + 2 + dict.length + 1;
  const total = Math.ceil(unpadded / 64) * 64;
  const header = dict + ' '.repeat(total - unpadded) + '\n';
  const out = Buffer.alloc(MAGIC.length + 2 + header.length);
  MAGIC.copy(out, 0);
  out.writeUInt16LE(header.length, MAGIC.length);
  out.write(header, MAGIC.length + 2, 'latin1');
  return out;
}

/** Bytes of a float32 array as a Buffer view (no copy); the platform is little-endian (x86/arm). */
function bytesOf(data: Float32Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Write an .npy file and fsync it; returns the number of bytes written. */
export async function writeNpy(file: string, data: Float32Array, shape: readonly number[]): Promise<number> {
  if (shape.reduce((a, b) => a * b, 1) !== data.length) {
    throw new Error(`npy shape ${shape.join('x')} does not match ${data.length} values`);
  }
  const header = npyHeader(shape);
  const fh = await open(file, 'w');
  try {
    await fh.write(header);
    await fh.write(bytesOf(data));
    await fh.sync();
  } finally {
    await fh.close();
  }
  return header.length + data.byteLength;
}

export interface NpyArray { data: Float32Array; shape: number[] }

/** Where the header dict lies, from the first bytes of a file (magic, version, header length). */
function headerSpan(prefix: Buffer): { start: number; length: number } {
  if (prefix.length < 10 || !prefix.subarray(0, 6).equals(MAGIC.subarray(0, 6))) throw new Error('not an .npy file (bad magic)');
  const major = prefix[6];
  if (major === 1) return { start: 10, length: prefix.readUInt16LE(8) };
  if (prefix.length < 12) throw new Error('.npy header is cut short');
  return { start: 12, length: prefix.readUInt32LE(8) };
}

/** The shape from a header dict of little-endian float32 in C order; anything else is refused. */
function shapeOf(dict: string): number[] {
  if (!/'descr':\s*'<f4'/.test(dict)) throw new Error(`.npy dtype is not little-endian float32: ${dict.trim()}`);
  if (/'fortran_order':\s*True/.test(dict)) throw new Error('.npy in Fortran order is not supported');
  const m = /'shape':\s*\(([^)]*)\)/.exec(dict);
  if (!m) throw new Error('.npy header has no shape');
  return m[1]!.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
}

function checkDataBytes(dataBytes: number, shape: number[]): number {
  const count = shape.reduce((a, b) => a * b, 1);
  if (dataBytes !== count * 4) throw new Error(`.npy data is ${dataBytes} bytes, shape ${shape.join('x')} needs ${count * 4}`);
  return count;
}

/** Parse an .npy buffer holding little-endian float32 in C order; anything else is refused. */
export function parseNpy(buf: Buffer): NpyArray {
  const span = headerSpan(buf);
  const shape = shapeOf(buf.toString('latin1', span.start, span.start + span.length));
  const offset = span.start + span.length;
  const count = checkDataBytes(buf.length - offset, shape);
  // Copy into an aligned buffer: the data offset is a multiple of 64 but the Buffer may be pooled.
  const data = new Float32Array(count);
  Buffer.from(data.buffer).set(buf.subarray(offset));
  return { data, shape };
}

/**
 * The array of an .npy held in shared memory (checked as parseNpy does), as a view on the same
 * memory: numpy aligns the data to 64 bytes; data that is not aligned for float32 is copied.
 */
export function npyView(bytes: Uint8Array): NpyArray {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const span = headerSpan(buf);
  if (span.start + span.length > buf.length) throw new Error('.npy header is cut short');
  const shape = shapeOf(buf.toString('latin1', span.start, span.start + span.length));
  const offset = span.start + span.length;
  const count = checkDataBytes(buf.length - offset, shape);
  const at = bytes.byteOffset + offset;
  if (at % 4 === 0) return { data: new Float32Array(bytes.buffer, at, count), shape };
  const data = new Float32Array(new SharedArrayBuffer(count * 4));
  new Uint8Array(data.buffer).set(bytes.subarray(offset));
  return { data, shape };
}

export async function readNpy(file: string): Promise<NpyArray> {
  return parseNpy(await readFile(file));
}

/** Headers longer than this are not numpy's (it pads to 64 bytes; a 3D shape needs well under 1 KiB). */
const MAX_HEADER_BYTES = 64 * 1024;

/**
 * Read an .npy file (checked as parseNpy does) straight into a SharedArrayBuffer-backed array:
 * one read from the file into memory worker threads can use without a copy.
 */
export async function readNpyShared(file: string): Promise<NpyArray> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const prefix = Buffer.alloc(12);
    const { bytesRead } = await fh.read(prefix, 0, prefix.length, 0);
    const span = headerSpan(prefix.subarray(0, bytesRead));
    if (span.length > MAX_HEADER_BYTES) throw new Error(`.npy header of ${span.length} bytes is implausibly long`);
    const dict = Buffer.alloc(span.length);
    await readFully(fh, dict, span.start);
    const shape = shapeOf(dict.toString('latin1'));
    const offset = span.start + span.length;
    const count = checkDataBytes(size - offset, shape);
    const data = new Float32Array(new SharedArrayBuffer(count * 4));
    await readFully(fh, new Uint8Array(data.buffer), offset);
    return { data, shape };
  } finally {
    await fh.close();
  }
}

/** Fill `target` from `position` on; a file shorter than that (changed meanwhile) is an error. */
async function readFully(fh: FileHandle, target: Uint8Array, position: number): Promise<void> {
  const maxRead = 1 << 30;
  for (let at = 0; at < target.length;) {
    const { bytesRead } = await fh.read(target, at, Math.min(maxRead, target.length - at), position + at);
    if (bytesRead === 0) throw new Error(`.npy file ended ${target.length - at} bytes early`);
    at += bytesRead;
  }
}
