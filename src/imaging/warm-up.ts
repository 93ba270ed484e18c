/**
 * Starts the imaging worker threads and runs their code once on a small volume, at appliance
 * start: a cold pool (threads starting, modules loading, the voxel loops not yet compiled) made the
 * first task after each start about 0.2 s slower in the unpacker. The file writers start too.
 */
import { gaussianOutputSlices } from './gaussian.js';
import type { Volume } from './volume.js';
import { ImagingPool } from './worker-pool.js';

/** Just over the size from which the filter and the output preparation go to the workers. */
const WARM_UP_SHAPE: [number, number, number] = [17, 256, 256];

export async function warmUpImagingWorkers(threads?: number): Promise<void> {
  const [slices, rows, columns] = WARM_UP_SHAPE;
  const data = new Float32Array(new SharedArrayBuffer(slices * rows * columns * 4));
  data.fill(1);
  const volume: Volume = {
    data, shape: WARM_UP_SHAPE, spacing: [2, 2, 2], orientation: [1, 0, 0, 0, 1, 0],
    positions: Array.from({ length: slices }, (_, z) => [0, 0, 2 * z] as [number, number, number]),
  };
  await gaussianOutputSlices(volume, 4, { threads });
  await ImagingPool.writers().runOne({ kind: 'write-files', files: [] });
}
