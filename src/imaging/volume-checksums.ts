/**
 * CRC-32 and SHA-256 of a volume's bytes (e.g. an .npy header and the voxels), taken by an
 * imaging worker thread when the voxels are in shared memory, so that this thread and the thread
 * pool (compressing the same bytes) go on meanwhile; taken here otherwise.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { ImagingPool } from './worker-pool.js';

export interface Checksums {
  crc32: number;
  /** Lower-case hex. */
  sha256: string;
}

/** Below this many bytes handing the work to a thread costs more than it saves. */
const SMALL_BYTES = 1 << 20;

export async function volumeChecksums(pieces: readonly ArrayBufferView[]): Promise<Checksums> {
  const bytes = pieces.reduce((sum, piece) => sum + piece.byteLength, 0);
  const shared = pieces.every((piece) => piece.buffer instanceof SharedArrayBuffer || piece.byteLength < SMALL_BYTES);
  if (bytes < SMALL_BYTES || !shared) {
    const here = checksumsOf(pieces);
    return { crc32: here.crc32, sha256: here.sha256.toString('hex') };
  }
  const result = new SharedArrayBuffer(36);
  await ImagingPool.shared().runOne({
    kind: 'checksums',
    pieces: pieces.map((piece) => ({ buffer: piece.buffer, byteOffset: piece.byteOffset, byteLength: piece.byteLength })),
    result,
  });
  return { crc32: new DataView(result).getUint32(0, true), sha256: Buffer.from(result, 4, 32).toString('hex') };
}

/** Both checksums of the pieces laid end to end, in one pass (the worker's job too). */
export function checksumsOf(pieces: readonly ArrayBufferView[]): { crc32: number; sha256: Buffer } {
  const hash = createHash('sha256');
  let crc = 0;
  for (const piece of pieces) {
    const bytes = new Uint8Array(piece.buffer, piece.byteOffset, piece.byteLength);
    crc = crc32(bytes, crc);
    hash.update(bytes);
  }
  return { crc32: crc, sha256: hash.digest() };
}
