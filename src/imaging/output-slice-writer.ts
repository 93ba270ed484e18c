/**
 * Filling output slices (stored values, slopes, column maxima; output-slices.ts) from float
 * slices: run by the imaging worker threads for a range of slices each, and on the calling
 * thread for a small volume.
 */
import { outputSliceLoops } from './output-slice-loops.js';
import { quantiseInLoopMemory } from './quantise.js';
import { layoutRegions } from './wasm-loops.js';

/** The same three arrays as buffers, to hand to a worker (shared) or fill here. */
export interface OutputSliceBuffers {
  pixels: ArrayBufferLike;
  slopes: ArrayBufferLike;
  coronalRows: ArrayBufferLike;
}

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
