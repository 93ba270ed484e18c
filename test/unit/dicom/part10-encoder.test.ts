import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesizePetSeries } from '../../../src/series/synth.js';
import { Part10Encoder } from '../../../src/dicom/part10-encoder.js';
import { TransferSyntax, decodePart10, encodePart10, exactArrayBuffer, readPart10File, setElement } from '../../../src/dicom/write-part10.js';

test('Part10Encoder writes every slice of a series byte for byte as encodePart10 does', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'petspool-encoder-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const files = await synthesizePetSeries(join(dir, 'in'), { slices: 6, size: 16 });
  for (const transferSyntaxUid of [TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ImplicitVRLittleEndian]) {
    const encoder = new Part10Encoder();
    for (const [slice, file] of files.entries()) {
      const { dataset } = await readPart10File(file);
      // What differs per slice in a derived series: new UIDs, numbers, sequences, pixels.
      setElement(dataset, 'SOPInstanceUID', `1.2.3.${slice}`);
      setElement(dataset, 'RescaleSlope', 0.5 + slice);
      setElement(dataset, 'SourceImageSequence', [{ '00081155': { vr: 'UI', Value: [`9.8.${slice}`] } }]);
      setElement(dataset, 'PixelData', exactArrayBuffer(new Int16Array(256).fill(slice)), 'OW');
      const fast = encoder.encode(dataset, transferSyntaxUid);
      assert.deepEqual(fast, encodePart10(dataset, transferSyntaxUid), `slice ${slice}, ${transferSyntaxUid}`);
      assert.equal(decodePart10(fast).meta['00020003']?.Value?.[0], `1.2.3.${slice}`);
    }
  }
});

test('Part10Encoder does not reuse bytes of an element changed in place after encoding', () => {
  const encoder = new Part10Encoder();
  const dataset = {};
  setElement(dataset, 'SOPClassUID', '1.2.840.10008.5.1.4.1.1.128');
  setElement(dataset, 'SOPInstanceUID', '1.2.3');
  setElement(dataset, 'ImageType', ['DERIVED', 'PRIMARY']);
  encoder.encode(dataset);
  (dataset as Record<string, { Value: unknown[] }>)['00080008']!.Value[1] = 'SECONDARY';
  assert.deepEqual(encoder.encode(dataset), encodePart10(dataset));
});

test('a Part10Encoder told that elements never change reuses the bytes of the same object without comparing', () => {
  const trusting = new Part10Encoder({ elementsNeverChange: true });
  const dataset = {};
  setElement(dataset, 'SOPClassUID', '1.2.840.10008.5.1.4.1.1.128');
  setElement(dataset, 'ImageType', ['DERIVED', 'PRIMARY']);
  const first = trusting.encode(dataset);
  // Against its promise, for the test: the same object changed in place keeps its first bytes.
  (dataset as Record<string, { Value: unknown[] }>)['00080008']!.Value[1] = 'SECONDARY';
  assert.deepEqual(trusting.encode(dataset), first);
  // A new object with another value is compared (with the object kept, not a copy), and encoded anew.
  setElement(dataset, 'ImageType', ['ORIGINAL', 'PRIMARY']);
  assert.deepEqual(trusting.encode(dataset), encodePart10(dataset));
});

test('pixel data given as a view on a shared buffer is framed without a copy and written as from an ArrayBuffer', () => {
  const shared = new Int16Array(new SharedArrayBuffer(3 * 64 * 2));
  shared.forEach((_, i) => { shared[i] = i * 7 - 300; });
  const view = shared.subarray(64, 128);
  const dataset = {};
  setElement(dataset, 'SOPClassUID', '1.2.840.10008.5.1.4.1.1.128');
  setElement(dataset, 'SOPInstanceUID', '1.2.3');
  setElement(dataset, 'Rows', 8);
  (dataset as Record<string, unknown>)['7FE00010'] = { vr: 'OW', Value: [view] };
  const parts = new Part10Encoder().encodeParts(dataset);
  const pixelPart = parts.at(-1)!;
  assert.equal(pixelPart.buffer, shared.buffer, 'the last piece is the shared pixels themselves');
  const asArrayBuffer = { ...dataset };
  setElement(asArrayBuffer, 'PixelData', exactArrayBuffer(view), 'OW');
  assert.deepEqual(Buffer.concat(parts), encodePart10(asArrayBuffer));
});
