/**
 * At appliance start, a small synthetic series goes once through the imaging path of a task:
 * decoding by the imaging threads, the filter and output slices, the derived series encoded and
 * written by the writer threads, a preview. A cold path (threads starting, modules loading, code
 * not yet compiled, the voxel loops' memory not yet grown) made the first task after each start
 * about 0.15-0.2 s slower than the next ones. Everything is written into a temporary folder in
 * `parentDir` (default the system's), removed afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { prepareDerivedSeries, writePreparedSeries } from './derived-series.js';
import { synthesizePetSeries } from './synth.js';
import { assembleVolume } from '../imaging/assemble-volume.js';
import { gaussianOutputSlices } from '../imaging/gaussian.js';
import { ImagingPool } from '../imaging/worker-pool.js';

/** Slices of 256×256: just over the size from which decoding and filtering go to the threads. */
const WARM_UP_SLICES = 17;

export async function warmUpImaging(opts: { threads?: number; parentDir?: string } = {}): Promise<void> {
  const { threads } = opts;
  const dir = await mkdtemp(path.join(opts.parentDir ?? os.tmpdir(), 'petspool-warm-up-'));
  try {
    const files = await synthesizePetSeries(path.join(dir, 'series'), { slices: WARM_UP_SLICES, size: 256 });
    const volume = await assembleVolume(files, undefined, { threads });
    const slices = await gaussianOutputSlices(volume, 4, { threads });
    const prepared = await prepareDerivedSeries({
      geometry: volume, sourceFiles: volume.files, outDir: path.join(dir, 'derived'), seriesNumberOffset: 1000,
      filterName: 'warm-up', derivationDescription: 'warm-up',
    });
    await writePreparedSeries(prepared, slices);
    const { shape, orientation, spacing } = volume;
    await ImagingPool.writers().runOne({ kind: 'write-preview', file: path.join(dir, 'preview.png'), coronalRows: slices.coronalRows, geometry: { shape, orientation, spacing } });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
