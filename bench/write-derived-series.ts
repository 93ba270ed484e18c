/**
 * Benchmark of writeDerivedSeries as the unpacker uses it: a 400×256×256 synthetic PET series
 * (synthesizePetSeries), two filters, so 800 new files written from one set of source headers.
 * The output slices (int16 values and slopes) are prepared before the clock starts, as the
 * unpacker has them from its imaging threads: what is timed is this thread's work of making the
 * files, and writing and fsyncing them. Prints the best of RUNS. Not part of `npm run bench`.
 * Run: node dist/bench/write-derived-series.js [slices] [size]
 * Profile: node --cpu-prof --cpu-prof-dir=/tmp/prof dist/bench/write-derived-series.js
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SourceHeaders, writeDerivedSeries } from '../src/series/derived-series.js';
import { prepareOutputSlices } from '../src/imaging/output-slices.js';
import { synthesizePetSeries } from '../src/series/synth.js';
import { getNumbers, readPart10File } from '../src/dicom/write-part10.js';
import type { Volume } from '../src/imaging/volume.js';

const RUNS = 3;
const FILTERS = ['fwhm4', 'fwhm6'];

async function main(): Promise<void> {
  const slices = Number(process.argv[2] ?? 400);
  const size = Number(process.argv[3] ?? 256);
  const dir = await mkdtemp(path.join(tmpdir(), 'petspool-bench-derived-'));
  try {
    const sourceFiles = await synthesizePetSeries(path.join(dir, 'in'), { slices, size });
    const positions: [number, number, number][] = [];
    for (const file of sourceFiles) {
      const { dataset } = await readPart10File(file, { headerOnly: true });
      positions.push(getNumbers(dataset, 'ImagePositionPatient') as [number, number, number]);
    }
    const data = new Float32Array(slices * size * size);
    for (let i = 0; i < data.length; i++) data[i] = (i % 997) * 0.37;
    const volume: Volume = {
      data,
      shape: [slices, size, size],
      spacing: [3.27, 600 / size, 600 / size],
      orientation: [1, 0, 0, 0, 1, 0],
      positions,
    };
    const prepared = await prepareOutputSlices(volume);

    let best = Infinity;
    for (let run = 0; run < RUNS; run++) {
      const sourceHeaders = new SourceHeaders();
      const started = performance.now();
      for (const filterName of FILTERS) {
        await writeDerivedSeries({
          geometry: volume,
          voxels: prepared,
          sourceFiles,
          sourceHeaders,
          outDir: path.join(dir, `out-${run}-${filterName}`),
          seriesNumberOffset: 1000,
          filterName,
          derivationDescription: `Gaussian post-filter ${filterName}`,
        });
      }
      const elapsed = performance.now() - started;
      best = Math.min(best, elapsed);
      console.log(`run ${run + 1}: ${elapsed.toFixed(0)} ms for ${FILTERS.length * slices} files`);
    }
    console.log(`best of ${RUNS}: ${best.toFixed(0)} ms`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
