import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { synthesizePetActivity, synthesizePetSeries, type SynthOptions } from '../../../src/series/synth.js';
import { assembleVolume } from '../../../src/imaging/assemble-volume.js';
import { sliceNormal } from '../../../src/imaging/volume.js';
import { initPixelCodecs } from '../../../src/imaging/decode-pixels.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'petspool-assemble-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Deterministic shuffle, so the input order is never the slice order. */
function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  let seed = 7;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const oblique: [number, number, number, number, number, number] = (() => {
  // Rows tilted 20° about z, columns tilted 10° out of plane; orthonormalised.
  const a = (20 * Math.PI) / 180;
  const b = (10 * Math.PI) / 180;
  const row = [Math.cos(a), Math.sin(a), 0];
  const col = [-Math.sin(a) * Math.cos(b), Math.cos(a) * Math.cos(b), Math.sin(b)];
  return [...row, ...col] as [number, number, number, number, number, number];
})();

test('assembles a shuffled oblique series in slice-normal order with per-slice rescale applied', async () => {
  const options: SynthOptions = { slices: 12, size: 32, sliceThickness: 3.27, pixelSpacing: 4.0, orientation: oblique, seed: 5 };
  const files = await synthesizePetSeries(join(root, 'oblique'), options);
  const truth = synthesizePetActivity(options);
  const vol = await assembleVolume(shuffled(files));

  assert.deepEqual(vol.shape, [12, 32, 32]);
  assert.ok(Math.abs(vol.spacing[0] - 3.27) < 1e-4, `slice spacing ${vol.spacing[0]}`);
  assert.deepEqual(vol.spacing.slice(1), [4.0, 4.0]);
  assert.ok(vol.data.buffer instanceof SharedArrayBuffer);
  const normal = sliceNormal(vol.orientation);
  for (let z = 1; z < vol.positions.length; z++) {
    const step = [0, 1, 2].reduce((s, i) => s + (vol.positions[z][i] - vol.positions[z - 1][i]) * normal[i], 0);
    assert.ok(step > 0, 'positions ascend along the slice normal');
  }
  // synth writes slice 0 at the top of the normal, so the volume holds its slices reversed.
  const plane = 32 * 32;
  let maxError = 0;
  let maxValue = 0;
  for (let z = 0; z < 12; z++) {
    const synthSlice = 11 - z;
    assert.equal(vol.files[z], files[synthSlice]);
    assert.equal(vol.headers[z].instanceNumber, synthSlice + 1);
    for (let i = 0; i < plane; i++) {
      const expected = truth.activity[synthSlice * plane + i];
      maxError = Math.max(maxError, Math.abs(vol.data[z * plane + i] - expected));
      maxValue = Math.max(maxValue, expected);
    }
  }
  // int16 quantisation with a per-slice slope: error at most half a step of the hottest slice.
  assert.ok(maxError <= maxValue / 32767, `max error ${maxError} for max ${maxValue}`);
});

test('decodes implicit LE, big endian and compressed transfer syntaxes to the same volume', async () => {
  const options: SynthOptions = { slices: 6, size: 16, seed: 9 };
  const reference = await assembleVolume(await synthesizePetSeries(join(root, 'reference'), options));

  const bigEndian = await assembleVolume(
    await synthesizePetSeries(join(root, 'big-endian'), { ...options, transferSyntaxUid: '1.2.840.10008.1.2.2' }),
  );
  assert.equal(bigEndian.headers[0].transferSyntaxUid, '1.2.840.10008.1.2.2');
  assert.deepEqual(bigEndian.data, reference.data);

  await initPixelCodecs();
  const codecs = createRequire(import.meta.url)('dcmjs-codecs') as {
    Transcoder: new (b: ArrayBuffer) => { transcode(ts: string): void; getDicomPart10(): ArrayBuffer };
  };
  const syntaxes = {
    implicit: '1.2.840.10008.1.2',
    rle: '1.2.840.10008.1.2.5',
    jpegLossless: '1.2.840.10008.1.2.4.70',
    jpegLs: '1.2.840.10008.1.2.4.80',
    jpeg2000: '1.2.840.10008.1.2.4.90',
  };
  for (const [name, uid] of Object.entries(syntaxes)) {
    const encoded: string[] = [];
    for (const [i, file] of reference.files.entries()) {
      const bytes = readFileSync(file);
      const transcoder = new codecs.Transcoder(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      transcoder.transcode(uid);
      const out = join(root, `${name}-${i}.dcm`);
      await writeFile(out, Buffer.from(transcoder.getDicomPart10()));
      encoded.push(out);
    }
    const vol = await assembleVolume(shuffled(encoded));
    assert.equal(vol.headers[0].transferSyntaxUid, uid);
    assert.deepEqual(vol.data, reference.data, `${name} decodes to the same values`);
  }
});

test('refuses slices at the same position and mixed matrix sizes, naming the files', async () => {
  const a = await synthesizePetSeries(join(root, 'dup-a'), { slices: 3, size: 16, seed: 1 });
  const b = await synthesizePetSeries(join(root, 'dup-b'), { slices: 3, size: 16, seed: 2 });
  await assert.rejects(assembleVolume([...a, b[1]]), /same slice position/);
  const c = await synthesizePetSeries(join(root, 'other-size'), { slices: 3, size: 24, seed: 3 });
  await assert.rejects(assembleVolume([...a, c[0]]), /24×24 pixels, the series has 16×16/);
});

test('a large volume decoded by the worker threads equals the one decoded here, with the column maxima of every slice', async () => {
  // 20 × 256² is over the size from which the workers decode.
  const files = await synthesizePetSeries(join(root, 'large'), { slices: 20, size: 256, seed: 5 });
  const here = await assembleVolume(files, undefined, { threads: 1 });
  const workers = await assembleVolume(files, undefined, { threads: 2 });
  assert.deepEqual(workers.data, here.data);
  assert.deepEqual(workers.coronalRows, here.coronalRows);
  const [slices, rows, columns] = here.shape;
  for (const z of [0, 7, slices - 1]) {
    for (const x of [0, 100, columns - 1]) {
      let max = -Infinity;
      for (let y = 0; y < rows; y++) max = Math.max(max, here.data[(z * rows + y) * columns + x]!);
      assert.equal(here.coronalRows[z * columns + x], max, `slice ${z}, column ${x}`);
    }
  }

  // A problem in a worker's slice reads as it would here: the file and the reason, and a
  // file-system error keeps its code (the packer retries those).
  const cut = join(root, 'large', 'cut.dcm');
  const whole = readFileSync(files[13]!);
  await writeFile(cut, whole.subarray(0, whole.length - 1000));
  const headers = here.headers.map((h) => h);
  const withCut = files.map((f) => (f === here.files[13] ? cut : f));
  const order = files.map((f) => here.files.indexOf(f));
  await assert.rejects(assembleVolume(withCut, order.map((i) => headers[i]!), { threads: 2 }),
    (err: Error) => err.message.startsWith(`${cut}: `) && /PixelData/.test(err.message));
  await assert.rejects(assembleVolume(files.map((f, i) => (i === 3 ? join(root, 'gone.dcm') : f)), order.map((i) => headers[i]!), { threads: 2 }),
    (err: NodeJS.ErrnoException) => err.code === 'ENOENT' && err.message.includes('gone.dcm'));
});
