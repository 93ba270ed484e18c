/**
 * Pixel data of one single-frame greyscale slice, decoded and rescaled straight into a slot of a
 * float32 volume. Uncompressed little-endian data is read as it is; compressed data (RLE, JPEG
 * lossy and lossless, JPEG-LS, JPEG 2000, HT JPEG 2000) goes fragment by fragment to the matching
 * WebAssembly decoder of dcmjs-codecs (initialised once per process), and Explicit VR Big Endian
 * through its transcoder.
 */
import { createRequire } from 'node:module';
import type { InstanceHeader } from '../dicom/instance-header.js';
import { encapsulatedFragments } from '../dicom/encapsulated-pixels.js';
import { walkStructure } from '../dicom/structure-check.js';
import { exactArrayBuffer } from '../dicom/write-part10.js';
import { activityRescale } from '../rules/activity-units.js';

interface DcmjsElement { vr: string; Value?: unknown[] }
interface DcmjsModule {
  data: {
    DicomMessage: { readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): { dict: Record<string, DcmjsElement> } };
  };
}
interface CodecContext { getDecodedBuffer(): Uint8Array | undefined }
type FrameDecoder = (context: CodecContext, parameters?: Record<string, unknown>) => CodecContext;
interface CodecsModule {
  NativeCodecs: { initializeAsync(opts?: Record<string, unknown>): Promise<void>; isInitialized(): boolean }
    & Record<'decodeRle' | 'decodeJpeg' | 'decodeJpegLs' | 'decodeJpeg2000' | 'decodeHtJpeg2000', FrameDecoder>;
  Context: new (attrs: Record<string, unknown>) => CodecContext;
  Transcoder: new (part10: ArrayBuffer) => { transcode(transferSyntaxUid: string): void; getDicomPart10(): ArrayBuffer };
}

// Both packages are CommonJS without type declarations: describe the little used here.
const require = createRequire(import.meta.url);
const dcmjs = require('dcmjs') as DcmjsModule;
const codecs = require('dcmjs-codecs') as CodecsModule;

const PIXEL_DATA = '7FE00010';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const UNDEFINED_LENGTH = 0xffffffff;
/** PixelData tag, VR, reserved bytes and undefined length before the first item. */
const ENCAPSULATED_HEADER_BYTES = 12;
/** The decoder of each compressed transfer syntax; anything else is refused with its UID in the message. */
const DECODERS: ReadonlyMap<string, keyof CodecsModule['NativeCodecs']> = new Map([
  ['1.2.840.10008.1.2.5', 'decodeRle'], // RLE Lossless
  ['1.2.840.10008.1.2.4.50', 'decodeJpeg'], // JPEG Baseline
  ['1.2.840.10008.1.2.4.51', 'decodeJpeg'], // JPEG Extended (12-bit)
  ['1.2.840.10008.1.2.4.57', 'decodeJpeg'], // JPEG Lossless, process 14
  ['1.2.840.10008.1.2.4.70', 'decodeJpeg'], // JPEG Lossless, process 14, selection value 1
  ['1.2.840.10008.1.2.4.80', 'decodeJpegLs'], // JPEG-LS Lossless
  ['1.2.840.10008.1.2.4.81', 'decodeJpegLs'], // JPEG-LS near-lossless
  ['1.2.840.10008.1.2.4.90', 'decodeJpeg2000'], // JPEG 2000 lossless
  ['1.2.840.10008.1.2.4.91', 'decodeJpeg2000'], // JPEG 2000
  ['1.2.840.10008.1.2.4.201', 'decodeHtJpeg2000'], // HT JPEG 2000 lossless
  ['1.2.840.10008.1.2.4.202', 'decodeHtJpeg2000'], // HT JPEG 2000 lossless RPCL
  ['1.2.840.10008.1.2.4.203', 'decodeHtJpeg2000'], // HT JPEG 2000
]);

let codecsReady: Promise<void> | undefined;

/** Loads the WebAssembly codecs once; later calls share the same promise. */
export function initPixelCodecs(): Promise<void> {
  codecsReady ??= codecs.NativeCodecs.isInitialized() ? Promise.resolve() : codecs.NativeCodecs.initializeAsync();
  return codecsReady;
}

/** The PixelData bytes of a Part-10 file, little-endian and uncompressed. */
async function littleEndianPixelBytes(part10: Buffer, header: InstanceHeader): Promise<Uint8Array> {
  const { transferSyntaxUid } = header;
  if (transferSyntaxUid === IMPLICIT_LE || transferSyntaxUid === EXPLICIT_LE) {
    return nativePixelBytes(part10, transferSyntaxUid === EXPLICIT_LE);
  }
  const decoder = DECODERS.get(transferSyntaxUid);
  if (!decoder && transferSyntaxUid !== EXPLICIT_BE) throw new Error(`unsupported transfer syntax ${transferSyntaxUid} for pixel data`);
  await initPixelCodecs();
  if (decoder) return decodeFrame(part10, header, (codecs.NativeCodecs[decoder] as FrameDecoder).bind(codecs.NativeCodecs));
  const transcoder = new codecs.Transcoder(exactArrayBuffer(part10));
  transcoder.transcode(EXPLICIT_LE);
  const { dict } = dcmjs.data.DicomMessage.readFile(transcoder.getDicomPart10());
  const pixels = dict[PIXEL_DATA]?.Value?.[0];
  if (!(pixels instanceof ArrayBuffer)) throw new Error('no PixelData in the file');
  return new Uint8Array(pixels);
}

/** The one frame of encapsulated pixel data (its fragments joined), through `decode`. */
function decodeFrame(part10: Buffer, header: InstanceHeader, decode: FrameDecoder): Uint8Array {
  const { pixelDataAt, problem } = walkStructure(part10);
  if (problem) throw new Error(problem);
  if (pixelDataAt === undefined) throw new Error('no PixelData in the file');
  if (part10.readUInt32LE(pixelDataAt + 8) !== UNDEFINED_LENGTH) {
    throw new Error(`pixel data is not encapsulated although transfer syntax ${header.transferSyntaxUid} is a compressed one`);
  }
  const walk = encapsulatedFragments(part10, pixelDataAt + ENCAPSULATED_HEADER_BYTES);
  if (walk.problem !== undefined) throw new Error(walk.problem);
  const context = new codecs.Context({
    width: header.columns, height: header.rows, bitsAllocated: header.bitsAllocated ?? 16,
    bitsStored: header.bitsStored ?? header.bitsAllocated ?? 16, samplesPerPixel: 1, pixelRepresentation: header.pixelRepresentation ?? 0,
    planarConfiguration: 0, photometricInterpretation: header.photometricInterpretation ?? 'MONOCHROME2',
    encodedBuffer: new Uint8Array(walk.fragments.length === 1 ? walk.fragments[0]! : Buffer.concat(walk.fragments)),
  });
  let decoded: Uint8Array | undefined;
  try {
    decoded = decode(context, {}).getDecodedBuffer();
  } catch (err) {
    throw new Error(`the ${header.transferSyntaxUid} pixel data could not be decoded: ${(err as Error).message}`);
  }
  if (!decoded) throw new Error(`the ${header.transferSyntaxUid} pixel data decoded to nothing`);
  return decoded;
}

/**
 * The PixelData value of an uncompressed little-endian file, found by the structure walk: parsing
 * the whole data set with dcmjs only to reach it cost more than the decoding itself.
 */
function nativePixelBytes(part10: Buffer, explicit: boolean): Uint8Array {
  const { pixelDataAt, problem } = walkStructure(part10);
  if (problem) throw new Error(problem);
  if (pixelDataAt === undefined) throw new Error('no PixelData in the file');
  const lengthAt = pixelDataAt + (explicit ? 8 : 4);
  if (lengthAt + 4 > part10.length) throw new Error('the file ends in the PixelData element header');
  const length = part10.readUInt32LE(lengthAt);
  const start = lengthAt + 4;
  if (length === UNDEFINED_LENGTH) throw new Error('PixelData has an undefined length in an uncompressed transfer syntax');
  if (start + length > part10.length) throw new Error(`PixelData claims ${length} bytes but the file ends ${part10.length - start} bytes into it`);
  return part10.subarray(start, start + length);
}

/**
 * Decode one slice and write value·slope + intercept for each pixel into target[offset …]
 * (times the activity concentration factor of a Philips counts slice).
 * The header says the layout; only single-frame, one-sample greyscale images of 8, 16 or 32 bits
 * allocated are accepted.
 */
export async function decodeSliceInto(part10: Buffer, header: InstanceHeader, target: Float32Array, offset: number): Promise<void> {
  const rows = header.rows ?? 0;
  const columns = header.columns ?? 0;
  const count = rows * columns;
  const bitsAllocated = header.bitsAllocated ?? 16;
  const bitsStored = header.bitsStored ?? bitsAllocated;
  const signed = header.pixelRepresentation === 1;
  if (count <= 0) throw new Error('Rows/Columns missing');
  if ((header.samplesPerPixel ?? 1) !== 1) throw new Error(`SamplesPerPixel ${header.samplesPerPixel}: only greyscale images are supported`);
  if ((header.numberOfFrames ?? 1) !== 1) throw new Error(`NumberOfFrames ${header.numberOfFrames}: only single-frame slices are supported`);
  if (offset + count > target.length) throw new RangeError('slice does not fit into the volume');

  const bytes = await littleEndianPixelBytes(part10, header);
  if (bytes.byteLength < (count * bitsAllocated) / 8) {
    throw new Error(`PixelData has ${bytes.byteLength} bytes, ${rows}×${columns} at ${bitsAllocated} bits needs ${(count * bitsAllocated) / 8}`);
  }
  // RescaleSlope/Intercept, and Philips counts made Bq/ml (rules/activity-units.ts).
  const { slope, intercept } = activityRescale(header);
  const stored = storedValues(bytes, bitsAllocated, signed, count);
  if (bitsStored >= bitsAllocated) {
    for (let i = 0; i < count; i++) target[offset + i] = stored[i]! * slope + intercept;
    return;
  }
  // Bits above BitsStored may hold overlays or garbage: mask them off, and sign-extend signed data.
  const unused = 32 - bitsStored;
  const clean = signed
    ? (v: number): number => (v << unused) >> unused
    : (v: number): number => (v & (2 ** bitsStored - 1)) >>> 0;
  for (let i = 0; i < count; i++) target[offset + i] = clean(stored[i]!) * slope + intercept;
}

/** The stored values as a typed array over `bytes` (copied only when not aligned for the type). */
function storedValues(bytes: Uint8Array, bitsAllocated: number, signed: boolean, count: number): ArrayLike<number> {
  const width = bitsAllocated / 8;
  // (new Uint8Array copies; Buffer's slice would not)
  const aligned = bytes.byteOffset % width === 0 ? bytes : new Uint8Array(bytes);
  const { buffer, byteOffset } = aligned;
  switch (bitsAllocated) {
    case 8:
      return signed ? new Int8Array(buffer, byteOffset, count) : new Uint8Array(buffer, byteOffset, count);
    case 16:
      return signed ? new Int16Array(buffer, byteOffset, count) : new Uint16Array(buffer, byteOffset, count);
    case 32:
      return signed ? new Int32Array(buffer, byteOffset, count) : new Uint32Array(buffer, byteOffset, count);
    default:
      throw new Error(`BitsAllocated ${bitsAllocated} is not supported`);
  }
}
