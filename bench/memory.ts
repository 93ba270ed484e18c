/**
 * Benchmark: peak RSS of the appliance for a 1000-slice series of 256×256 through the whole flow
 * (C-STORE in, embedded reference service, two filters, C-STORE out). The appliance runs as a
 * child process; its VmHWM (/proc/<pid>/status) is read once the task is done, so it covers every
 * stage, the embedded service and every worker thread. Target ≤ 1.5 GB.
 * Run: node dist/bench/memory.js
 */
import { fileURLToPath } from 'node:url';
import { runSeriesThroughFlow } from './series-through-flow.js';

const SLICES = 1000;
const SIZE = 256;
const FILTERS = [{ name: 'fwhm4', fwhm_mm: 4 }, { name: 'fwhm6', fwhm_mm: 6 }];
export const MEMORY_TARGET_MB = 1536;

export interface MemoryBenchResult {
  slices: number;
  size: number;
  filters: number;
  peakRssMb: number;
  /** The float32 volume alone, for scale. */
  volumeMb: number;
  seconds: number;
}

export async function benchMemory(): Promise<MemoryBenchResult> {
  const started = performance.now();
  const run = await runSeriesThroughFlow({ slices: SLICES, size: SIZE, filters: FILTERS, quietSeconds: 1, timeoutMs: 170_000 });
  return {
    slices: SLICES, size: SIZE, filters: FILTERS.length, peakRssMb: run.peakRssMb,
    volumeMb: (SLICES * SIZE * SIZE * 4) / 2 ** 20, seconds: (performance.now() - started) / 1000,
  };
}

export function formatMemory(r: MemoryBenchResult): string {
  return [
    `memory: ${r.slices} × ${r.size}² slices through the whole flow, ${r.filters} filters (${r.seconds.toFixed(0)} s)`,
    `  appliance peak RSS (VmHWM)  ${r.peakRssMb.toFixed(0)} MB   (target ≤ ${MEMORY_TARGET_MB} MB; one float32 volume is ${r.volumeMb.toFixed(0)} MB)`,
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(formatMemory(await benchMemory()));
}
