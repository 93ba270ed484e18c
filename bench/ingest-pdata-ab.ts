/**
 * A/B for issue 15: petspool's own P-DATA path (src/dicom/scp.ts) against the same SCP on
 * dcmjs-dimse's public streaming hooks (bench/scp-public-hooks.ts), with DCMTK storescp / storescp
 * --fork as the yardstick, all in one run: ROUNDS rounds, each one storescu of SLICES slices per
 * SCP (order rotated per round) and then CONCURRENT associations at once, plus the durability floor
 * per round. Every petspool copy is checked byte for byte. Prints every round and the medians.
 * Run: node dist/bench/ingest-pdata-ab.js [rounds]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makePetSeries } from '../test/fixtures/make-pet.js';
import { startStorescp } from '../test/fixtures/dcmtk.js';
import { checkEveryCopy, concurrentRuns, durabilityFloor, startChildScp, stopChild, timeConcurrent, timeStorescu } from './ingest.js';

const SLICES = 400;
const ROUNDS = Number(process.argv[2] ?? 5);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'petspool-bench-pdata-ab-'));
try {
  const series = await makePetSeries(path.join(work, 'series'), { slices: SLICES, size: 256 });
  const runs = concurrentRuns(series);
  const storescp = await startStorescp(fs.mkdtempSync(path.join(work, 'dcmtk-')));
  const fork = await startStorescp(fs.mkdtempSync(path.join(work, 'fork-')), ['--fork', '+uf']);
  const own = await startChildScp(path.join(work, 'own'), 'own-pdata');
  const hooks = await startChildScp(path.join(work, 'hooks'), 'public-hooks');
  const single: Record<string, number[]> = { storescp: [], own: [], hooks: [], floor: [] };
  const concurrent: Record<string, number[]> = { fork: [], own: [], hooks: [] };
  const singles: [string, number][] = [['storescp', storescp.port], ['own', own.port], ['hooks', hooks.port]];
  const concurrents: [string, number][] = [['fork', fork.port], ['own', own.port], ['hooks', hooks.port]];
  for (let round = 0; round < ROUNDS; round++) {
    const load = os.loadavg()[0]!.toFixed(1);
    for (let k = 0; k < singles.length; k++) {
      const [name, port] = singles[(k + round) % singles.length]!;
      single[name]!.push(await timeStorescu(port, series));
    }
    single.floor!.push(durabilityFloor(series, path.join(work, `floor-${round}`)));
    fs.rmSync(path.join(work, `floor-${round}`), { recursive: true });
    for (let k = 0; k < concurrents.length; k++) {
      const [name, port] = concurrents[(k + round) % concurrents.length]!;
      concurrent[name]!.push(await timeConcurrent(port, runs));
    }
    const last = (r: Record<string, number[]>) => Object.entries(r).map(([n, t]) => `${n} ${t.at(-1)!.toFixed(3)}`).join('  ');
    console.log(`round ${round + 1} (load ${load}): ${SLICES} slices: ${last(single)} | ${runs.length}×${runs[0]!.length}: ${last(concurrent)}`);
  }
  await storescp.stop();
  await fork.stop();
  await stopChild(own);
  await stopChild(hooks);
  // Each petspool SCP received the single series ROUNDS times and every concurrent run ROUNDS times.
  for (const dir of ['own', 'hooks']) checkEveryCopy(path.join(work, dir), [...series, ...runs.flat()], ROUNDS);
  const m = (r: Record<string, number[]>, n: string) => median(r[n]!);
  console.log(`medians of ${ROUNDS} rounds (every copy checked):`);
  console.log(`  ${SLICES} slices: storescp ${m(single, 'storescp').toFixed(3)} s, own P-DATA ${m(single, 'own').toFixed(3)} s, public hooks ${m(single, 'hooks').toFixed(3)} s, floor ${m(single, 'floor').toFixed(3)} s`);
  const ratios = (a: number[], b: number[]) => a.map((x, i) => x / b[i]!);
  console.log(`  per-round hooks/own: ${ratios(single.hooks!, single.own!).map((r) => r.toFixed(2)).join(' ')}; own/storescp: ${ratios(single.own!, single.storescp!).map((r) => r.toFixed(2)).join(' ')}`);
  console.log(`  ${runs.length}×${runs[0]!.length}: storescp --fork ${m(concurrent, 'fork').toFixed(3)} s, own P-DATA ${m(concurrent, 'own').toFixed(3)} s, public hooks ${m(concurrent, 'hooks').toFixed(3)} s`);
  console.log(`  per-round hooks/own: ${ratios(concurrent.hooks!, concurrent.own!).map((r) => r.toFixed(2)).join(' ')}; own/fork: ${ratios(concurrent.own!, concurrent.fork!).map((r) => r.toFixed(2)).join(' ')}`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
