/**
 * Decoding a range of a volume's slices into shared buffers: run by the imaging worker threads
 * (one range each) for a large volume, and on the calling thread for a small one
 * (assemble-volume.ts).
 */
import { readFileSync } from 'node:fs';
import type { InstanceHeader } from '../dicom/instance-header.js';
import { decodeSliceInto } from './decode-pixels.js';
import { columnMaxima } from './mip.js';

/** Where decodeSliceRange puts the volume's voxels and its slices' column maxima. */
export interface DecodedSliceBuffers {
  volume: SharedArrayBuffer;
  coronalRows: SharedArrayBuffer;
}

/**
 * Decode `files` (with their `headers`), slices `first` onwards of a volume of `shape`, into `out`.
 * Reads block: the slices were just received (page cache, tens of microseconds each), and awaiting
 * four hand-overs to the I/O threads per file, one file after the other, cost more.
 */
export async function decodeSliceRange(
  files: readonly string[], headers: readonly InstanceHeader[], shape: readonly [number, number, number], first: number, out: DecodedSliceBuffers,
): Promise<void> {
  const [, rows, columns] = shape;
  const plane = rows * columns;
  const data = new Float32Array(out.volume);
  const coronalRows = new Float32Array(out.coronalRows);
  for (const [i, file] of files.entries()) {
    const z = first + i;
    try {
      await decodeSliceInto(readFileSync(file), headers[i]!, data, z * plane);
    } catch (err) {
      throw Object.assign(new Error(`${file}: ${(err as Error).message}`), { code: (err as NodeJS.ErrnoException).code });
    }
    columnMaxima(data.subarray(z * plane, (z + 1) * plane), rows, columns, coronalRows.subarray(z * columns, (z + 1) * columns));
  }
}
