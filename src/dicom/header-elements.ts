import { createRequire } from 'node:module';
import { walkStructure, type ElementVisitor, type FileStructure } from './structure-check.js';

/**
 * Picks the values petspool reads out of a Part-10 header during the structure walk, in the shape
 * dcmjs's DicomMessage.readFile gives them ({ vr, Value[] } per tag, same value semantics), so
 * read-header.ts maps either source the same way. Cases where dcmjs would read something other
 * than the plain bytes (non-ASCII text, character sets, VRs other than the dictionary's, UN
 * holding a known tag, binary lengths that make dcmjs lose its place, deflate, a meta group length
 * that disagrees with the walk) are reported as `needsDcmjs` so the caller parses with dcmjs.
 */

export interface HeaderElement { vr: string; Value?: unknown[] }
export type HeaderDict = Record<string, HeaderElement>;

export interface HeaderElements {
  structure: FileStructure;
  /** Undefined when this file needs dcmjs (see above). */
  elements?: { meta: HeaderDict; dict: HeaderDict };
}

interface DictionaryModule { data: { DicomMetaDictionary: { dictionary: Record<string, { vr: string } | undefined> } } }
const dictionary = (createRequire(import.meta.url)('dcmjs') as DictionaryModule).data.DicomMetaDictionary.dictionary;

const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const DEFLATED = '1.2.840.10008.1.2.1.99';
const PIXEL_DATA = 0x7fe00010;
const SPECIFIC_CHARACTER_SET = 0x00080005;
/** Character sets dcmjs accepts; text outside ASCII is left to dcmjs anyway. */
const PLAIN_CHARACTER_SETS = new Set(['', 'iso-ir-6', 'iso-ir-100', 'iso-ir-192']);
/** Binary VRs dcmjs reads in fixed-size steps; another length makes it read past the element. */
const STEP_SIZES: Record<string, number> = { AT: 4, FL: 4, FD: 8, SL: 4, SS: 2, SV: 8, UL: 4, US: 2, UV: 8 };

/** The tags read-header.ts reads, with their dictionary VR, per nesting level. */
const TOP_LEVEL: Record<string, string> = {
  '00020010': 'UI', '00080016': 'UI', '00080018': 'UI', '0020000D': 'UI', '0020000E': 'UI', '00080060': 'CS',
  '00200052': 'UI', '00100010': 'PN', '00100020': 'LO', '00100030': 'DA', '00100040': 'CS', '00101010': 'AS',
  '00101030': 'DS', '00101020': 'DS', '00080020': 'DA', '00080030': 'TM', '00081030': 'LO', '00080050': 'SH',
  '00080021': 'DA', '00080031': 'TM', '00080022': 'DA', '00080032': 'TM', '00200011': 'IS', '0008103E': 'LO',
  '00200013': 'IS', '00080070': 'LO', '00081090': 'LO', '00541103': 'LO', '00181210': 'SH', '00280010': 'US',
  '00280011': 'US', '00280100': 'US', '00280101': 'US', '00280103': 'US', '00280002': 'US', '00280004': 'CS',
  '00280008': 'IS', '00280030': 'DS', '00180050': 'DS', '00180088': 'DS', '00200032': 'DS', '00200037': 'DS',
  '00281053': 'DS', '00281052': 'DS', '00540081': 'US', '00541001': 'CS', '00541102': 'CS', '00280051': 'CS',
  '00540016': 'SQ',
};
const RADIOPHARMACEUTICAL_ITEM: Record<string, string> = {
  '00180031': 'LO', '00540304': 'SQ', '00540300': 'SQ', '00181074': 'DS', '00181072': 'TM', '00181078': 'DT',
  '00181075': 'DS', '00181076': 'DS',
};
const CODE_ITEM: Record<string, string> = { '00080100': 'SH', '00080102': 'SH', '00080104': 'LO' };
/** Which tags are kept inside the items of a kept sequence. */
const ITEM_TAGS: Record<string, Record<string, string>> = {
  '00540016': RADIOPHARMACEUTICAL_ITEM, '00540304': CODE_ITEM, '00540300': CODE_ITEM,
};

/** A kept element before decoding: where its value is, or the items of a kept sequence. */
type Raw = { vr: string | undefined; start: number; length: number } | { items: RawDict[] };
type RawDict = Map<string, Raw>;

interface Level { dict: RawDict | undefined; wanted: Record<string, string> | undefined; items?: RawDict[] }

class Collector implements ElementVisitor {
  needsDcmjs = false;
  readonly top: RawDict = new Map();
  /** Top-level entries and where they start, to tell meta (before metaEnd) from dataset. */
  readonly starts = new Map<string, number>();
  private readonly levels: Level[] = [{ dict: this.top, wanted: TOP_LEVEL }];
  private readonly charsets: { vr: string | undefined; start: number; length: number }[] = [];

  private get level(): Level {
    return this.levels[this.levels.length - 1];
  }

  value(tag: number, vr: string | undefined, start: number, length: number, depth: number): void {
    if (tag === PIXEL_DATA && depth > 0) this.needsDcmjs = true;
    if (tag === SPECIFIC_CHARACTER_SET) this.charsets.push({ vr, start, length });
    const effectiveVr = vr ?? dictionaryVr(tag);
    if (vr === 'UN' && dictionaryVr(tag) !== undefined) this.needsDcmjs = true;
    if (vr === undefined && effectiveVr !== undefined && !/^[A-Z]{2}$/.test(effectiveVr)) this.needsDcmjs = true;
    const step = effectiveVr === undefined ? undefined : STEP_SIZES[effectiveVr];
    if (step !== undefined && length % step !== 0) this.needsDcmjs = true;
    const { dict, wanted } = this.level;
    const key = hex(tag);
    if (!dict || !wanted || !(key in wanted)) return;
    dict.set(key, { vr, start, length });
    if (dict === this.top) this.starts.set(key, start);
  }

  sequenceStart(tag: number, vr: string | undefined, undefinedLength: boolean): void {
    if (vr === 'UN') this.needsDcmjs = true;
    if (vr === undefined && undefinedLength) {
      const known = dictionaryVr(tag);
      if (known !== undefined && known !== 'SQ') this.needsDcmjs = true;
    }
    const { dict, wanted } = this.level;
    const key = hex(tag);
    if (dict && wanted && wanted[key] === 'SQ') {
      const items: RawDict[] = [];
      dict.set(key, { items });
      this.levels.push({ dict: undefined, wanted: ITEM_TAGS[key], items });
    } else {
      if (dict && wanted && key in wanted) this.needsDcmjs = true; // a sequence where a value belongs
      this.levels.push({ dict: undefined, wanted: undefined });
    }
  }

  sequenceEnd(): void {
    this.levels.pop();
  }

  itemStart(): void {
    const { items, wanted } = this.level;
    const dict: RawDict | undefined = items ? new Map() : undefined;
    if (dict) items?.push(dict);
    this.levels.push({ dict, wanted });
  }

  itemEnd(): void {
    this.levels.pop();
  }

  isSequence(tag: number): boolean {
    return dictionaryVr(tag) === 'SQ';
  }

  /** dcmjs refuses character sets it does not know and more than one; leave those to it. */
  plainCharacterSets(bytes: Buffer): boolean {
    return this.charsets.every(({ vr, start, length }) => {
      if (vr !== undefined && vr !== 'CS') return false;
      const values = bytes.toString('latin1', start, start + length).split('\\').map((v) => v.trim());
      return values.length === 1 && PLAIN_CHARACTER_SETS.has(values[0].replace(/[_ ]/g, '-').toLowerCase());
    });
  }
}

export function readHeaderElements(bytes: Buffer): HeaderElements {
  const collector = new Collector();
  const structure = walkStructure(bytes, collector);
  const { metaEnd, transferSyntaxUid } = structure;
  if (structure.problem || collector.needsDcmjs || metaEnd === undefined || !transferSyntaxUid) return { structure };
  if (transferSyntaxUid === DEFLATED || !/^[0-9.]+$/.test(transferSyntaxUid) || !collector.plainCharacterSets(bytes)) return { structure };
  // dcmjs reads the meta group by its stated length: it must agree with the walk.
  if (bytes.length < 144 || bytes.readUInt16LE(132) !== 0x0002 || bytes.readUInt16LE(134) !== 0x0000 || bytes.toString('latin1', 136, 138) !== 'UL'
    || bytes.readUInt16LE(138) !== 4 || 144 + bytes.readUInt32LE(140) !== metaEnd) return { structure };

  const decoder = new ValueDecoder(bytes, transferSyntaxUid === EXPLICIT_BE);
  const metaRaw: RawDict = new Map();
  const dataRaw: RawDict = new Map();
  for (const [key, raw] of collector.top) {
    ((collector.starts.get(key) ?? metaEnd) < metaEnd ? metaRaw : dataRaw).set(key, raw);
  }
  try {
    const meta = decoder.dict(metaRaw, TOP_LEVEL);
    const dict = decoder.dict(dataRaw, TOP_LEVEL);
    return { structure, elements: { meta, dict } };
  } catch (err) {
    if (err instanceof NeedsDcmjs) return { structure };
    throw err;
  }
}

class NeedsDcmjs extends Error {}

/** Turns kept raw elements into dcmjs-shaped values. */
class ValueDecoder {
  constructor(private readonly bytes: Buffer, private readonly bigEndian: boolean) {}

  dict(raw: RawDict, wanted: Record<string, string>): HeaderDict {
    const out: HeaderDict = {};
    for (const [key, element] of raw) {
      const vr = wanted[key];
      if ('items' in element) {
        out[key] = { vr: 'SQ', Value: element.items.map((item) => this.dict(item, ITEM_TAGS[key] ?? {})) };
        continue;
      }
      if (element.vr !== undefined && element.vr !== vr) throw new NeedsDcmjs();
      // Meta elements are always little endian.
      out[key] = { vr, Value: this.values(vr, element.start, element.length, key.startsWith('0002') ? false : this.bigEndian) };
    }
    return out;
  }

  private values(vr: string, start: number, length: number, bigEndian: boolean): unknown[] {
    if (vr === 'US') {
      if (length === 0) return [0]; // dcmjs gives a fixed-length VR's default for an empty value
      const out: number[] = [];
      for (let at = start; at < start + length; at += 2) out.push(bigEndian ? this.bytes.readUInt16BE(at) : this.bytes.readUInt16LE(at));
      return out;
    }
    for (let at = start; at < start + length; at++) if (this.bytes[at] >= 0x80) throw new NeedsDcmjs();
    const text = this.bytes.toString('latin1', start, start + length);
    switch (vr) {
      case 'UI': {
        const unpadded = text.endsWith('\0') ? text.slice(0, -1) : text;
        return unpadded.split('\\').map((uid) => uid.replace(/[^0-9.]/g, ''));
      }
      case 'DS':
      case 'IS':
        return text.split('\\').map((value) => {
          const cleaned = value.trim().replace(/[^0-9.\\\-+e]/gi, '');
          return cleaned === '' ? null : Number(cleaned);
        });
      case 'CS':
        return text.split('\\').map((value) => value.trim());
      case 'LO':
      case 'SH':
        return text.trim().split('\\');
      case 'TM':
        return text.replace(/\s*$/g, '').split('\\');
      case 'PN': {
        const unpadded = text.endsWith(' ') ? text.slice(0, -1) : text;
        return unpadded.split('\\').filter(Boolean).map((name) => {
          const [alphabetic, ideographic, phonetic] = name.split('=');
          return { ...(alphabetic ? { Alphabetic: alphabetic } : {}), ...(ideographic ? { Ideographic: ideographic } : {}), ...(phonetic ? { Phonetic: phonetic } : {}) };
        });
      }
      default: // DA, DT, AS: the text as it is, split at backslashes
        return text.split('\\');
    }
  }
}

function dictionaryVr(tag: number): string | undefined {
  const key = hex(tag);
  return dictionary[`(${key.slice(0, 4)},${key.slice(4)})`]?.vr;
}

function hex(tag: number): string {
  return tag.toString(16).toUpperCase().padStart(8, '0');
}
