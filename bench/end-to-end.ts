/**
 * Benchmark: end-to-end overhead. 400 PET slices of 256×256 are C-STOREd into an appliance child
 * process with the embedded reference service and two filters; the clock runs from the last input
 * instance acknowledged (seen from this process) to the task recorded as sent, after the last
 * output instance was acknowledged by the destination (DCMTK storescp --fork, see
 * series-through-flow.ts), minus compilator.quiet_seconds (waiting on purpose) and minus the
 * reference service's own processing time (the remote's work, not petspool's). Target ≤ 2 s.
 * Runs the flow END_TO_END_RUNS times and reports the run with the median overhead, with the time
 * in each task state of that run, so the next engineer sees where the time goes.
 * Run: node dist/bench/end-to-end.js
 */
import { fileURLToPath } from 'node:url';
import { runSeriesThroughFlow } from './series-through-flow.js';
import { secondsPerState } from './appliance-process.js';

const SLICES = 400;
const SIZE = 256;
const QUIET_SECONDS = 1;
const FILTERS = [{ name: 'fwhm4', fwhm_mm: 4 }, { name: 'fwhm6', fwhm_mm: 6 }];
export const END_TO_END_TARGET_SECONDS = 2;

export interface EndToEndBenchResult {
  slices: number;
  filters: number;
  /** Last input acknowledged → task sent (after the destination acknowledged the last output). */
  totalSeconds: number;
  quietSeconds: number;
  serviceProcessingSeconds: number;
  /** totalSeconds − quietSeconds − serviceProcessingSeconds: petspool's own share. */
  overheadSeconds: number;
  /**
   * Time in each task state after the last input was acknowledged, in flow order: collecting is
   * counted from the last acknowledgement (quiet wait + completeness check), processing includes
   * the service's work (upload, service, callback, download).
   */
  stages: { state: string; seconds: number }[];
}

/** Runs of the flow per benchmark: one run swings by ±0.6 s on this 2-core machine (disk, load). */
export const END_TO_END_RUNS = 3;

/** END_TO_END_RUNS runs (each with a fresh appliance); the run with the median overhead, and every overhead. */
export async function benchEndToEndMedian(): Promise<{ median: EndToEndBenchResult; overheads: number[] }> {
  const runs: EndToEndBenchResult[] = [];
  for (let i = 0; i < END_TO_END_RUNS; i++) runs.push(await benchEndToEnd());
  const sorted = [...runs].sort((a, b) => a.overheadSeconds - b.overheadSeconds);
  return { median: sorted[Math.floor(sorted.length / 2)]!, overheads: runs.map((r) => r.overheadSeconds) };
}

export async function benchEndToEnd(): Promise<EndToEndBenchResult> {
  const run = await runSeriesThroughFlow({ slices: SLICES, size: SIZE, filters: FILTERS, quietSeconds: QUIET_SECONDS, timeoutMs: 150_000 });
  const totalSeconds = (run.lastOutputAckMs - run.lastInputAckMs) / 1000;
  const serviceProcessingSeconds = run.serviceProcessingMs / 1000;
  return {
    slices: SLICES,
    filters: FILTERS.length,
    totalSeconds,
    quietSeconds: QUIET_SECONDS,
    serviceProcessingSeconds,
    overheadSeconds: totalSeconds - QUIET_SECONDS - serviceProcessingSeconds,
    stages: secondsPerState(run.task).map((s, i) => i === 0 && s.state === 'collecting'
      ? { state: s.state, seconds: (Date.parse(run.task.history[1]!.at) - run.lastInputAckEpochMs) / 1000 }
      : s),
  };
}

export function formatEndToEnd(r: EndToEndBenchResult): string {
  return [
    `end to end: ${r.slices} × ${SIZE}² slices, ${r.filters} filters, embedded reference service, DCMTK storescp destination on loopback`,
    `  last input ack → last output ack   ${r.totalSeconds.toFixed(3)} s`,
    `  − compilator.quiet_seconds         ${r.quietSeconds.toFixed(3)} s`,
    `  − reference service processing     ${r.serviceProcessingSeconds.toFixed(3)} s`,
    `  = petspool overhead                ${r.overheadSeconds.toFixed(3)} s   (target ≤ ${END_TO_END_TARGET_SECONDS} s)`,
    '  time per task state after the last input ack (task history; each state lasts until the next stage moved the task on):',
    ...r.stages.map((s) => `    ${s.state.padEnd(17)} ${s.seconds.toFixed(3).padStart(8)} s${stageNote(s.state, r)}`),
  ].join('\n');
}

/** What a state's time is made of, where that is not obvious from its name. */
function stageNote(state: string, r: EndToEndBenchResult): string {
  switch (state) {
    case 'collecting': return `   quiet wait ${r.quietSeconds} s (the volume compressed half-way) + completeness check → compiler`;
    case 'compiled': return '   validator (header rules, licence check)';
    case 'validated': return '   packer (writes the zip of the volume compressed ahead; else decodes and compresses it first)';
    case 'packed': return '   uploader (copy to the share, POST /processing)';
    case 'processing': return `   of which the service's own ${r.serviceProcessingSeconds.toFixed(3)} s; the rest: callback, download`;
    case 'downloaded': return '   unpacker: no QC hold, so on to unpacking_sending';
    case 'unpacking_sending': return '   unpacker (unzip, checks, Gaussian filters, new DICOM series), the first series sent meanwhile';
    case 'unpacked': return '   QC gate (off)';
    case 'sending': return '   sender (C-STORE of every output series)';
    default: return '';
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { median, overheads } = await benchEndToEndMedian();
  console.log(formatEndToEnd(median));
  console.log(`  (median of ${overheads.length} runs; overheads ${overheads.map((o) => o.toFixed(3)).join(', ')} s)`);
}
