import { open, readFile } from 'node:fs/promises';

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

/** Parse an .npy buffer holding little-endian float32 in C order; anything else is refused. */
export function parseNpy(buf: Buffer): NpyArray {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC.subarray(0, 6))) throw new Error('not an .npy file (bad magic)');
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const dict = buf.toString('latin1', start, start + headerLen);
  if (!/'descr':\s*'<f4'/.test(dict)) throw new Error(`.npy dtype is not little-endian float32: ${dict.trim()}`);
  if (/'fortran_order':\s*True/.test(dict)) throw new Error('.npy in Fortran order is not supported');
  const m = /'shape':\s*\(([^)]*)\)/.exec(dict);
  if (!m) throw new Error('.npy header has no shape');
  const shape = m[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  if (buf.length - offset !== count * 4) {
    throw new Error(`.npy data is ${buf.length - offset} bytes, shape ${shape.join('x')} needs ${count * 4}`);
  }
  // Copy into an aligned buffer: the data offset is a multiple of 64 but the Buffer may be pooled.
  const data = new Float32Array(count);
  Buffer.from(data.buffer).set(buf.subarray(offset));
  return { data, shape };
}

export async function readNpy(file: string): Promise<NpyArray> {
  return parseNpy(await readFile(file));
}
