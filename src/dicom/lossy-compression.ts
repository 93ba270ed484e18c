/**
 * Was an instance's pixel data lossy-compressed, now or before it reached us? Either its header
 * says so (LossyImageCompression (0028,2110) = "01"), or its transfer syntax is a lossy one
 * (JPEG baseline/extended, JPEG-LS near-lossless), or it is JPEG 2000 whose codestream uses the
 * irreversible 9-7 wavelet. DICOM's rule (PS3.3 C.7.6.1.1.5): an image derived from lossy data
 * stays lossy, with the compression methods and ratios carried on.
 */
import { encapsulatedFragments } from './encapsulated-pixels.js';

export interface LossyCompression {
  /** LossyImageCompressionMethod values, oldest compression first (e.g. ISO_15444_1). */
  methods: string[];
  /** LossyImageCompressionRatio values, one per method where known. */
  ratios: number[];
  /** How we know, for the task's facts and the validator's reason. */
  evidence: string;
}

/** The attributes the decision needs, from whichever header reader the caller has. */
export interface LossyAttributes {
  transferSyntaxUid: string;
  /** (0028,2110) */
  lossyImageCompression?: string;
  /** (0028,2112) */
  ratios?: number[];
  /** (0028,2114) */
  methods?: string[];
  rows?: number;
  columns?: number;
  bitsAllocated?: number;
  samplesPerPixel?: number;
}

/** Always lossy, with the method code of CID 7212 and the name an operator knows. */
const LOSSY_SYNTAXES: ReadonlyMap<string, { method: string; name: string }> = new Map([
  ['1.2.840.10008.1.2.4.50', { method: 'ISO_10918_1', name: 'JPEG Baseline' }],
  ['1.2.840.10008.1.2.4.51', { method: 'ISO_10918_1', name: 'JPEG Extended' }],
  ['1.2.840.10008.1.2.4.81', { method: 'ISO_14495_1', name: 'JPEG-LS near-lossless' }],
]);
/** Lossy or not depending on the codestream's wavelet. */
const JPEG_2000_EITHER: ReadonlyMap<string, { method: string; name: string }> = new Map([
  ['1.2.840.10008.1.2.4.91', { method: 'ISO_15444_1', name: 'JPEG 2000' }],
  ['1.2.840.10008.1.2.4.203', { method: 'ISO_15444_15', name: 'HT JPEG 2000' }],
]);

/**
 * `bytes` is the whole Part-10 file and `pixelDataAt` the offset of its top-level PixelData tag
 * (structure-check.ts finds it), both only looked at for JPEG 2000 and to work out a ratio the
 * header does not give.
 */
export function lossyCompressionOf(bytes: Buffer, pixelDataAt: number | undefined, attrs: LossyAttributes): LossyCompression | undefined {
  const recorded = attrs.lossyImageCompression?.trim() === '01';
  const recordedMethods = recorded ? attrs.methods ?? [] : [];
  const recordedRatios = recorded ? attrs.ratios ?? [] : [];
  const fragments = () => pixelDataAt === undefined ? undefined : encapsulatedFragments(bytes, pixelDataAt + 12).fragments;
  let syntax = LOSSY_SYNTAXES.get(attrs.transferSyntaxUid);
  const either = JPEG_2000_EITHER.get(attrs.transferSyntaxUid);
  if (!syntax && either) {
    const first = fragments()?.[0];
    if (first && jpeg2000Wavelet(first) === 'irreversible') syntax = { ...either, name: `${either.name} with the irreversible (9-7) wavelet` };
  }
  if (!syntax) return recorded ? { methods: recordedMethods, ratios: recordedRatios, evidence: 'LossyImageCompression (0028,2110) is 01' } : undefined;
  // The encoder that wrote the file usually recorded its own compression: then it is not added twice.
  if (recorded && recordedMethods.at(-1) === syntax.method) {
    return { methods: recordedMethods, ratios: recordedRatios, evidence: `transfer syntax ${syntax.name}` };
  }
  const ratio = compressionRatio(fragments(), attrs);
  return {
    methods: [...recordedMethods, syntax.method],
    ratios: ratio === undefined ? recordedRatios : [...recordedRatios, ratio],
    evidence: `transfer syntax ${syntax.name}`,
  };
}

/** Uncompressed size over compressed size, to two decimals; undefined when not computable. */
function compressionRatio(fragments: Buffer[] | undefined, attrs: LossyAttributes): number | undefined {
  const compressed = fragments?.reduce((sum, f) => sum + f.length, 0) ?? 0;
  const uncompressed = (attrs.rows ?? 0) * (attrs.columns ?? 0) * (attrs.samplesPerPixel ?? 1) * Math.ceil((attrs.bitsAllocated ?? 16) / 8);
  if (compressed === 0 || uncompressed === 0) return undefined;
  return Math.round((uncompressed / compressed) * 100) / 100;
}

const SOC = 0xff4f;
const COD = 0xff52;
const SOT = 0xff90;
/** Offset of the wavelet byte in a COD segment: marker 2, Lcod 2, Scod 1, SGcod 4, four SPcod bytes. */
const COD_TRANSFORM_AT = 13;

/**
 * The wavelet of a JPEG 2000 codestream's default coding style (COD marker in the main header,
 * ISO 15444-1 A.6.1): 1 = reversible 5-3, 0 = irreversible 9-7. A JP2 file wrapper is looked
 * through to its codestream.
 */
export function jpeg2000Wavelet(codestream: Buffer): 'reversible' | 'irreversible' | undefined {
  let at = codestream.length >= 2 && codestream.readUInt16BE(0) === SOC ? 0 : codestream.indexOf(Buffer.from([0xff, 0x4f, 0xff, 0x51]));
  if (at < 0) return undefined;
  at += 2;
  while (at + 4 <= codestream.length) {
    const marker = codestream.readUInt16BE(at);
    if (marker === SOT || (marker >>> 8) !== 0xff) return undefined;
    if (marker === COD) {
      if (at + COD_TRANSFORM_AT >= codestream.length) return undefined;
      return codestream[at + COD_TRANSFORM_AT] === 0 ? 'irreversible' : 'reversible';
    }
    at += 2 + codestream.readUInt16BE(at + 2);
  }
  return undefined;
}
