import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { isDicomDir, readInstanceHeader } from '../../../src/dicom/read-header.js';
import { runDcmtk } from '../../fixtures/dcmtk.js';
import { LONG_RESCALE_SLOPE, makePetSeries } from '../../fixtures/make-pet.js';

let dir: string;
let source: string;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'petspool-header-'));
  [source] = await makePetSeries(path.join(dir, 'le'), { slices: 1, size: 16 });
});
after(() => fs.rm(dir, { recursive: true, force: true }));

test('reads the PET facts from an Explicit VR Little Endian file', () => {
  const h = readInstanceHeader(source);
  assert.equal(h.transferSyntaxUid, '1.2.840.10008.1.2.1');
  assert.equal(h.sopClassUid, '1.2.840.10008.5.1.4.1.1.128');
  assert.equal(h.modality, 'PT');
  assert.equal(h.patientName, 'TEST^PATIENT');
  assert.equal(h.patientWeight, 72.5);
  assert.deepEqual(h.pixelSpacing, [4.0728, 4.0728]);
  assert.deepEqual(h.imageOrientationPatient, [1, 0, 0, 0, 1, 0]);
  assert.deepEqual(h.imagePositionPatient, [-300, -300, 0]);
  assert.equal(h.rows, 16);
  assert.equal(h.rescaleSlope, Number.parseFloat(LONG_RESCALE_SLOPE));
  assert.equal(h.units, 'BQML');
  assert.deepEqual(h.correctedImage, ['DECY', 'ATTN']);
  assert.equal(h.numberOfSlices, 1);
  assert.deepEqual(h.radiopharmaceutical, {
    name: 'Fluorodeoxyglucose', code: undefined, nuclideCode: undefined, totalDose: 370000000,
    startTime: '080000.00', startDateTime: undefined, halfLife: 6586.2, positronFraction: 0.97,
  });
  assert.equal(isDicomDir(h), false);
});

for (const [option, syntax] of [['+ti', '1.2.840.10008.1.2'], ['+tb', '1.2.840.10008.1.2.2']] as const) {
  test(`reads the same facts from ${syntax} (dcmconv ${option})`, async () => {
    const converted = path.join(dir, `conv${option}.dcm`);
    assert.equal((await runDcmtk('dcmconv', [option, source, converted])).code, 0);
    const h = readInstanceHeader(converted);
    const reference = readInstanceHeader(source);
    assert.equal(h.transferSyntaxUid, syntax);
    assert.deepEqual({ ...h, transferSyntaxUid: '' }, { ...reference, transferSyntaxUid: '' });
  });
}

test('reads the header of an encapsulated (RLE) file without touching pixel data', async () => {
  const rle = path.join(dir, 'rle.dcm');
  assert.equal((await runDcmtk('dcmcrle', [source, rle])).code, 0);
  const h = readInstanceHeader(await fs.readFile(rle));
  assert.equal(h.transferSyntaxUid, '1.2.840.10008.1.2.5');
  assert.equal(h.sopInstanceUid, readInstanceHeader(source).sopInstanceUid);
});

test('refuses what is not DICOM with a human message', async () => {
  assert.throws(() => readInstanceHeader(Buffer.from('hello')), /not a DICOM file/);
  assert.throws(() => readInstanceHeader(Buffer.alloc(400)), /not a DICOM file: no DICM prefix/);
  const bytes = await fs.readFile(source);
  assert.throws(() => readInstanceHeader(bytes.subarray(0, 400)), /truncated/);
});

test('refuses a file without SOPInstanceUID', async () => {
  const copy = path.join(dir, 'nouid.dcm');
  await fs.copyFile(source, copy);
  assert.equal((await runDcmtk('dcmodify', ['-nb', '-ea', '(0008,0018)', copy])).code, 0);
  assert.throws(() => readInstanceHeader(copy), /missing SOPInstanceUID/);
});

test('recognizes DICOMDIR files', () => {
  assert.equal(isDicomDir({ sopClassUid: '1.2.840.10008.1.3.10' }), true);
});
