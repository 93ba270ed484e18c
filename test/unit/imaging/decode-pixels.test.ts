import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InstanceHeader } from '../../../src/dicom/instance-header.js';
import { longElement, textElement } from '../../../src/dicom/explicit-element.js';
import { decodeSliceInto } from '../../../src/imaging/decode-pixels.js';

const EXPLICIT_LE = '1.2.840.10008.1.2.1';

/** A minimal Explicit VR LE file: meta group, `padding` bytes of an OB element, then PixelData. */
function fileWithPixels(pixels: Buffer, paddingBytes = 0): Buffer {
  const meta = textElement(0x0002, 0x0010, 'UI', EXPLICIT_LE);
  const metaLength = Buffer.alloc(12);
  metaLength.writeUInt16LE(0x0002, 0);
  metaLength.writeUInt16LE(0x0000, 2);
  metaLength.write('UL', 4, 'latin1');
  metaLength.writeUInt16LE(4, 6);
  metaLength.writeUInt32LE(meta.length, 8);
  const parts = [Buffer.alloc(128), Buffer.from('DICM', 'latin1'), metaLength, meta];
  if (paddingBytes) parts.push(longElement(0x0009, 0x1010, 'OB', Buffer.alloc(paddingBytes)));
  parts.push(longElement(0x7fe0, 0x0010, 'OW', pixels));
  return Buffer.concat(parts);
}

function header(extra: Partial<InstanceHeader>): InstanceHeader {
  return {
    transferSyntaxUid: EXPLICIT_LE, sopClassUid: '1.2.840.10008.5.1.4.1.1.128', sopInstanceUid: '1.2.3', studyInstanceUid: '1.2',
    seriesInstanceUid: '1.2.4', rows: 2, columns: 2, bitsAllocated: 16, bitsStored: 16, pixelRepresentation: 1, ...extra,
  };
}

test('16-bit signed pixels are read from the file bytes and rescaled', async () => {
  const pixels = Buffer.alloc(8);
  [-2, 0, 7, 32767].forEach((v, i) => pixels.writeInt16LE(v, i * 2));
  const target = new Float32Array(6).fill(-1);
  await decodeSliceInto(fileWithPixels(pixels), header({ rescaleSlope: 0.5, rescaleIntercept: 10 }), target, 1);
  assert.deepEqual([...target], [-1, 9, 10, 13.5, 16393.5, -1]);
});

test('bits above BitsStored are masked off, and signed values sign-extended from BitsStored', async () => {
  const pixels = Buffer.alloc(8);
  // 12 bits stored: 0xF7FF has garbage in the top nibble; 0x0800 is -2048 when signed.
  [0xf7ff, 0x0800, 0x0001, 0xf000].forEach((v, i) => pixels.writeUInt16LE(v, i * 2));
  const unsigned = new Float32Array(4);
  await decodeSliceInto(fileWithPixels(pixels), header({ bitsStored: 12, pixelRepresentation: 0 }), unsigned, 0);
  assert.deepEqual([...unsigned], [0x7ff, 0x800, 1, 0]);
  const signed = new Float32Array(4);
  await decodeSliceInto(fileWithPixels(pixels), header({ bitsStored: 12, pixelRepresentation: 1 }), signed, 0);
  assert.deepEqual([...signed], [2047, -2048, 1, 0]);
});

test('32-bit pixels at an offset that is not a multiple of 4 in the file are read correctly', async () => {
  const pixels = Buffer.alloc(16);
  [-100000, 5, 2147483647, -1].forEach((v, i) => pixels.writeInt32LE(v, i * 4));
  for (const padding of [0, 2]) {
    const target = new Float32Array(4);
    await decodeSliceInto(fileWithPixels(pixels, padding), header({ bitsAllocated: 32, bitsStored: 32 }), target, 0);
    assert.deepEqual([...target], [-100000, 5, Math.fround(2147483647), -1], `padding ${padding}`);
  }
});

test('pixel data shorter than the header says, or missing, is refused with a reason', async () => {
  await assert.rejects(decodeSliceInto(fileWithPixels(Buffer.alloc(6)), header({}), new Float32Array(4), 0), /PixelData has 6 bytes, 2×2 at 16 bits needs 8/);
  const noPixels = fileWithPixels(Buffer.alloc(0)).subarray(0, -12);
  await assert.rejects(decodeSliceInto(noPixels, header({}), new Float32Array(4), 0), /no PixelData/);
});

test('16-bit values are rescaled by the float64 formula rounded to float32, signed and unsigned, at any offset in the file', async () => {
  // 1003 values (an odd count); the extremes of both types.
  const n = 1003;
  const bytes = Buffer.alloc(n * 2);
  let seed = 11;
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    bytes.writeUInt16LE(i < 4 ? [0, 0x7fff, 0x8000, 0xffff][i]! : seed >>> 16, i * 2);
  }
  for (const signed of [true, false]) {
    for (const [slope, intercept] of [[1, 0], [0.123456789012345, -1024.5], [3.3e-7, 1e-3]] as const) {
      const expected = new Float32Array(n);
      for (let i = 0; i < n; i++) expected[i] = (signed ? bytes.readInt16LE(i * 2) : bytes.readUInt16LE(i * 2)) * slope + intercept;
      // Padding 1 puts the pixels at an odd offset in the file.
      for (const padding of [0, 1]) {
        const target = new Float32Array(n);
        const layout = header({ rows: 1, columns: n, pixelRepresentation: signed ? 1 : 0, rescaleSlope: slope, rescaleIntercept: intercept });
        await decodeSliceInto(fileWithPixels(bytes, padding), layout, target, 0);
        assert.deepEqual(target, expected, `signed ${signed}, slope ${slope}, intercept ${intercept}, padding ${padding}`);
      }
    }
  }
});
