import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { synthesizePetSeries } from '../../../src/series/synth.js';
import { readInstanceHeader } from '../../../src/dicom/read-header.js';
import { pixelDataProblem } from '../../../src/dicom/pixel-data-check.js';
import { walkStructure } from '../../../src/dicom/structure-check.js';
import { decodeSliceInto } from '../../../src/imaging/decode-pixels.js';
import {
  BITS_NEEDED, compressPetFile, decompressWithDcmtk, requantisePetFile, LOSSLESS_KINDS, LOSSY_KINDS, NEAR_LOSSLESS_ERROR, TS, type CompressionKind,
} from '../../fixtures/compressed-pet.js';

const SIZE = 32;
let work: string;
let source16: string;

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'petspool-codecs-'));
  [source16] = await synthesizePetSeries(path.join(work, 'src'), { slices: 1, size: SIZE, seed: 7 });
});

/** The uncompressed source a kind is made from. */
async function sourceFor(kind: CompressionKind): Promise<string> {
  const bits = BITS_NEEDED[kind];
  if (!bits) return source16;
  const file = path.join(work, `src-${bits}.dcm`);
  await copyFile(source16, file);
  await requantisePetFile(file, bits);
  return file;
}

async function decoded(file: string): Promise<Float32Array> {
  const bytes = await readFile(file);
  const out = new Float32Array(SIZE * SIZE);
  await decodeSliceInto(bytes, readInstanceHeader(bytes), out, 0);
  return out;
}

const maxDifference = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

test('every compressed syntax decodes: lossless ones to exactly the source values, lossy ones close to them; only lossy ones are marked lossy', async () => {
  await mkdir(path.join(work, 'enc'), { recursive: true });
  for (const kind of [...LOSSLESS_KINDS, ...LOSSY_KINDS]) {
    const source = await sourceFor(kind);
    const file = path.join(work, 'enc', `${kind}.dcm`);
    await compressPetFile(source, file, kind);
    const bytes = await readFile(file);
    const header = readInstanceHeader(bytes);
    assert.notEqual(header.transferSyntaxUid, '1.2.840.10008.1.2.1', `${kind} is compressed`);
    assert.equal(pixelDataProblem(bytes, header), undefined, kind);
    const reference = kind === 'jpeg-baseline' || kind === 'jpeg-extended' ? path.join(work, 'enc', `${kind}-dcmtk.dcm`) : source;
    if (reference !== source) await decompressWithDcmtk(file, reference);
    const [want, got] = [await decoded(reference), await decoded(file)];
    const slope = readInstanceHeader(reference).rescaleSlope ?? 1;
    const peak = want.reduce((m, v) => Math.max(m, v), 0);
    if (LOSSLESS_KINDS.includes(kind)) {
      assert.deepEqual(got, want, `${kind}: lossless`);
      assert.equal(header.lossyCompression, undefined, `${kind}: not lossy`);
    } else {
      // JPEG: our decoder and DCMTK's agree within a stored step; JPEG-LS within NEAR; JPEG 2000 at 4:1 stays close
      // (plus float32 rounding of value · slope).
      const float32 = peak * 1e-6;
      const bound = reference !== source ? slope + float32 : kind === 'jpeg-ls-near-lossless' ? NEAR_LOSSLESS_ERROR * slope + float32 : 0.1 * peak;
      assert.ok(maxDifference(got, want) <= bound, `${kind}: max difference ${maxDifference(got, want)} within ${bound}`);
      assert.ok(header.lossyCompression, `${kind}: lossy`);
      assert.ok(header.lossyCompression.methods.length >= 1 && header.lossyCompression.ratios[0]! > 1, `${kind}: ${JSON.stringify(header.lossyCompression)}`);
    }
  }
  const irreversible = readInstanceHeader(path.join(work, 'enc', 'j2k-irreversible.dcm'));
  assert.equal(irreversible.transferSyntaxUid, TS.j2k);
  assert.deepEqual(irreversible.lossyCompression?.methods, ['ISO_15444_1']);
  assert.equal(readInstanceHeader(path.join(work, 'enc', 'j2k-reversible.dcm')).transferSyntaxUid, TS.j2k, 'reversible .91 stays lossless');
});

/** The byte offset of the first item after PixelData's header, and the file. */
async function encapsulated(kind: CompressionKind): Promise<{ bytes: Buffer; items: number }> {
  const file = path.join(work, `quirk-${kind}.dcm`);
  await compressPetFile(source16, file, kind);
  const bytes = await readFile(file);
  return { bytes, items: walkStructure(bytes).pixelDataAt! + 12 };
}

test('encoder quirks that leave the image unambiguous are read; the others are refused with what is wrong', async () => {
  const want = await decoded(source16);
  const { bytes, items } = await encapsulated('jpeg-lossless-sv1');
  const table = bytes.readUInt32LE(items + 4);
  const fragmentAt = items + 8 + table;
  const fragmentLength = bytes.readUInt32LE(fragmentAt + 4);
  const fragmentEnd = fragmentAt + 8 + fragmentLength;

  // An odd fragment length (a trailing byte the decoder ignores).
  const odd = Buffer.concat([bytes.subarray(0, fragmentEnd), Buffer.from([0]), bytes.subarray(fragmentEnd)]);
  odd.writeUInt32LE(fragmentLength + 1, fragmentAt + 4);
  // No Basic Offset Table item: the codestream comes first.
  const noTable = Buffer.concat([bytes.subarray(0, items), bytes.subarray(items + 8 + table)]);
  for (const [what, file] of [['odd fragment length', odd], ['no offset table', noTable]] as const) {
    const header = readInstanceHeader(file);
    assert.equal(pixelDataProblem(file, header), undefined, what);
    const out = new Float32Array(SIZE * SIZE);
    await decodeSliceInto(file, header, out, 0);
    assert.deepEqual(out, want, what);
  }

  const header = readInstanceHeader(bytes);
  const noDelimiter = bytes.subarray(0, bytes.length - 8);
  assert.match(pixelDataProblem(noDelimiter, header) ?? '', /ends without its sequence delimiter \(FFFE,E0DD\)/);
  const cut = bytes.subarray(0, fragmentEnd - 10);
  assert.match(pixelDataProblem(cut, header) ?? '', /truncated: pixel data item 2 claims \d+ bytes but the file ends/);
  const wrongTag = Buffer.from(bytes);
  wrongTag.writeUInt16LE(0xe00d, fragmentAt + 2);
  assert.match(pixelDataProblem(wrongTag, header) ?? '', /holds \(FFFE,E00D\) at byte \d+ where a fragment item \(FFFE,E000\) belongs/);
  const empty = Buffer.concat([bytes.subarray(0, fragmentAt), bytes.subarray(fragmentEnd)]);
  assert.match(pixelDataProblem(empty, header) ?? '', /no fragments/);
  await assert.rejects(decodeSliceInto(noDelimiter, header, new Float32Array(SIZE * SIZE), 0), /sequence delimiter/);
  // A damaged codestream is the decoder's to name.
  const garbage = Buffer.from(bytes);
  garbage.fill(0x55, fragmentAt + 8 + 30, fragmentEnd - 4);
  await assert.rejects(decodeSliceInto(garbage, header, new Float32Array(SIZE * SIZE), 0), /could not be decoded|decoded to nothing|PixelData has/);
});
