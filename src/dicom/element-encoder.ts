/**
 * One data element of a little-endian data set (Explicit or Implicit VR), encoded here exactly as
 * dcmjs 0.51 writes it but without its per-element streams and VR objects (tens of µs an element,
 * the bulk of writing a derived series). Covered: the text VRs, the binary numbers (US SS UL SL FL
 * FD AT) and sequences whose items hold only such elements. Everything else — OB/OW/UN/OD/OF values,
 * values dcmjs would reject (too long) or log about, and shapes dcmjs handles oddly (no Value array,
 * numbers where text is expected, NaN integers...) — is not covered: the function returns undefined
 * and the caller asks dcmjs, so behaviour never differs from dcmjs'.
 *
 * The dcmjs details reproduced: values joined with '\', odd lengths padded (UI and binary with NUL,
 * text with space); AE..UR written one byte per UTF-16 code unit (its low byte), LO..UT and PN as
 * UTF-8; DS/IS numbers spelled with String() (DS longer than 16 characters is left to dcmjs); null
 * writes nothing in text VRs and 0 in binary ones; integers given as strings go through parseInt,
 * floats through parseFloat; PN entries { Alphabetic, Ideographic, Phonetic } joined with '=' (trailing
 * '=' dropped) and empty entries skipped; sequences and items always of undefined length, closed by
 * delimitation items; a short-form value of 64 KiB or more (which dcmjs rewrites as UN) is not covered.
 */
import type { DicomDataset, DicomElement } from './dataset.js';
import { LONG_FORM_VRS, writeExplicitHeader } from './explicit-element.js';

/** The values dcmjs writes for an element: its Value, or the text it was read from when unchanged. */
export type WriteValues = (element: DicomElement) => unknown;

const BACKSLASH = 0x5c;
const SPACE = 0x20;
const NUL = 0x00;
const UNDEFINED_LENGTH = 0xffffffff;
const SHORT_FORM_MAX_LENGTH = 0xffff;

/** Text VRs written one byte per code unit, with dcmjs' limit on each value's byte count (it throws above). */
const SINGLE_BYTE_TEXT_LIMITS: Readonly<Record<string, number | undefined>> = {
  AE: 16, AS: 4, CS: 16, DS: 16, IS: 12, UI: 64, UR: undefined,
};
/** Date/time VRs: dcmjs limits the characters of each value, more for range queries (with '-'). */
const DATE_TIME_LIMITS: Readonly<Record<string, readonly [single: number, range: number] | undefined>> = {
  DA: [8, 18], DT: [26, 54], TM: [16, 28],
};
/** Text VRs written as UTF-8, with dcmjs' limit on each value's characters (it logs above). */
const UTF8_TEXT_LIMITS: Readonly<Record<string, number | undefined>> = {
  LO: 64, LT: 10240, SH: 16, ST: 1024, UC: undefined, UT: undefined,
};
const PN_COMPONENT_MAX_LENGTH = 64;
const DS_MAX_LENGTH = 16;

type NumberSetter = (view: DataView, offset: number, value: number) => void;
interface BinaryVr {
  size: number;
  /** The number dcmjs hands to DataView, or undefined where dcmjs would throw or behave oddly. */
  toNumber: (value: unknown) => number | undefined;
  set: NumberSetter;
}

/** dcmjs' toInt: numeric strings through parseInt, null as is (DataView makes it 0), NaN throws. */
function integerOf(value: unknown): number | undefined {
  if (value === null) return 0;
  if (typeof value === 'number') return Number.isNaN(value) ? undefined : value;
  if (typeof value === 'string') return Number.isNaN(Number(value)) ? undefined : parseInt(value);
  return undefined;
}

/** dcmjs' toFloat: strings through parseFloat, anything else as is. */
function floatOf(value: unknown): number | undefined {
  if (value === null) return 0;
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return parseFloat(value);
  return undefined;
}

const BINARY_VRS: Readonly<Record<string, BinaryVr | undefined>> = {
  US: { size: 2, toNumber: integerOf, set: (view, offset, value) => view.setUint16(offset, value, true) },
  SS: { size: 2, toNumber: integerOf, set: (view, offset, value) => view.setInt16(offset, value, true) },
  UL: { size: 4, toNumber: integerOf, set: (view, offset, value) => view.setUint32(offset, value, true) },
  SL: { size: 4, toNumber: integerOf, set: (view, offset, value) => view.setInt32(offset, value, true) },
  FL: { size: 4, toNumber: floatOf, set: (view, offset, value) => view.setFloat32(offset, value, true) },
  FD: { size: 8, toNumber: floatOf, set: (view, offset, value) => view.setFloat64(offset, value, true) },
  // A tag as one number: group in the high 16 bits, written first.
  AT: {
    size: 4,
    toNumber: (value) => (typeof value === 'number' && !Number.isNaN(value) ? value : undefined),
    set: (view, offset, value) => {
      view.setUint16(offset, value >> 16, true);
      view.setUint16(offset + 2, value & 0xffff, true);
    },
  },
};

/** A growable output buffer, reused from one element to the next (encoding is synchronous). */
class ByteWriter {
  bytes = Buffer.allocUnsafeSlow(4096);
  view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  offset = 0;

  reserve(count: number): void {
    if (this.offset + count <= this.bytes.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.bytes.length * 2, this.offset + count));
    this.bytes.copy(grown, 0, 0, this.offset);
    this.bytes = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }

  byte(value: number): void {
    this.reserve(1);
    this.bytes[this.offset++] = value;
  }

  uint16(value: number): void {
    this.reserve(2);
    this.bytes.writeUInt16LE(value, this.offset);
    this.offset += 2;
  }

  uint32(value: number): void {
    this.reserve(4);
    this.bytes.writeUInt32LE(value, this.offset);
    this.offset += 4;
  }

  text(value: string, encoding: 'latin1' | 'utf8'): void {
    this.reserve(encoding === 'latin1' ? value.length : value.length * 3);
    this.offset += this.bytes.write(value, this.offset, encoding);
  }
}

const writer = new ByteWriter();

/**
 * The bytes dcmjs writes for one element (tag as 8 hex digits) in Explicit (explicit = true) or
 * Implicit VR Little Endian, or undefined when the element is not covered (see the module comment).
 */
export function encodeLittleEndianElement(
  tag: string,
  element: DicomElement,
  explicit: boolean,
  writeValues: WriteValues,
): Buffer | undefined {
  writer.offset = 0;
  if (!writeElement(tag, element, explicit, writeValues)) return undefined;
  return Buffer.from(writer.bytes.subarray(0, writer.offset));
}

const HEX_TAG = /^[0-9A-Fa-f]{8}$/;

function writeElement(tag: string, element: unknown, explicit: boolean, writeValues: WriteValues): boolean {
  if (!HEX_TAG.test(tag) || typeof element !== 'object' || element === null) return false;
  const vr = (element as DicomElement).vr;
  if (typeof vr !== 'string') return false;
  const group = parseInt(tag.slice(0, 4), 16);
  const number = parseInt(tag.slice(4), 16);
  const values = writeValues(element as DicomElement);
  if (vr === 'SQ') return writeSequence(group, number, values, explicit, writeValues);

  const longForm = LONG_FORM_VRS.has(vr);
  const headerStart = writer.offset;
  const headerSize = explicit && longForm ? 12 : 8;
  writer.reserve(headerSize);
  writer.offset += headerSize;
  const valueStart = writer.offset;
  if (!writeValue(vr, values)) return false;
  const length = writer.offset - valueStart;
  if (explicit) {
    if (!longForm && length > SHORT_FORM_MAX_LENGTH) return false;
    writeExplicitHeader(writer.bytes, headerStart, group, number, vr, length, longForm);
  } else {
    writer.bytes.writeUInt16LE(group, headerStart);
    writer.bytes.writeUInt16LE(number, headerStart + 2);
    writer.bytes.writeUInt32LE(length, headerStart + 4);
  }
  return true;
}

/** An undefined-length sequence of undefined-length items, as dcmjs always writes it. */
function writeSequence(group: number, number: number, items: unknown, explicit: boolean, writeValues: WriteValues): boolean {
  if (items && !Array.isArray(items)) return false;
  writer.uint16(group);
  writer.uint16(number);
  if (explicit) {
    writer.text('SQ', 'latin1');
    writer.uint16(0);
  }
  writer.uint32(UNDEFINED_LENGTH);
  for (const item of (items ?? []) as unknown[]) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return false;
    writeItemTag(0xe000, UNDEFINED_LENGTH);
    const dataset = item as DicomDataset;
    for (const tag of Object.keys(dataset).sort()) {
      if (!writeElement(tag, dataset[tag], explicit, writeValues)) return false;
    }
    writeItemTag(0xe00d, 0);
  }
  writeItemTag(0xe0dd, 0);
  return true;
}

/** Item, item delimitation and sequence delimitation tags (FFFE,xxxx) with their 4-byte length. */
function writeItemTag(number: number, length: number): void {
  writer.uint16(0xfffe);
  writer.uint16(number);
  writer.uint32(length);
}

function writeValue(vr: string, values: unknown): boolean {
  // dcmjs keeps the text of a PN read from a file as one string (its _rawValue).
  if (vr === 'PN' && typeof values === 'string') return writePersonNames(values);
  if (!Array.isArray(values)) return false;
  const binary = BINARY_VRS[vr];
  if (binary) return writeNumbers(binary, values);
  if (vr === 'PN') {
    const text = personNameText(values);
    return text !== undefined && writePersonNames(text);
  }
  if (vr in UTF8_TEXT_LIMITS) return writeUtf8Texts(values, UTF8_TEXT_LIMITS[vr]);
  if (vr in SINGLE_BYTE_TEXT_LIMITS || vr in DATE_TIME_LIMITS) return writeSingleByteTexts(vr, values);
  return false;
}

function writeNumbers(binary: BinaryVr, values: readonly unknown[]): boolean {
  writer.reserve(binary.size * values.length);
  for (let i = 0; i < values.length; i++) {
    const value = binary.toNumber(values[i]);
    if (value === undefined) return false;
    binary.set(writer.view, writer.offset, value);
    writer.offset += binary.size;
  }
  return true;
}

/** The text dcmjs writes for one value of a single-byte text VR, or undefined if not covered. */
function singleByteText(vr: string, value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value === null) return '';
  if (typeof value !== 'number') return undefined;
  if (vr === 'IS') return String(value);
  if (vr === 'DS') {
    const text = String(value);
    // dcmjs shortens longer spellings itself; leave those to it.
    return text.length <= DS_MAX_LENGTH ? text : undefined;
  }
  return undefined;
}

function writeSingleByteTexts(vr: string, values: readonly unknown[]): boolean {
  const maxBytes = SINGLE_BYTE_TEXT_LIMITS[vr];
  const dateTimeLimits = DATE_TIME_LIMITS[vr];
  const start = writer.offset;
  for (let i = 0; i < values.length; i++) {
    const text = singleByteText(vr, values[i]);
    if (text === undefined) return false;
    if (maxBytes !== undefined && text.length > maxBytes) return false;
    if (dateTimeLimits && text.length > dateTimeLimits[text.includes('-') ? 1 : 0]) return false;
    if (i > 0) writer.byte(BACKSLASH);
    writer.text(text, 'latin1');
  }
  padToEven(start, vr === 'UI' ? NUL : SPACE);
  return true;
}

function writeUtf8Texts(values: readonly unknown[], maxChars: number | undefined): boolean {
  const start = writer.offset;
  for (let i = 0; i < values.length; i++) {
    const text = values[i];
    if (typeof text !== 'string' || (maxChars !== undefined && text.length > maxChars)) return false;
    if (i > 0) writer.byte(BACKSLASH);
    writer.text(text, 'utf8');
  }
  padToEven(start, SPACE);
  return true;
}

const PN_COMPONENTS = ['Alphabetic', 'Ideographic', 'Phonetic'] as const;

/** dcmjs' PN text: empty entries skipped, components joined with '=', trailing '=' dropped, names joined with '\'. */
function personNameText(values: readonly unknown[]): string | undefined {
  const names: string[] = [];
  for (const value of values) {
    if (value === null || value === undefined || value === '') continue;
    if (typeof value === 'string') {
      names.push(value);
      continue;
    }
    // String objects and arrays are written by dcmjs in ways not worth copying.
    if (typeof value !== 'object' || Array.isArray(value) || value instanceof String) return undefined;
    const components: string[] = [];
    for (const key of PN_COMPONENTS) {
      const component = (value as Record<string, unknown>)[key];
      if (component !== undefined && component !== null && typeof component !== 'string') return undefined;
      components.push(component ?? '');
    }
    names.push(components.join('=').replace(/=*$/, ''));
  }
  return names.join('\\');
}

function writePersonNames(text: string): boolean {
  // dcmjs throws for a component longer than 64 characters.
  for (const name of text.split('\\')) {
    for (const component of name.split('=')) if (component.length > PN_COMPONENT_MAX_LENGTH) return false;
  }
  const start = writer.offset;
  writer.text(text, 'utf8');
  padToEven(start, SPACE);
  return true;
}

function padToEven(valueStart: number, padByte: number): void {
  if ((writer.offset - valueStart) % 2 === 1) writer.byte(padByte);
}
