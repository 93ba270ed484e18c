/**
 * What writing a volume as new DICOM slices needs from its voxels: the int16 stored values and the
 * RescaleSlope of every slice (quantise.ts), and each slice's column-wise maxima, which are the
 * rows of the coronal maximum intensity projection its preview is drawn from. For a large volume
 * in shared memory (the filters' output) the imaging workers do it, a range of slices each, so
 * that this thread is free to write files; anything else is done here.
 */
import { availableParallelism } from 'node:os';
import { prepareSliceRange, type OutputSliceBuffers } from './output-slice-writer.js';
import { voxelCount, type Volume } from './volume.js';
import { ImagingPool } from './worker-pool.js';

export interface OutputSlices {
  /** Stored values, C-order like the volume. */
  pixels: Int16Array;
  /** RescaleSlope of each slice (RescaleIntercept is 0). */
  slopes: Float64Array;
  /** Row z = the maximum over the rows of slice z, for each column: [slices, columns]. */
  coronalRows: Float32Array;
}

/** Below this many voxels handing the work to threads costs more than it saves. */
const SMALL_VOLUME_VOXELS = 1 << 20;

export async function prepareOutputSlices(volume: Volume, opts: { threads?: number } = {}): Promise<OutputSlices> {
  const slices = volume.shape[0];
  const voxels = voxelCount(volume.shape);
  if (volume.data.length !== voxels) throw new RangeError(`volume shape ${volume.shape.join('x')} does not match ${volume.data.length} voxels`);
  const threads = Math.max(1, Math.floor(opts.threads ?? availableParallelism()));
  const source = volume.data;
  const inWorkers = threads > 1 && voxels >= SMALL_VOLUME_VOXELS && source.buffer instanceof SharedArrayBuffer;
  const out = allocateOutputSlices(volume.shape, inWorkers);
  if (inWorkers) {
    const shared = { buffer: source.buffer as SharedArrayBuffer, byteOffset: source.byteOffset, length: source.length };
    await ImagingPool.shared().runSplit(threads, slices, (from, to) => ({ kind: 'output', source: shared, shape: volume.shape, from, to, out }));
  } else {
    prepareSliceRange(source, volume.shape, 0, slices, out);
  }
  return outputSlicesIn(out);
}

/** Room for the output slices of a volume of `shape`; `shared` when worker threads fill them. */
export function allocateOutputSlices(shape: readonly [number, number, number], shared: boolean): OutputSliceBuffers {
  const [slices, rows, columns] = shape;
  const allocate = (bytes: number): ArrayBufferLike => (shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  return {
    // Shared even when filled here: the workers that write the DICOM files take the pixels from it.
    pixels: new SharedArrayBuffer(slices * rows * columns * 2),
    slopes: allocate(slices * 8),
    coronalRows: allocate(slices * columns * 4),
  };
}

export function outputSlicesIn(out: OutputSliceBuffers): OutputSlices {
  return { pixels: new Int16Array(out.pixels), slopes: new Float64Array(out.slopes), coronalRows: new Float32Array(out.coronalRows) };
}
