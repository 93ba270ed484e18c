/**
 * Benchmark of the packer's archive step on a 400×256×256 FDG phantom (synthesizePetSeries, then
 * assembleVolume, as the packer sees it): the previous path (writeNpy + sha256, then 7z -mx=1 on
 * the files) against compressVolume + writeUploadArchive (compressed in memory, sha256 overlapped). Both include the
 * metadata.json and the coronal MIP. Best of RUNS each, alternating. Not part of `npm run bench`.
 * Run: node dist/bench/pack-archive.js
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { synthesizePetSeries } from '../src/series/synth.js';
import { assembleVolume, type AssembledVolume } from '../src/imaging/assemble-volume.js';
import { mipPng } from '../src/imaging/mip.js';
import { npyHeader, writeNpy } from '../src/imaging/npy.js';
import { packZip } from '../src/remote/zip-pack.js';
import { SEED_RADIOPHARMACEUTICALS } from '../src/rules/radiopharmaceuticals.js';
import { compressVolume, writeUploadArchive } from '../src/remote/upload-archive.js';
import { seriesMetadata } from '../src/remote/series-metadata.js';

const RUNS = 5;

/** What the packer did before zip-write: .npy on disk (fsynced) hashed meanwhile, then 7z. */
async function previousPath(volume: AssembledVolume, dir: string, taskId: string, clientId: string): Promise<string> {
  const npy = path.join(dir, `${taskId}.npy`);
  const writing = writeNpy(npy, volume.data, volume.shape);
  const hash = createHash('sha256').update(npyHeader(volume.shape));
  const bytes = Buffer.from(volume.data.buffer, volume.data.byteOffset, volume.data.byteLength);
  for (let offset = 0; offset < bytes.length; offset += 8 << 20) {
    hash.update(bytes.subarray(offset, offset + (8 << 20)));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await writing;
  const metadata = path.join(dir, 'metadata.json');
  await writeFile(metadata, JSON.stringify({ npy_sha256: hash.digest('hex') }, null, 2) + '\n');
  mipPng(volume);
  const archive = path.join(dir, `${taskId}_${clientId}.zip`);
  await packZip(archive, [npy, metadata]);
  return archive;
}

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(tmpdir(), 'petspool-bench-pack-'));
  try {
    const files = await synthesizePetSeries(path.join(root, 'series'), { slices: 400, size: 256 });
    const volume = await assembleVolume(files);
    const tracer = SEED_RADIOPHARMACEUTICALS.find((t) => t.id === 'fdg')!;
    const headerPart = seriesMetadata(volume.headers, tracer, { taskId: 'bench', clientId: 'site-01' });
    const times = { previous: [] as number[], zipWrite: [] as number[] };
    const sizes = { previous: 0, zipWrite: 0 };
    for (let run = 0; run < RUNS; run++) {
      for (const way of ['previous', 'zipWrite'] as const) {
        const dir = path.join(root, `${way}-${run}`);
        await mkdir(dir);
        const start = performance.now();
        const archive = way === 'previous'
          ? await previousPath(volume, dir, 'bench', 'site-01')
          : path.join(dir, (await writeUploadArchive(await compressVolume(volume), headerPart, dir)).archive);
        times[way].push((performance.now() - start) / 1000);
        sizes[way] = (await stat(archive)).size;
        await rm(dir, { recursive: true });
      }
    }
    const report = (way: keyof typeof times): string =>
      `${way}: best ${Math.min(...times[way]).toFixed(2)} s (runs ${times[way].map((t) => t.toFixed(2)).join(', ')}), ${(sizes[way] / 1e6).toFixed(1)} MB`;
    console.log(`packer archive step, ${volume.shape.join('×')} float32 (${(volume.data.byteLength / 1e6).toFixed(0)} MB)`);
    console.log(report('previous'));
    console.log(report('zipWrite'));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
