/**
 * `npm run bench`: every benchmark in one run, one summary table with the ratios, and the machine
 * facts that make the figures readable (date, CPU, cores, load average before and after: other
 * work on the machine shows up in the ratios). `--json FILE` also writes the rows as JSON;
 * `--only ingest,filter` runs some of them.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { benchIngest } from './ingest.js';
import { benchFilter } from './filter.js';

/** One line of the summary table. `reference` and `ratio` are absent for figures without a reference peer. */
export interface BenchRow {
  benchmark: string;
  petspool: string;
  reference?: string;
  ratio?: number;
  target?: string;
}

export interface Benchmark {
  name: string;
  run(): Promise<BenchRow[]>;
}

const seconds = (s: number) => `${s.toFixed(3)} s`;

const ingest: Benchmark = {
  name: 'ingest',
  run: async () => {
    const r = await benchIngest();
    return [
      { benchmark: `ingest ${r.slices} × 256² slices (storescu → SCP)`, petspool: seconds(r.petspoolSeconds),
        reference: `DCMTK storescp ${seconds(r.dcmtkSeconds)}`, ratio: r.ratio, target: '≤ 1.0' },
      { benchmark: `ingest durability floor (fdatasync+rename+dir fsync, ${r.slices} files)`, petspool: seconds(r.durabilityFloorSeconds) },
      ...r.peakRssMb.map(({ slices, mb }) => ({ benchmark: `SCP peak RSS after ${slices} slices`, petspool: `${mb} MB`,
        target: 'flat with series length' })),
    ];
  },
};

const filter: Benchmark = {
  name: 'filter',
  run: async () => {
    const r = await benchFilter();
    const what = `Gaussian FWHM ${r.fwhmMm} mm on ${r.shape.join('×')}`;
    return [
      { benchmark: what, petspool: seconds(r.petspoolSeconds), reference: `scipy ${seconds(r.scipySeconds)}`, ratio: r.ratio, target: '≤ 0.5' },
      { benchmark: `${what}, shared-memory input`, petspool: seconds(r.petspoolSharedSeconds), reference: `scipy ${seconds(r.scipySeconds)}`,
        ratio: r.petspoolSharedSeconds / r.scipySeconds, target: '≤ 0.5' },
      { benchmark: 'Gaussian max abs difference to scipy', petspool: `${r.maxAbsDifference.toExponential(2)} (volume max ${r.volumeMax.toFixed(0)})` },
    ];
  },
};

// ---------------------------------------------------------------------------------------------
// Issue 8 benchmarks go here: end-to-end overhead (last instance acknowledged → last output
// acknowledged, minus quiet_seconds and the reference service's processing; target ≤ 2 s for
// 400 × 256² and two filters), peak RSS for a 1000-slice series through the whole flow
// (target ≤ 1.5 GB), ingest rate with 100 000 instances of history vs an empty database
// (target within 10 %). Write each as a Benchmark in its own bench/<name>.ts and list it here.
// ---------------------------------------------------------------------------------------------
const BENCHMARKS: Benchmark[] = [ingest, filter];

function machine(): { cpu: string; cores: number; memoryGb: number; node: string } {
  const model = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown';
  return { cpu: model.trim(), cores: cpus().length, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version };
}

function table(rows: BenchRow[]): string {
  const cells = rows.map((r) => [r.benchmark, r.petspool, r.reference ?? '', r.ratio === undefined ? '' : r.ratio.toFixed(2), r.target ?? '']);
  const head = ['benchmark', 'petspool', 'reference', 'ratio', 'target'];
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
    const started = performance.now();
    process.stdout.write(`running ${b.name}... `);
    rows.push(...await b.run());
    console.log(`${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  const loadAfter = loadavg();
  console.log(`load average after: ${loadAfter.map((l) => l.toFixed(2)).join(' ')}\n`);
  console.log(table(rows));
  if (jsonFile) {
    writeFileSync(jsonFile, JSON.stringify({ date: new Date().toISOString(), machine: m, loadBefore, loadAfter, rows }, null, 2) + '\n');
  }
}

await main();
