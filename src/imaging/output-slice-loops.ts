/**
 * The loops of wasm/output-slices.ts (maximum |value|, quantisation to int16, column maxima), one
 * instance per thread, shared by quantise.ts and mip.ts.
 */
import { WasmLoops } from './wasm-loops.js';

export interface OutputSliceLoops {
  maxAbs(values: number, n: number): number;
  quantise(values: number, n: number, slope: number, pixels: number): void;
  columnMaxima(slice: number, rows: number, cols: number, out: number): void;
}

export const outputSliceLoops = new WasmLoops<OutputSliceLoops>('output-slices');
