/**
 * `npm run bench`: every benchmark in one run, one summary table with the ratios, and the machine
 * facts that make the figures readable (date, CPU, cores, load average before and after: other
 * work on the machine shows up in the ratios). `--json FILE` also writes the rows as JSON;
 * `--only ingest,filter,end-to-end,memory,ingest-history` runs some of them.
 */
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { benchIngest, formatRuns, INGEST_TARGET_RATIO } from './ingest.js';
import { benchFilter } from './filter.js';
import { benchEndToEndMedian, END_TO_END_TARGET_SECONDS, formatEndToEnd } from './end-to-end.js';
import { benchMemory, formatMemory, MEMORY_TARGET_MB } from './memory.js';
import { benchIngestHistory, formatIngestHistory, INGEST_HISTORY_TARGET_RATIO } from './ingest-history.js';
import { syncFilesystem } from '../src/util/sync-filesystem.js';

/** One line of the summary table. `reference` and `ratio` are absent for figures without a reference peer. */
export interface BenchRow {
  benchmark: string;
  petspool: string;
  reference?: string;
  ratio?: number;
  target?: string;
  /** Whether the figure meets its target; absent for figures without one. */
  pass?: boolean;
}

export interface Benchmark {
  name: string;
  /** The summary rows, and optionally a detailed report printed as soon as the benchmark ends. */
  run(): Promise<{ rows: BenchRow[]; details?: string }>;
}

const seconds = (s: number) => `${s.toFixed(3)} s`;

const ingest: Benchmark = {
  name: 'ingest',
  run: async () => {
    const r = await benchIngest();
    // "Flat": the long series may not need more than 10 % over the short one.
    const shortestMb = r.peakRssMb[0]!.mb;
    return { rows: [
      { benchmark: `ingest ${r.slices} × 256² slices (storescu → SCP, best of ${r.runs.petspool.length})`, petspool: seconds(r.petspoolSeconds),
        reference: `DCMTK storescp ${seconds(r.dcmtkSeconds)}`, ratio: r.ratio, target: `≤ ${INGEST_TARGET_RATIO.toFixed(1)}`, pass: r.ratio <= INGEST_TARGET_RATIO },
      { benchmark: `ingest ${r.concurrent.associations} associations at once × ${r.concurrent.slicesEach} slices (every copy checked)`,
        petspool: seconds(r.concurrent.petspoolSeconds), reference: `DCMTK storescp --fork ${seconds(r.concurrent.forkSeconds)}`,
        ratio: r.concurrent.ratio, target: `≤ ${INGEST_TARGET_RATIO.toFixed(1)}`, pass: r.concurrent.ratio <= INGEST_TARGET_RATIO },
      { benchmark: `ingest durability floor (fdatasync+rename+dir fsync, ${r.slices} files)`, petspool: seconds(r.durabilityFloorSeconds) },
      ...r.peakRssMb.map(({ slices, mb }) => ({ benchmark: `SCP peak RSS after ${slices} slices`, petspool: `${mb} MB`,
        target: 'flat with series length', pass: mb <= shortestMb * 1.1 })),
    ], details: `ingest ${r.slices} slices, one association, interleaved runs: storescp ${formatRuns(r.runs.dcmtk)} s; petspool ${formatRuns(r.runs.petspool)} s` };
  },
};

const filter: Benchmark = {
  name: 'filter',
  run: async () => {
    const r = await benchFilter();
    const what = `Gaussian FWHM ${r.fwhmMm} mm on ${r.shape.join('×')}`;
    const sharedRatio = r.petspoolSharedSeconds / r.scipySeconds;
    return { rows: [
      { benchmark: what, petspool: seconds(r.petspoolSeconds), reference: `scipy ${seconds(r.scipySeconds)}`, ratio: r.ratio, target: '≤ 0.5',
        pass: r.ratio <= 0.5 },
      { benchmark: `${what}, shared-memory input`, petspool: seconds(r.petspoolSharedSeconds), reference: `scipy ${seconds(r.scipySeconds)}`,
        ratio: sharedRatio, target: '≤ 0.5', pass: sharedRatio <= 0.5 },
      { benchmark: 'Gaussian max abs difference to scipy', petspool: `${r.maxAbsDifference.toExponential(2)} (volume max ${r.volumeMax.toFixed(0)})` },
    ] };
  },
};

const endToEnd: Benchmark = {
  name: 'end-to-end',
  run: async () => {
    const { median: r, overheads } = await benchEndToEndMedian();
    const slowest = [...r.stages].sort((a, b) => b.seconds - a.seconds).slice(0, 3);
    return {
      rows: [{
        benchmark: `end-to-end overhead, ${r.slices} × 256², ${r.filters} filters (last ack in → last ack out; median of ${overheads.length} runs)`,
        petspool: seconds(r.overheadSeconds),
        reference: `${seconds(r.totalSeconds)} − quiet ${r.quietSeconds} s − service ${seconds(r.serviceProcessingSeconds)} (runs: ${overheads.map(seconds).join(', ')})`,
        target: `≤ ${END_TO_END_TARGET_SECONDS} s`, pass: r.overheadSeconds <= END_TO_END_TARGET_SECONDS,
      }, {
        benchmark: 'end-to-end: slowest task states',
        petspool: slowest.map((st) => `${st.state} ${st.seconds.toFixed(2)} s`).join(', '),
      }],
      details: formatEndToEnd(r),
    };
  },
};

const memory: Benchmark = {
  name: 'memory',
  run: async () => {
    const r = await benchMemory();
    return {
      rows: [{ benchmark: `appliance peak RSS, ${r.slices} × 256² slices through the whole flow`, petspool: `${r.peakRssMb.toFixed(0)} MB`,
        target: `≤ ${MEMORY_TARGET_MB} MB (1.5 GiB)`, pass: r.peakRssMb <= MEMORY_TARGET_MB }],
      details: formatMemory(r),
    };
  },
};

const ingestHistory: Benchmark = {
  name: 'ingest-history',
  run: async () => {
    const r = await benchIngestHistory();
    return {
      rows: [{
        benchmark: `ingest ${r.slices} slices, ${r.historyInstances} instances of history vs empty database (median of ${r.runs})`,
        petspool: seconds(r.historyMedian), reference: `empty ${seconds(r.emptyMedian)} (per-run ratios: median ${r.pairedRatio.toFixed(2)})`, ratio: r.ratio,
        target: `≤ ${INGEST_HISTORY_TARGET_RATIO.toFixed(2)}`, pass: r.ratio <= INGEST_HISTORY_TARGET_RATIO,
      }],
      details: formatIngestHistory(r),
    };
  },
};

const BENCHMARKS: Benchmark[] = [ingest, filter, endToEnd, memory, ingestHistory];

function machine(): { cpu: string; cores: number; memoryGb: number; node: string } {
  const model = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown';
  return { cpu: model.trim(), cores: cpus().length, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version };
}

function table(rows: BenchRow[]): string {
  const cells = rows.map((r) => [r.benchmark, r.petspool, r.reference ?? '', r.ratio === undefined ? '' : r.ratio.toFixed(2), r.target ?? '',
    r.pass === undefined ? '' : r.pass ? 'PASS' : 'MISS']);
  const head = ['benchmark', 'petspool', 'reference', 'ratio', 'target', 'status'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1]!.split(',') : undefined;
  const jsonFile = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
  const chosen = BENCHMARKS.filter((b) => !only || only.includes(b.name));
  const m = machine();
  const loadBefore = loadavg();
  console.log(`petspool benchmarks, ${new Date().toISOString()}`);
  console.log(`machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, Node ${m.node}`);
  console.log(`load average before: ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);
  const rows: BenchRow[] = [];
  for (const b of chosen) {
    // What the previous benchmark left for the disk to write back is not this one's cost.
    syncFilesystem(tmpdir());
    const started = performance.now();
    // Per benchmark: other work on the machine during one of them shows up in its figures.
    process.stdout.write(`running ${b.name} (load average ${loadavg()[0]!.toFixed(2)})... `);
    const { rows: benchRows, details } = await b.run();
    rows.push(...benchRows);
    console.log(`${((performance.now() - started) / 1000).toFixed(0)} s`);
    if (details) console.log(details);
  }
  const loadAfter = loadavg();
  console.log(`load average after: ${loadAfter.map((l) => l.toFixed(2)).join(' ')}\n`);
  console.log(table(rows));
  if (jsonFile) {
    writeFileSync(jsonFile, JSON.stringify({ date: new Date().toISOString(), machine: m, loadBefore, loadAfter, rows }, null, 2) + '\n');
  }
}

await main();
