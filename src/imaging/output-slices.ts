/**
 * What writing a volume as new DICOM slices needs from its voxels: the int16 stored values and the
 * RescaleSlope of every slice (quantise.ts), and each slice's column-wise maxima, which are the
 * rows of the coronal maximum intensity projection its preview is drawn from. For a large volume
 * in shared memory (the filters' output) the imaging workers do it, a range of slices each, so
 * that this thread is free to write files; anything else is done here.
 */
import { availableParallelism } from 'node:os';
import { outputSliceLoops } from './output-slice-loops.js';
import { quantiseInLoopMemory } from './quantise.js';
import { layoutRegions } from './wasm-loops.js';
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

/** The same three arrays as buffers, to hand to a worker (shared) or fill here. */
export interface OutputSliceBuffers {
  pixels: ArrayBufferLike;
  slopes: ArrayBufferLike;
  coronalRows: ArrayBufferLike;
}

/** Below this many voxels handing the work to threads costs more than it saves. */
const SMALL_VOLUME_VOXELS = 1 << 20;

/** Fills slices [from, to) of `out` from `data` (a [slices, rows, columns] volume). */
export function prepareSliceRange(data: Float32Array, shape: readonly [number, number, number], from: number, to: number, out: OutputSliceBuffers): void {
  const [, rows, columns] = shape;
  const plane = rows * columns;
  const prepare = outputSliceWriter(shape, out);
  for (let z = from; z < to; z++) prepare(z, data.subarray(z * plane, (z + 1) * plane));
}

/**
 * A function that fills slice z of `out` (stored values, slope, column maxima) from its float
 * values: the slice is copied into the loops' memory once for both (quantise.ts, mip.ts's
 * columnMaxima do the same one at a time).
 */
export function outputSliceWriter(shape: readonly [number, number, number], out: OutputSliceBuffers): (z: number, slice: Float32Array) => void {
  const [, rows, columns] = shape;
  const plane = rows * columns;
  const pixels = new Int16Array(out.pixels);
  const slopes = new Float64Array(out.slopes);
  const coronalRows = new Float32Array(out.coronalRows);
  const layout = layoutRegions({ values: plane * 4, pixels: plane * 2, maxima: columns * 4 });
  return (z, slice) => {
    const { loops, memory } = outputSliceLoops.withMemory(layout.end);
    new Float32Array(memory.buffer, layout.values, plane).set(slice.subarray(0, plane));
    slopes[z] = quantiseInLoopMemory(loops, layout.values, plane, layout.pixels);
    loops.columnMaxima(layout.values, rows, columns, layout.maxima);
    pixels.set(new Int16Array(memory.buffer, layout.pixels, plane), z * plane);
    coronalRows.set(new Float32Array(memory.buffer, layout.maxima, columns), z * columns);
  };
}

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
