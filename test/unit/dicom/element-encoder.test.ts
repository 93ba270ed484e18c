import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeLittleEndianElement } from '../../../src/dicom/element-encoder.js';
import { Part10Encoder } from '../../../src/dicom/part10-encoder.js';
import { synthesizePetSeries } from '../../../src/series/synth.js';
import { TransferSyntax, encodeElement, encodeElementWithDcmjs, encodePart10, readPart10File } from '../../../src/dicom/write-part10.js';
import type { DicomDataset, DicomElement } from '../../../src/dicom/dataset.js';

// The test asks dcmjs itself which values it writes (Value, or _rawValue when unchanged).
const dcmjs = createRequire(import.meta.url)('dcmjs') as {
  data: { DicomMessage: { _getTagWriteValues(vr: string, element: DicomElement): unknown } };
};
const dcmjsWriteValues = (element: DicomElement): unknown => dcmjs.data.DicomMessage._getTagWriteValues(element.vr, element);

const SYNTAXES = [TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ImplicitVRLittleEndian];

/** The encoder's own bytes (undefined when it leaves the element to dcmjs). */
function ownBytes(tag: string, element: DicomElement, syntax: string): Buffer | undefined {
  return encodeLittleEndianElement(tag, element, syntax === TransferSyntax.ExplicitVRLittleEndian, dcmjsWriteValues);
}

type Outcome = { bytes: Buffer } | { error: string };
function outcome(encode: () => Buffer): Outcome {
  try {
    return { bytes: encode() };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** encodeElement against dcmjs; returns whether the encoder wrote the element itself. */
function assertSameAsDcmjs(tag: string, element: DicomElement, syntax: string, label: string): boolean {
  const expected = outcome(() => encodeElementWithDcmjs(tag, element, syntax));
  assert.deepEqual(outcome(() => encodeElement(tag, element, syntax)), expected, label);
  const own = ownBytes(tag, element, syntax);
  if (own) assert.deepEqual({ bytes: own }, expected, `${label} (own encoding)`);
  return own !== undefined;
}

const el = (vr: string, Value?: unknown[]): DicomElement => (Value === undefined ? { vr } : { vr, Value });
const item = (elements: Record<string, DicomElement>): DicomDataset => elements;

/** Elements the encoder must write itself, with dcmjs' bytes. */
const COVERED: [string, DicomElement][] = [
  // Single-byte text VRs: single, multi, empty, odd/even, null entries, padding (UI with NUL).
  ['00020016', el('AE', ['PETSPOOL'])],
  ['00020016', el('AE', ['ODD'])],
  ['00101010', el('AS', ['054Y'])],
  ['00080008', el('CS', ['DERIVED', 'PRIMARY'])],
  ['00080008', el('CS', ['ORIGINAL', 'PRIMARY', 'AXIAL'])],
  ['00080060', el('CS', ['PT'])],
  ['00080060', el('CS', [])],
  ['00080060', el('CS', [''])],
  ['00080060', el('CS', [null])],
  ['00080060', el('CS', ['A', null, 'B'])],
  ['00080060', el('CS', ['', ''])],
  ['00080020', el('DA', ['20240102'])],
  ['00080020', el('DA', ['20240102-20240131'])],
  ['0008002A', el('DT', ['20240102090000.123456+0100'])],
  ['00080030', el('TM', ['090000'])],
  ['00080030', el('TM', ['090000.12345'])],
  ['00080030', el('TM', ['090000-100000.123456'])],
  ['00200032', el('DS', ['-262.5', '-262.5', '-1.635'])],
  ['00281053', el('DS', ['1.22433548329875'])],
  ['00281053', el('DS', [1.5])],
  ['00281053', el('DS', [0.1, -0, 1e21, NaN, 1 / 4])],
  ['00281053', el('DS', [null])],
  ['00281053', el('DS', ['1.5', null, 2])],
  ['00281053', el('DS', [' 1.50 '])],
  ['00200013', el('IS', ['12'])],
  ['00200013', el('IS', [7])],
  ['00200013', el('IS', [1.5, -3, null, '42'])],
  ['00080018', el('UI', ['1.2.3'])],
  ['00080018', el('UI', ['1.2.34'])],
  ['00080018', el('UI', ['1.2.3', '4.5.6'])],
  ['00080018', el('UI', ['2.25.263683564121196996878457473889454052720'])],
  ['00080018', el('UI', [''])],
  ['00081190', el('UR', ['http://example.org/dicomweb/studies/1.2.3'])],
  ['00081190', el('UR', ['http://example.org/odd'])],
  // Characters outside ASCII in single-byte VRs: dcmjs writes each code unit's low byte.
  ['00080060', el('CS', ['é\u4e2d\u0100'])],
  ['00080070', el('CS', ['\ud83d\ude00'])],
  // UTF-8 text VRs.
  ['00080070', el('LO', ['petspool'])],
  ['00080070', el('LO', ['odd'])],
  ['00080070', el('LO', ['A', 'BC', ''])],
  ['00080070', el('LO', ['Müller-Lüdenscheidt'])],
  ['00080070', el('LO', ['中文 PET 😀'])],
  ['00080070', el('LO', ['lone \ud800 surrogate'])],
  ['00080070', el('LO', ['x'.repeat(64)])],
  ['00081010', el('SH', ['SYNTH'])],
  ['00081010', el('SH', ['é'])],
  ['00081010', el('SH', [])],
  ['00204000', el('LT', ['a long text\r\nwith two lines'])],
  ['00082111', el('ST', ['Processed remotely; Gaussian post-filter FWHM 4 mm'])],
  ['00082111', el('ST', ['é'.repeat(1024)])],
  ['00189005', el('UC', ['unlimited', 'characters'])],
  ['00189005', el('UC', ['x'.repeat(70000)])],
  ['00404030', el('UT', ['unlimited text, odd'])],
  ['00404030', el('UT', ['é'.repeat(40000)])],
  // PN: objects, strings, skipped empty entries, components.
  ['00100010', el('PN', [{ Alphabetic: 'PHANTOM^SYNTHETIC' }])],
  ['00100010', el('PN', [{ Alphabetic: 'Yamada^Tarou', Ideographic: '山田^太郎', Phonetic: 'やまだ^たろう' }])],
  ['00100010', el('PN', [{ Alphabetic: 'A', Phonetic: 'P' }])],
  ['00100010', el('PN', [{ Ideographic: '山田' }])],
  ['00100010', el('PN', [{ Alphabetic: '' }])],
  ['00100010', el('PN', [{}])],
  ['00100010', el('PN', [{ Alphabetic: 'ODD' }, { Alphabetic: 'TWO^NAMES' }])],
  ['00100010', el('PN', ['STRING^NAME'])],
  ['00100010', el('PN', [null, '', { Alphabetic: 'B' }])],
  ['00100010', el('PN', [])],
  ['00100010', el('PN', [{ Alphabetic: 'Müller^Jörg' }])],
  ['00100010', el('PN', [{ Alphabetic: 'A==' }])],
  // dcmjs keeps a PN read from a file as one string: written as it is.
  ['00100010', { vr: 'PN', Value: 'DOE^JOHN\\ROE^JANE=R' as unknown as unknown[] }],
  ['00100010', { vr: 'PN', Value: [{ Alphabetic: 'DOE^JOHN' }], _rawValue: 'DOE^JOHN ' } as DicomElement],
  // Binary numbers: several values, numbers as strings, null, out of range (DataView wraps).
  ['00280010', el('US', [256])],
  ['00280051', el('US', [1, 2, 3])],
  ['00280010', el('US', ['512'])],
  ['00280010', el('US', [null])],
  ['00280010', el('US', [70000, -1, 1.7])],
  ['00280010', el('US', ['0x10', ' ', '12abc'.slice(0, 2)])],
  ['00280010', el('US', [])],
  ['00280106', el('SS', [-32768, 32767, '-5'])],
  ['00540081', el('UL', [4294967295, 0, '123456'])],
  ['00189219', el('SL', [-2147483648, 2147483647])],
  ['00189219', el('FL', [1.5, -0.1, '2.25', null, Infinity, 'abc'])],
  ['00189219', el('FD', [Math.PI, -0, 1e300, '1e-5', null])],
  ['00209165', el('AT', [0x00100010, 0x7fe00010, 0xfffee000])],
  ['00209165', el('AT', [])],
  // Sequences: empty, empty items, several items, nested.
  ['00540016', el('SQ', [])],
  ['00540016', el('SQ')],
  ['00540016', el('SQ', [{}])],
  ['00540016', el('SQ', [{}, {}])],
  ['00081115', el('SQ', [item({
    '0020000E': el('UI', ['1.2.3.4']),
    '0008114A': el('SQ', [item({ '00081150': el('UI', ['1.2.840.10008.5.1.4.1.1.128']), '00081155': el('UI', ['9.8.7']) })]),
  })])],
  ['00082112', el('SQ', [
    item({
      '00081155': el('UI', ['9.8.7.6']),
      '00081150': el('UI', ['1.2.840.10008.5.1.4.1.1.128']),
      '0040A170': el('SQ', [item({ '00080100': el('SH', ['121322']), '00080102': el('SH', ['DCM']), '00080104': el('LO', ['Source image for image processing operation']) })]),
    }),
    item({ '00081155': el('UI', ['9.8.7.7']) }),
    item({}),
  ])],
  ['00540016', el('SQ', [item({ '00181074': el('DS', ['370000000']), '00180031': el('LO', ['Fluorodeoxyglucose']), '00541300': el('US', [1, 2]) })])],
];

/** Elements left to dcmjs (its own bytes, or its own error). */
const LEFT_TO_DCMJS: [string, DicomElement][] = [
  ['7FE00010', el('OW', [new ArrayBuffer(8)])],
  ['00020001', el('OB', [new Uint8Array([0, 1]).buffer])],
  ['00091001', el('UN', [new ArrayBuffer(3)])],
  ['00280010', el('US or SS', [1])],
  ['00280010', el('UV', [1])],
  ['00080060', el('CS')],
  ['00080060', el('CS', [5])],
  ['00080070', el('LO', [null])],
  ['00080070', el('LO', [42])],
  ['00080070', el('LO', ['x'.repeat(65)])],
  ['00081010', el('SH', ['seventeen chars!!'])],
  ['00080018', el('UI', ['1.'.repeat(40)])],
  ['00080020', el('DA', ['202401021'])],
  ['00281053', el('DS', [1 / 3])],
  ['00281053', el('DS', ['12345678901234567'])],
  ['00200013', el('IS', ['1234567890123'])],
  ['00100010', el('PN', [{ Alphabetic: 'x'.repeat(65) }])],
  ['00100010', el('PN', [{ Alphabetic: 5 }])],
  ['00100010', el('PN', [new String('STRING^OBJECT')])],
  ['00280010', el('US', [NaN])],
  ['00280010', el('US', ['abc'])],
  ['00280010', el('US', [true])],
  ['00080060', el('CS', ['x'.repeat(0x10000)])],
  ['00540016', el('SQ', [item({ '7FE00010': el('OB', [new ArrayBuffer(2)]) })])],
  ['00540016', el('SQ', [null])],
  ['00540016', { vr: 'SQ', Value: 'not an array' as unknown as unknown[] }],
];

test('covered elements: the encoder writes them itself, byte for byte as dcmjs does, in both little-endian syntaxes', () => {
  for (const syntax of SYNTAXES) {
    for (const [tag, element] of COVERED) {
      const label = `${tag} ${element.vr} ${JSON.stringify(element.Value)?.slice(0, 80)} ${syntax}`;
      assert.equal(assertSameAsDcmjs(tag, element, syntax, label), true, `${label} should be covered`);
    }
  }
});

test('everything else is left to dcmjs: same bytes, or the same error', () => {
  for (const syntax of SYNTAXES) {
    for (const [tag, element] of LEFT_TO_DCMJS) {
      const label = `${tag} ${element.vr} ${syntax}`;
      assert.equal(assertSameAsDcmjs(tag, element, syntax, label), false, `${label} should be left to dcmjs`);
    }
  }
  // dcmjs rejects an overlong UI: so does encodeElement.
  assert.throws(() => encodeElement('00080018', el('UI', ['1.'.repeat(40)]), TransferSyntax.ExplicitVRLittleEndian), /max length/);
});

test('big-endian elements go through dcmjs', () => {
  const element = el('US', [1, 2]);
  assert.deepEqual(
    encodeElement('00280010', element, TransferSyntax.ExplicitVRBigEndian),
    encodeElementWithDcmjs('00280010', element, TransferSyntax.ExplicitVRBigEndian),
  );
});

/** A small deterministic generator (LCG), so that a failure can be replayed. */
function generator(seed: number): { int(n: number): number; pick<T>(items: readonly T[]): T } {
  let state = seed;
  const int = (n: number): number => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return Math.floor((state / 2147483648) * n);
  };
  return { int, pick: (items) => items[int(items.length)]! };
}

const TEXT_VRS = ['AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'LO', 'LT', 'PN', 'SH', 'ST', 'TM', 'UC', 'UI', 'UR', 'UT'];
const BINARY_VRS = ['US', 'SS', 'UL', 'SL', 'FL', 'FD', 'AT'];
const CHARACTERS = ['A', 'z', '0', '9', ' ', '.', '-', '+', '^', '=', '\\', 'é', 'ß', '\u4e2d', '\ud83d\ude00', '\ud800', '\u0100'];

function randomElement(random: ReturnType<typeof generator>, depth: number): DicomElement {
  const vr = depth < 2 && random.int(8) === 0 ? 'SQ' : random.pick([...TEXT_VRS, ...BINARY_VRS]);
  if (vr === 'SQ') {
    const items = Array.from({ length: random.int(4) }, () => randomDataset(random, depth + 1, random.int(4)));
    return { vr, Value: items };
  }
  const randomText = (): string => {
    const length = random.pick([0, 1, 2, 3, 4, 7, 8, 12, 15, 16, 17, 64, 65]);
    return Array.from({ length }, () => (random.int(3) === 0 ? random.pick(CHARACTERS) : random.pick(['1', '2', '.', 'A']))).join('');
  };
  const randomEntry = (): unknown => {
    switch (random.int(9)) {
      case 0: return null;
      case 1: return random.int(100000) - 50000;
      case 2: return (random.int(2000000) - 1000000) / random.pick([1, 3, 7, 1000, 1e9]);
      case 3: return String(random.int(70000) - 1000);
      case 4: return vr === 'PN' ? { Alphabetic: randomText(), ...(random.int(2) ? { Ideographic: randomText() } : {}) } : randomText();
      case 5: return random.pick([NaN, Infinity, '', ' ', 'abc', '1e3', 0x7fe00010]);
      default: return randomText();
    }
  };
  if (random.int(30) === 0) return { vr };
  return { vr, Value: Array.from({ length: random.int(5) }, randomEntry) };
}

function randomDataset(random: ReturnType<typeof generator>, depth: number, size: number): DicomDataset {
  const dataset: DicomDataset = {};
  for (let i = 0; i < size; i++) {
    const tag = `00${random.pick(['08', '10', '18', '20', '28', '54'])}${random.int(0x10000).toString(16).padStart(4, '0')}`.toUpperCase();
    dataset[tag] = randomElement(random, depth);
  }
  return dataset;
}

test('random elements (all covered VRs, odd shapes, nested sequences) encode as dcmjs encodes them', () => {
  const random = generator(20241122);
  let own = 0;
  const cases = 4000;
  for (let i = 0; i < cases; i++) {
    const element = randomElement(random, 0);
    const syntax = random.pick(SYNTAXES);
    if (assertSameAsDcmjs('00189999', element, syntax, `case ${i}: ${JSON.stringify(element).slice(0, 300)}`)) own++;
  }
  // Most random elements are well-formed enough for the encoder to write them itself.
  assert.ok(own > cases / 3, `${own} of ${cases} written by the encoder`);
});

test('random whole files: Part10Encoder equals encodePart10', () => {
  const random = generator(7);
  for (let i = 0; i < 100; i++) {
    const dataset = randomDataset(random, 0, 20);
    dataset['00080016'] = el('UI', ['1.2.840.10008.5.1.4.1.1.128']);
    dataset['00080018'] = el('UI', [`1.2.3.${i}`]);
    for (const syntax of SYNTAXES) {
      const expected = outcome(() => encodePart10(dataset, syntax));
      assert.deepEqual(outcome(() => new Part10Encoder().encode(dataset, syntax)), expected, `file ${i} ${syntax}`);
    }
  }
});

test('elements read from files (with the _rawValue dcmjs keeps), unchanged and changed, encode as dcmjs encodes them', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'petspool-element-encoder-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const files = await synthesizePetSeries(dir, { slices: 2, size: 8 });
  const { dataset } = await readPart10File(files[1]!);
  // Values changed after reading: dcmjs then writes Value, not the text it read.
  const changed: DicomDataset = {
    '00200013': { ...dataset['00200013']!, Value: [99] },
    '00200032': { ...dataset['00200032']!, Value: [1, 2, 3.5] },
    '00080008': { ...dataset['00080008']!, Value: ['DERIVED', 'PRIMARY'] },
    '00100010': { ...dataset['00100010']!, Value: [{ Alphabetic: 'OTHER^NAME' }] },
  };
  for (const syntax of SYNTAXES) {
    for (const [tag, element] of [...Object.entries(dataset), ...Object.entries(changed)]) {
      const covered = assertSameAsDcmjs(tag, element, syntax, `${tag} ${element.vr} ${syntax}`);
      if (!['OB', 'OW'].includes(element.vr)) assert.equal(covered, true, `${tag} ${element.vr} should be covered`);
    }
  }
});
