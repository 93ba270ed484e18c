/**
 * A walk over the element structure of a Part-10 file before dcmjs parses it. dcmjs is lenient:
 * an element whose length runs past the end of the file or an undefined length on a text element
 * make it stop quietly (the header then just looks incomplete), an unknown VR is read as UN, and
 * its sequence reader recurses once per nesting level. This walk only reads tags, VRs and
 * lengths (no values), and names the first structural defect, so a bad file is refused with what
 * is actually wrong and dcmjs only ever sees well-formed structure.
 */

const UNDEFINED_LENGTH = 0xffffffff;
/** PET headers nest three levels at most; real-world SR trees stay well under this. */
export const MAX_SEQUENCE_DEPTH = 32;
const DEFLATED = '1.2.840.10008.1.2.1.99';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const PIXEL_DATA = 0x7fe00010;
const ITEM = 0xfffee000;
const ITEM_END = 0xfffee00d;
const SEQUENCE_END = 0xfffee0dd;

const SHORT_VRS = new Set(['AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FL', 'FD', 'IS', 'LO', 'LT', 'PN', 'SH', 'SL', 'SS', 'ST', 'TM', 'UI', 'UL', 'US']);
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

interface Syntax { explicit: boolean; bigEndian: boolean }

class Defect extends Error {}

/** Walks one dataset region; throws Defect at the first structural problem. */
class Walker {
  /** Offset of the top-level PixelData tag, once reached. */
  pixelDataAt: number | undefined;

  constructor(private readonly bytes: Buffer, private readonly syntax: Syntax) {}

  private u16(at: number): number {
    return this.syntax.bigEndian ? this.bytes.readUInt16BE(at) : this.bytes.readUInt16LE(at);
  }

  private u32(at: number): number {
    return this.syntax.bigEndian ? this.bytes.readUInt32BE(at) : this.bytes.readUInt32LE(at);
  }

  tagAt(at: number): number {
    return ((this.u16(at) << 16) | this.u16(at + 2)) >>> 0;
  }

  /**
   * Elements from `at` to `end`, or up to an item delimiter when `stopAtItemEnd` (undefined-length item).
   * Returns the offset after the last element; stops at top-level PixelData (checked elsewhere).
   */
  elements(at: number, end: number, depth: number, stopAtItemEnd: boolean): number {
    while (at < end) {
      if (at + 4 > end) throw new Defect(`truncated: the file ends inside an element tag at byte ${at}`);
      const tag = this.tagAt(at);
      if (depth === 0 && tag === PIXEL_DATA) {
        this.pixelDataAt = at;
        return end;
      }
      if (tag === ITEM_END && stopAtItemEnd) return at + 8;
      if (tag >>> 16 === 0xfffe) throw new Defect(`stray item tag ${name(tag)} at byte ${at}`);
      at = this.element(at, end, depth, tag);
    }
    if (stopAtItemEnd) throw new Defect('truncated: a sequence item has no end (item delimiter missing)');
    return at;
  }

  /** One element starting at `at` (its tag already read); returns the offset after it. */
  element(at: number, end: number, depth: number, tag: number): number {
    let vr: string | undefined;
    let length: number;
    let valueStart: number;
    if (this.syntax.explicit) {
      if (at + 8 > end) throw new Defect(`truncated: the file ends inside the header of ${name(tag)}`);
      vr = this.bytes.toString('latin1', at + 4, at + 6);
      if (LONG_VRS.has(vr)) {
        if (at + 12 > end) throw new Defect(`truncated: the file ends inside the header of ${name(tag)}`);
        length = this.u32(at + 8);
        valueStart = at + 12;
      } else if (SHORT_VRS.has(vr)) {
        length = this.u16(at + 6);
        valueStart = at + 8;
      } else {
        throw new Defect(`${name(tag)} has an unknown VR "${printable(vr)}"`);
      }
    } else {
      if (at + 8 > end) throw new Defect(`truncated: the file ends inside the header of ${name(tag)}`);
      length = this.u32(at + 4);
      valueStart = at + 8;
    }
    if (length === UNDEFINED_LENGTH) {
      // Explicit VR allows it on sequences (and UN holding one); Implicit VR marks sequences with it.
      if (vr !== undefined && vr !== 'SQ' && vr !== 'UN') {
        throw new Defect(`${name(tag)} ${vr} has an undefined length, allowed only for sequences`);
      }
      // An undefined-length UN is Implicit VR Little Endian inside (Part 5, 6.2.2).
      const inner = vr === 'UN' ? new Walker(this.bytes, { explicit: false, bigEndian: false }) : this;
      return inner.sequence(valueStart, end, depth + 1, tag, undefined);
    }
    if (valueStart + length > end) {
      throw new Defect(`truncated: ${name(tag)} claims ${length} bytes but the file ends ${end - valueStart} bytes into it`);
    }
    if (vr === 'SQ') this.sequence(valueStart, end, depth + 1, tag, valueStart + length);
    return valueStart + length;
  }

  /** Items of a sequence; `limit` is its end for a defined length, undefined for a delimited one. */
  private sequence(at: number, end: number, depth: number, tag: number, limit: number | undefined): number {
    if (depth > MAX_SEQUENCE_DEPTH) throw new Defect(`sequences nested deeper than ${MAX_SEQUENCE_DEPTH} levels (at ${name(tag)})`);
    const stop = limit ?? end;
    while (at < stop) {
      if (at + 8 > stop) throw new Defect(`truncated: the file ends inside an item of ${name(tag)}`);
      const itemTag = this.tagAt(at);
      const length = this.u32(at + 4);
      if (itemTag === SEQUENCE_END && limit === undefined) return at + 8;
      if (itemTag !== ITEM) throw new Defect(`${name(tag)} holds ${name(itemTag)} where an item belongs`);
      if (length === UNDEFINED_LENGTH) {
        at = this.elements(at + 8, stop, depth, true);
      } else {
        if (at + 8 + length > stop) {
          throw new Defect(`truncated: an item of ${name(tag)} claims ${length} bytes but only ${stop - at - 8} remain`);
        }
        this.elements(at + 8, at + 8 + length, depth, false);
        at += 8 + length;
      }
    }
    if (limit === undefined) throw new Defect(`truncated: ${name(tag)} has no end (sequence delimiter missing)`);
    return at;
  }
}

export interface FileStructure {
  /** The first structural defect, in words an operator can act on. */
  problem?: string;
  /** Byte offset of the top-level PixelData element's tag, when the walk reached it. */
  pixelDataAt?: number;
}

/**
 * Walks a Part-10 file (preamble and DICM prefix already checked) up to its top-level PixelData
 * element, which is left to the pixel data check. A deflated dataset is not walked (dcmjs
 * inflates it itself).
 */
export function walkStructure(file: Buffer): FileStructure {
  let walker: Walker | undefined;
  try {
    const metaEnd = metaGroupEnd(file);
    const transferSyntaxUid = metaTransferSyntax(file, metaEnd);
    if (transferSyntaxUid === undefined || transferSyntaxUid === DEFLATED) return {};
    walker = new Walker(file, { explicit: transferSyntaxUid !== IMPLICIT_LE, bigEndian: transferSyntaxUid === EXPLICIT_BE });
    walker.elements(metaEnd, file.length, 0, false);
    return { pixelDataAt: walker.pixelDataAt };
  } catch (err) {
    if (err instanceof Defect) return { problem: err.message };
    throw err;
  }
}

/** A walk's problem as an operator reads it: "truncated: ..." or "malformed DICOM file: ...". */
export function defectMessage(problem: string): string {
  return problem.startsWith('truncated') ? problem : `malformed DICOM file: ${problem}`;
}

/** The file meta group (0002) is Explicit VR Little Endian whatever the dataset's syntax is. */
function metaGroupEnd(file: Buffer): number {
  const walker = new Walker(file, { explicit: true, bigEndian: false });
  let at = 132;
  while (at + 4 <= file.length && file.readUInt16LE(at) === 0x0002) at = walker.element(at, file.length, 0, walker.tagAt(at));
  return at;
}

function metaTransferSyntax(file: Buffer, metaEnd: number): string | undefined {
  let at = 132;
  while (at + 8 <= metaEnd) {
    const vr = file.toString('latin1', at + 4, at + 6);
    const long = LONG_VRS.has(vr);
    const length = long ? file.readUInt32LE(at + 8) : file.readUInt16LE(at + 6);
    const valueStart = at + (long ? 12 : 8);
    if (file.readUInt16LE(at + 2) === 0x0010) return file.toString('latin1', valueStart, valueStart + length).replace(/[\0 ]+$/, '');
    at = valueStart + length;
  }
  return undefined;
}

function name(tag: number): string {
  const hex = tag.toString(16).toUpperCase().padStart(8, '0');
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}
