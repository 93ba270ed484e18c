/**
 * The WebAssembly SIMD voxel loops (wasm/*.ts, AssemblyScript, compiled by `npm run build` into
 * dist/wasm/<name>.wasm). Each module is compiled and instantiated once per thread, on first use,
 * with its own memory, grown as larger slices come. The loops take byte addresses in that memory:
 * callers copy a slice in, run the loops, and copy the result out (a copy costs far less than the
 * loop it feeds).
 */
import { readFileSync } from 'node:fs';

const WASM_PAGE_BYTES = 65536;

export class WasmLoops<Exports> {
  private instance: WebAssembly.Instance | undefined;

  constructor(private readonly name: string) {}

  /** The loops, with at least `bytes` of memory; views of the memory made before are void after this. */
  withMemory(bytes: number): { loops: Exports; memory: WebAssembly.Memory } {
    this.instance ??= new WebAssembly.Instance(
      new WebAssembly.Module(readFileSync(new URL(`../../wasm/${this.name}.wasm`, import.meta.url))), {},
    );
    const memory = this.instance.exports.memory as WebAssembly.Memory;
    const missing = bytes - memory.buffer.byteLength;
    if (missing > 0) memory.grow(Math.ceil(missing / WASM_PAGE_BYTES));
    return { loops: this.instance.exports as unknown as Exports, memory };
  }
}

/** Byte offsets of consecutive regions of the given sizes, each 16-byte aligned, and where they end. */
export function layoutRegions<Region extends string>(bytes: Record<Region, number>): Record<Region | 'end', number> {
  const layout = { end: 0 } as Record<Region | 'end', number>;
  for (const [region, size] of Object.entries(bytes) as [Region, number][]) {
    layout[region] = layout.end;
    layout.end += Math.ceil(size / 16) * 16;
  }
  return layout;
}
