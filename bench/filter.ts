/**
 * Benchmark: petspool's Gaussian filter against scipy.ndimage.gaussian_filter(mode='nearest') on
 * the same 400×256×256 float32 volume, FWHM 4 mm, spacing [2.0, 2.73, 2.73] mm. Both best of 3;
 * scipy is timed inside Debian's python3 around the filter call only.
 * Run: node dist/bench/filter.js
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gaussianFilter, sigmaVoxels } from '../src/imaging/gaussian.js';
import { readNpy, writeNpy } from '../src/imaging/npy.js';
import type { Volume } from '../src/imaging/volume.js';

const SHAPE: [number, number, number] = [400, 256, 256];
const SPACING: [number, number, number] = [2.0, 2.73, 2.73];
const FWHM_MM = 4;
const RUNS = 3;
const PYTHON = '/usr/bin/python3';

export interface FilterBenchResult {
  shape: [number, number, number];
  spacing: [number, number, number];
  fwhmMm: number;
  scipySeconds: number;
  /** Input in an ordinary ArrayBuffer (as readNpy returns it): copied into the result, then filtered. */
  petspoolSeconds: number;
  /** Input in a SharedArrayBuffer (as assembleVolume returns it): workers read it without a copy. */
  petspoolSharedSeconds: number;
  /** petspool time (ordinary input) / scipy time: the target is ≤ 0.5 */
  ratio: number;
  maxAbsDifference: number;
  volumeMax: number;
}

/** A PET-like test volume: noisy background with a few hot spheres, deterministic. */
export function benchVolume(shape: [number, number, number] = SHAPE, spacing: [number, number, number] = SPACING): Volume {
  const [nz, ny, nx] = shape;
  const data = new Float32Array(nz * ny * nx);
  let seed = 12345;
  const random = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  const spheres = [
    { z: nz * 0.3, y: ny * 0.5, x: nx * 0.4, r: 6, v: 40 },
    { z: nz * 0.6, y: ny * 0.3, x: nx * 0.6, r: 10, v: 15 },
    { z: nz * 0.8, y: ny * 0.7, x: nx * 0.5, r: 3, v: 80 },
  ];
  let i = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++, i++) {
        let v = 1 + 2 * random();
        for (const s of spheres) {
          const d2 = (z - s.z) ** 2 + (y - s.y) ** 2 + (x - s.x) ** 2;
          if (d2 <= s.r * s.r) v += s.v;
        }
        data[i] = v;
      }
    }
  }
  return { data, shape, spacing, orientation: [1, 0, 0, 0, 1, 0], positions: [] };
}

const SCIPY_SCRIPT = `
import json, sys, time
import numpy as np
from scipy.ndimage import gaussian_filter
src, dst, sigma, runs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
a = np.load(src)
best = float('inf')
for _ in range(runs):
    t0 = time.perf_counter()
    out = gaussian_filter(a, sigma, mode='nearest')
    best = min(best, time.perf_counter() - t0)
np.save(dst, out.astype(np.float32))
print(json.dumps({'seconds': best}))
`;

/** Environment for the python child: without the OpenBLAS tuning variables, so both sides run as shipped. */
function pythonEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

export async function benchFilter(): Promise<FilterBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'petspool-bench-'));
  try {
    const vol = benchVolume();
    const src = join(dir, 'input.npy');
    const dst = join(dir, 'scipy.npy');
    await writeNpy(src, vol.data, vol.shape);
    const sigma = sigmaVoxels(FWHM_MM, vol.spacing);
    const { stdout } = await promisify(execFile)(PYTHON, ['-c', SCIPY_SCRIPT, src, dst, JSON.stringify(sigma), String(RUNS)], {
      env: pythonEnv(),
      maxBuffer: 1 << 20,
    });
    const scipySeconds = (JSON.parse(stdout.trim()) as { seconds: number }).seconds;

    const bestOf = async (input: Volume): Promise<{ seconds: number; result: Float32Array }> => {
      let seconds = Infinity;
      let result: Float32Array = new Float32Array(0);
      for (let run = 0; run < RUNS; run++) {
        const t0 = performance.now();
        result = await gaussianFilter(input, FWHM_MM);
        seconds = Math.min(seconds, (performance.now() - t0) / 1000);
      }
      return { seconds, result };
    };
    const { seconds: petspoolSeconds, result: ours } = await bestOf(vol);
    const sharedData = new Float32Array(new SharedArrayBuffer(vol.data.byteLength));
    sharedData.set(vol.data);
    const petspoolSharedSeconds = (await bestOf({ ...vol, data: sharedData })).seconds;

    const reference = (await readNpy(dst)).data;
    let maxAbsDifference = 0;
    let volumeMax = -Infinity;
    for (let i = 0; i < reference.length; i++) {
      maxAbsDifference = Math.max(maxAbsDifference, Math.abs(reference[i] - ours[i]));
      volumeMax = Math.max(volumeMax, vol.data[i]);
    }
    return {
      shape: vol.shape,
      spacing: vol.spacing,
      fwhmMm: FWHM_MM,
      scipySeconds,
      petspoolSeconds,
      petspoolSharedSeconds,
      ratio: petspoolSeconds / scipySeconds,
      maxAbsDifference,
      volumeMax,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function formatFilterBench(r: FilterBenchResult): string {
  return [
    `Gaussian filter ${r.shape.join('×')} float32, spacing ${r.spacing.join(' × ')} mm, FWHM ${r.fwhmMm} mm (best of ${RUNS})`,
    `  scipy.ndimage.gaussian_filter: ${r.scipySeconds.toFixed(3)} s`,
    `  petspool gaussianFilter:       ${r.petspoolSeconds.toFixed(3)} s (shared input: ${r.petspoolSharedSeconds.toFixed(3)} s)`,
    `  ratio petspool/scipy:          ${r.ratio.toFixed(2)} (target ≤ 0.50; shared input ${(r.petspoolSharedSeconds / r.scipySeconds).toFixed(2)})`,
    `  max abs difference:            ${r.maxAbsDifference.toExponential(2)} (volume max ${r.volumeMax.toFixed(1)})`,
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(formatFilterBench(await benchFilter()));
}
