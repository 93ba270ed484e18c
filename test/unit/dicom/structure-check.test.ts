/**
 * walkStructure: the walk over a Part-10 file's elements before dcmjs reads it. Well-formed files
 * in the three uncompressed syntaxes (sequences of defined and undefined length, an undefined-length
 * UN) pass and the top-level PixelData is found; each structural defect is named with the element
 * and the byte it is at. The files are built here element by element.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { longElement, textElement } from '../../../src/dicom/explicit-element.js';
import { encodeFileMeta } from '../../../src/dicom/file-meta.js';
import { defectMessage, MAX_SEQUENCE_DEPTH, walkStructure } from '../../../src/dicom/structure-check.js';
import { synthesizePetSeries } from '../../../src/series/synth.js';

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const DEFLATED = '1.2.840.10008.1.2.1.99';
const UNDEFINED = 0xffffffff;

function part10(transferSyntaxUid: string, ...dataset: Buffer[]): { file: Buffer; datasetAt: number } {
  const meta = encodeFileMeta({ sopClassUid: '1.2.840.10008.5.1.4.1.1.128', sopInstanceUid: '2.25.1', transferSyntaxUid });
  return { file: Buffer.concat([meta, ...dataset]), datasetAt: meta.length };
}

/** Explicit VR Little Endian header with any 4-byte length (long form). */
function longHeader(group: number, element: number, vr: string, length: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(group, 0);
  b.writeUInt16LE(element, 2);
  b.write(vr, 4, 'latin1');
  b.writeUInt32LE(length, 8);
  return b;
}
/** Item, item delimiter, sequence delimiter (FFFE,xxxx), little endian. */
function delimiter(element: number, length: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(0xfffe, 0);
  b.writeUInt16LE(element, 2);
  b.writeUInt32LE(length, 4);
  return b;
}
const ITEM = 0xe000;
const ITEM_END = 0xe00d;
const SEQUENCE_END = 0xe0dd;
/** Implicit VR Little Endian element. */
function implicit(group: number, element: number, value: Buffer | number): Buffer {
  const length = typeof value === 'number' ? value : value.length;
  const b = Buffer.alloc(8);
  b.writeUInt16LE(group, 0);
  b.writeUInt16LE(element, 2);
  b.writeUInt32LE(length, 4);
  return typeof value === 'number' ? b : Buffer.concat([b, value]);
}
const pixels = (n: number) => longElement(0x7fe0, 0x0010, 'OW', Buffer.alloc(n, 0x11));
const pixelTagLE = Buffer.from([0xe0, 0x7f, 0x10, 0x00]);

test('a synthetic PET slice passes, and the walk stops at its top-level PixelData', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-structure-'));
  try {
    const [file] = await synthesizePetSeries(dir, { slices: 1, size: 8 });
    const bytes = await readFile(file!);
    const walked = walkStructure(bytes);
    assert.equal(walked.problem, undefined);
    assert.deepEqual(bytes.subarray(walked.pixelDataAt!, walked.pixelDataAt! + 4), pixelTagLE);
    assert.equal(walked.pixelDataAt, bytes.lastIndexOf(pixelTagLE), 'the only PixelData tag in the file');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Explicit VR Little Endian: nested sequences of defined and undefined length, an undefined-length UN, pass', () => {
  const inner = Buffer.concat([textElement(0x0008, 0x0100, 'SH', 'C-B1031'), textElement(0x0008, 0x0102, 'SH', 'SRT')]);
  const definedItem = Buffer.concat([delimiter(ITEM, inner.length), inner]);
  const codeSequence = longElement(0x0054, 0x0300, 'SQ', definedItem);
  const undefinedItem = Buffer.concat([delimiter(ITEM, UNDEFINED), textElement(0x0018, 0x0031, 'LO', 'FDG'), codeSequence, delimiter(ITEM_END, 0)]);
  const radiopharmaceutical = Buffer.concat([longHeader(0x0054, 0x0016, 'SQ', UNDEFINED), undefinedItem, delimiter(SEQUENCE_END, 0)]);
  // An undefined-length UN holds Implicit VR Little Endian items (PS3.5 6.2.2).
  const unItem = Buffer.concat([delimiter(ITEM, UNDEFINED), implicit(0x0009, 0x0010, Buffer.from('ACME')), delimiter(ITEM_END, 0)]);
  const privateUn = Buffer.concat([longHeader(0x0009, 0x1001, 'UN', UNDEFINED), unItem, delimiter(SEQUENCE_END, 0)]);
  const { file, datasetAt } = part10(EXPLICIT_LE, textElement(0x0008, 0x0060, 'CS', 'PT'), privateUn, radiopharmaceutical, pixels(32));
  const walked = walkStructure(file);
  assert.equal(walked.problem, undefined);
  assert.equal(walked.pixelDataAt, file.length - 12 - 32);
  assert.ok(walked.pixelDataAt! > datasetAt);
});

test('Implicit VR Little Endian (sequences by undefined length) and Explicit VR Big Endian pass', () => {
  const item = Buffer.concat([delimiter(ITEM, UNDEFINED), implicit(0x0018, 0x0031, Buffer.from('FDG ')), delimiter(ITEM_END, 0)]);
  const implicitFile = part10(IMPLICIT_LE,
    implicit(0x0008, 0x0060, Buffer.from('PT')),
    implicit(0x0054, 0x0016, UNDEFINED), item, delimiter(SEQUENCE_END, 0),
    implicit(0x7fe0, 0x0010, Buffer.alloc(16)));
  assert.deepEqual(walkStructure(implicitFile.file), { pixelDataAt: implicitFile.file.length - 8 - 16 });

  const be = (group: number, element: number, vr: string, value: Buffer) => {
    const b = Buffer.alloc(8);
    b.writeUInt16BE(group, 0);
    b.writeUInt16BE(element, 2);
    b.write(vr, 4, 'latin1');
    b.writeUInt16BE(value.length, 6);
    return Buffer.concat([b, value]);
  };
  const bePixels = Buffer.alloc(12 + 8);
  bePixels.writeUInt16BE(0x7fe0, 0);
  bePixels.writeUInt16BE(0x0010, 2);
  bePixels.write('OW', 4, 'latin1');
  bePixels.writeUInt32BE(8, 8);
  const bigEndian = part10(EXPLICIT_BE, be(0x0008, 0x0060, 'CS', Buffer.from('PT')), be(0x0028, 0x0010, 'US', Buffer.from([0x00, 0x08])), bePixels);
  assert.deepEqual(walkStructure(bigEndian.file), { pixelDataAt: bigEndian.file.length - 20 });
});

test('each structural defect is named, with the element and where it is', () => {
  const description = (length: number) => longHeader(0x0008, 0x103e, 'UT', length);
  const cases: [string, Buffer, string][] = [];
  const add = (name: string, expected: string, ...dataset: Buffer[]) => cases.push([name, part10(EXPLICIT_LE, ...dataset).file, expected]);

  add('a value running past the end', 'truncated: (0008,103E) claims 200 bytes but the file ends 4 bytes into it',
    textElement(0x0008, 0x0060, 'CS', 'PT'), description(200), Buffer.from('abcd'));
  add('an unknown VR', '(0008,1030) has an unknown VR "ZZ"',
    Buffer.concat([textElement(0x0008, 0x1030, 'LO', 'study')]).fill('Z', 4, 6));
  add('an undefined length on a text element', '(0008,103E) UT has an undefined length, allowed only for sequences',
    description(UNDEFINED), Buffer.from('text'));
  add('a sequence without its delimiter', 'truncated: (0054,0016) has no end (sequence delimiter missing)',
    longHeader(0x0054, 0x0016, 'SQ', UNDEFINED), delimiter(ITEM, 0));
  add('an item without its delimiter', 'truncated: a sequence item has no end (item delimiter missing)',
    longHeader(0x0054, 0x0016, 'SQ', UNDEFINED), delimiter(ITEM, UNDEFINED), textElement(0x0018, 0x0031, 'LO', 'FDG'));
  add('a sequence holding an element where an item belongs', '(0054,0016) holds (0008,0020) where an item belongs',
    longElement(0x0054, 0x0016, 'SQ', textElement(0x0008, 0x0020, 'DA', '20240102')));
  add('an item claiming more than its sequence holds', 'truncated: an item of (0054,0016) claims 100 bytes but only 0 remain',
    longElement(0x0054, 0x0016, 'SQ', delimiter(ITEM, 100)));
  add('the file ending inside a tag', 'truncated: the file ends inside an element tag at byte ', // offset checked below
    textElement(0x0008, 0x0060, 'CS', 'PT'), Buffer.from([0x08, 0x00]));
  add('the file ending inside an element header', 'truncated: the file ends inside the header of (0008,0070)',
    textElement(0x0008, 0x0060, 'CS', 'PT'), Buffer.from([0x08, 0x00, 0x70, 0x00, 0x4c, 0x4f]));
  const open = Buffer.concat([longHeader(0x0040, 0xa730, 'SQ', UNDEFINED), delimiter(ITEM, UNDEFINED)]);
  const close = Buffer.concat([delimiter(ITEM_END, 0), delimiter(SEQUENCE_END, 0)]);
  add('sequences nested too deep', `sequences nested deeper than ${MAX_SEQUENCE_DEPTH} levels (at (0040,A730))`,
    ...Array<Buffer>(MAX_SEQUENCE_DEPTH + 1).fill(open), ...Array<Buffer>(MAX_SEQUENCE_DEPTH + 1).fill(close));

  for (const [name, file, expected] of cases) {
    const { problem } = walkStructure(file);
    assert.ok(problem?.startsWith(expected), `${name}: ${problem}`);
  }
  const strayAt = part10(EXPLICIT_LE, textElement(0x0008, 0x0060, 'CS', 'PT')).file.length;
  const stray = part10(EXPLICIT_LE, textElement(0x0008, 0x0060, 'CS', 'PT'), delimiter(ITEM, 0), pixels(4)).file;
  assert.equal(walkStructure(stray).problem, `stray item tag (FFFE,E000) at byte ${strayAt}`);
  const cut = part10(EXPLICIT_LE, textElement(0x0008, 0x0060, 'CS', 'PT'), Buffer.from([0x08, 0x00])).file;
  assert.equal(walkStructure(cut).problem, `truncated: the file ends inside an element tag at byte ${cut.length - 2}`);
  // The same nesting one level less deep is fine.
  const deepest = part10(EXPLICIT_LE, ...Array<Buffer>(MAX_SEQUENCE_DEPTH).fill(open), ...Array<Buffer>(MAX_SEQUENCE_DEPTH).fill(close), pixels(4)).file;
  assert.equal(walkStructure(deepest).problem, undefined);
});

test('a deflated data set is left to dcmjs, and problems read as an operator reads them', () => {
  assert.deepEqual(walkStructure(part10(DEFLATED, Buffer.from([0x78, 0x9c, 0xff, 0xff, 0x00])).file), {});
  assert.equal(defectMessage('truncated: (0008,103E) claims 200 bytes but the file ends 4 bytes into it'),
    'truncated: (0008,103E) claims 200 bytes but the file ends 4 bytes into it');
  assert.equal(defectMessage('(0008,1030) has an unknown VR "ZZ"'), 'malformed DICOM file: (0008,1030) has an unknown VR "ZZ"');
});
