/**
 * Fast Part-10 encoding for many files that share most of their elements, such as the slices of
 * one derived series: each top-level element's bytes are kept with the element they came from and
 * reused by a later file whose element is equal, so only what differs from file to file is encoded
 * (encodeElement: element-encoder.ts for the common VRs, dcmjs for the rest). PixelData (OB/OW,
 * native) is framed directly. A caller that never changes an element in place once handed in
 * (it shares unchanged elements between files and makes new objects for what changes) can say so:
 * the same object handed in again is then reused without comparing, and elements are kept for
 * comparing without a copy.
 * The output is byte for byte what encodePart10 writes (see encodeElement for why).
 */
import { TransferSyntax, copyPlainValue, encodeElement, encodePart10, fileMetaFor } from './write-part10.js';
import type { DicomDataset, DicomElement } from './dataset.js';

const PIXEL_DATA = '7FE00010';
const PREAMBLE_AND_MAGIC = Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1')]);

interface CachedElement {
  /** The element as handed in. */
  given: DicomElement;
  /** A copy of it, to compare an equal element given as another object with. */
  element: DicomElement;
  bytes: Buffer;
}

export interface Part10EncoderOptions {
  /** The caller never changes an element in place after handing it in (default false). */
  elementsNeverChange?: boolean;
}

export class Part10Encoder {
  /** One entry per tag: the last element encoded for it (file meta and data set alike). */
  private readonly cache = new Map<string, CachedElement>();

  constructor(private readonly options: Part10EncoderOptions = {}) {}

  encode(dataset: DicomDataset, transferSyntaxUid: string = TransferSyntax.ExplicitVRLittleEndian): Buffer {
    return Buffer.concat(this.encodeParts(dataset, transferSyntaxUid));
  }

  /**
   * The file as consecutive pieces, to write with one writev: the pixel data is not copied (it
   * may be a view on a larger, even shared, buffer), nor are the cached elements. With `where`,
   * each data set element's first piece's index is put there by tag (a native PixelData is two
   * pieces: its header, then its value), so that a caller can swap pieces for others later (a
   * data set element of another length too: no group length counts the data set's bytes).
   */
  encodeParts(dataset: DicomDataset, transferSyntaxUid: string = TransferSyntax.ExplicitVRLittleEndian, where?: Map<string, number>): Buffer[] {
    const littleEndian = transferSyntaxUid === TransferSyntax.ExplicitVRLittleEndian
      || transferSyntaxUid === TransferSyntax.ImplicitVRLittleEndian;
    if (!littleEndian) {
      if (where) throw new Error('piece positions are only known for little-endian files');
      return [encodePart10(dataset, transferSyntaxUid)];
    }

    // The file meta group is always Explicit VR Little Endian.
    const meta = this.encodeElements(fileMetaFor(dataset, transferSyntaxUid), TransferSyntax.ExplicitVRLittleEndian);
    const head = [PREAMBLE_AND_MAGIC, groupLengthElement(byteLength(meta)), ...meta];
    return [...head, ...this.encodeElements(dataset, transferSyntaxUid, where, head.length)];
  }

  private encodeElements(dataset: DicomDataset, transferSyntaxUid: string, where?: Map<string, number>, offset = 0): Buffer[] {
    const parts: Buffer[] = [];
    for (const tag of Object.keys(dataset).sort()) {
      const element = dataset[tag]!;
      where?.set(tag, offset + parts.length);
      const pixels = tag === PIXEL_DATA ? nativePixelDataElement(element, transferSyntaxUid) : undefined;
      if (pixels) {
        parts.push(...pixels);
        continue;
      }
      const cached = this.cache.get(tag);
      if (cached && ((this.options.elementsNeverChange && cached.given === element) || sameElement(cached.element, element))) {
        parts.push(cached.bytes);
        continue;
      }
      const bytes = encodeElement(tag, element, transferSyntaxUid);
      // An element that is never changed in place is its own copy.
      const kept = this.options.elementsNeverChange ? element : copyPlainValue(element) as DicomElement;
      this.cache.set(tag, { given: element, element: kept, bytes });
      parts.push(bytes);
    }
    return parts;
  }
}

function byteLength(parts: Buffer[]): number {
  return parts.reduce((sum, part) => sum + part.length, 0);
}

/** (0002,0000) UL: the length of the rest of the file meta group. */
function groupLengthElement(length: number): Buffer {
  const bytes = Buffer.alloc(12);
  bytes.writeUInt16LE(0x0002, 0);
  bytes.write('UL', 4, 'latin1');
  bytes.writeUInt16LE(4, 6);
  bytes.writeUInt32LE(length, 8);
  return bytes;
}

/**
 * Header and value of a native (not encapsulated) OB/OW PixelData holding one even-length
 * ArrayBuffer or typed-array view (little-endian bytes), without copying the value; undefined
 * for anything else (left to dcmjs).
 */
function nativePixelDataElement(element: DicomElement, transferSyntaxUid: string): Buffer[] | undefined {
  const value = element.Value;
  if ((element.vr !== 'OW' && element.vr !== 'OB') || value?.length !== 1) return undefined;
  const data = value[0];
  if (!(data instanceof ArrayBuffer || ArrayBuffer.isView(data)) || data.byteLength % 2 !== 0) return undefined;
  const explicit = transferSyntaxUid === TransferSyntax.ExplicitVRLittleEndian;
  const header = Buffer.alloc(explicit ? 12 : 8);
  header.writeUInt16LE(0x7fe0, 0);
  header.writeUInt16LE(0x0010, 2);
  if (explicit) {
    header.write(element.vr, 4, 'latin1');
    header.writeUInt32LE(data.byteLength, 8);
  } else {
    header.writeUInt32LE(data.byteLength, 4);
  }
  return [header, data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength)];
}

/** Deep equality of two elements as dcmjs would write them (Value and the raw text it may keep). */
export function sameElement(a: DicomElement, b: DicomElement): boolean {
  if (a.vr !== b.vr) return false;
  return sameValue(a.Value, b.Value) && sameValue((a as { _rawValue?: unknown })._rawValue, (b as { _rawValue?: unknown })._rawValue);
}

/** Typed-array views are never equal (copyPlainValue does not copy them), so never reused. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof ArrayBuffer || b instanceof ArrayBuffer) {
    if (!(a instanceof ArrayBuffer && b instanceof ArrayBuffer) || a.byteLength !== b.byteLength) return false;
    return Buffer.from(a).equals(Buffer.from(b));
  }
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const aKeys = Object.keys(a);
  const bKeys = Object.keys(b);
  if (aKeys.length !== bKeys.length) return false;
  for (const key of aKeys) {
    if (!Object.prototype.hasOwnProperty.call(b, key)) return false;
    if (!sameValue((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false;
  }
  return true;
}
