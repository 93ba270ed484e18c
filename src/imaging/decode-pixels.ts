/**
 * Pixel data of one single-frame greyscale slice, decoded and rescaled straight into a slot of a
 * float32 volume. Uncompressed little-endian data is read as it is; every other transfer syntax
 * (Explicit VR Big Endian, RLE, JPEG lossless, JPEG-LS, JPEG 2000) is first transcoded to Explicit
 * VR Little Endian by dcmjs-codecs, whose WebAssembly codecs are initialised once per process.
 */
import { createRequire } from 'node:module';
import type { InstanceHeader } from '../dicom/instance-header.js';
import { walkStructure } from '../dicom/structure-check.js';
import { exactArrayBuffer } from '../dicom/write-part10.js';
import { layoutRegions, WasmLoops } from './wasm-loops.js';

interface DcmjsElement { vr: string; Value?: unknown[] }
interface DcmjsModule {
  data: {
    DicomMessage: { readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): { dict: Record<string, DcmjsElement> } };
  };
}
interface CodecsModule {
  NativeCodecs: { initializeAsync(opts?: Record<string, unknown>): Promise<void>; isInitialized(): boolean };
  Transcoder: new (part10: ArrayBuffer) => { transcode(transferSyntaxUid: string): void; getDicomPart10(): ArrayBuffer };
  constants: { TransferSyntax: Record<string, string> };
}

// Both packages are CommonJS without type declarations: describe the little used here.
const require = createRequire(import.meta.url);
const dcmjs = require('dcmjs') as DcmjsModule;
const codecs = require('dcmjs-codecs') as CodecsModule;

const PIXEL_DATA = '7FE00010';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const UNDEFINED_LENGTH = 0xffffffff;
/** Transfer syntaxes handed to dcmjs-codecs; anything else is refused with its UID in the message. */
const TRANSCODED = new Set([
  '1.2.840.10008.1.2.2', // Explicit VR Big Endian
  '1.2.840.10008.1.2.5', // RLE Lossless
  '1.2.840.10008.1.2.4.57', // JPEG Lossless, process 14
  '1.2.840.10008.1.2.4.70', // JPEG Lossless, process 14, selection value 1
  '1.2.840.10008.1.2.4.80', // JPEG-LS Lossless
  '1.2.840.10008.1.2.4.81', // JPEG-LS near-lossless
  '1.2.840.10008.1.2.4.90', // JPEG 2000 lossless
  '1.2.840.10008.1.2.4.91', // JPEG 2000
  '1.2.840.10008.1.2.4.201', // HT JPEG 2000 lossless
  '1.2.840.10008.1.2.4.202', // HT JPEG 2000 lossless RPCL
  '1.2.840.10008.1.2.4.203', // HT JPEG 2000
]);

let codecsReady: Promise<void> | undefined;

/** Loads the WebAssembly codecs once; later calls share the same promise. */
export function initPixelCodecs(): Promise<void> {
  codecsReady ??= codecs.NativeCodecs.isInitialized() ? Promise.resolve() : codecs.NativeCodecs.initializeAsync();
  return codecsReady;
}

/** The PixelData bytes of a Part-10 file, little-endian and uncompressed. */
async function littleEndianPixelBytes(part10: Buffer, transferSyntaxUid: string): Promise<Uint8Array> {
  if (transferSyntaxUid === IMPLICIT_LE || transferSyntaxUid === EXPLICIT_LE) {
    return nativePixelBytes(part10, transferSyntaxUid === EXPLICIT_LE);
  }
  if (!TRANSCODED.has(transferSyntaxUid)) throw new Error(`unsupported transfer syntax ${transferSyntaxUid} for pixel data`);
  await initPixelCodecs();
  const transcoder = new codecs.Transcoder(exactArrayBuffer(part10));
  transcoder.transcode(EXPLICIT_LE);
  const { dict } = dcmjs.data.DicomMessage.readFile(transcoder.getDicomPart10());
  const pixels = dict[PIXEL_DATA]?.Value?.[0];
  if (!(pixels instanceof ArrayBuffer)) throw new Error('no PixelData in the file');
  return new Uint8Array(pixels);
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
 * Decode one slice and write value·slope + intercept for each pixel into target[offset …].
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

  const bytes = await littleEndianPixelBytes(part10, header.transferSyntaxUid);
  if (bytes.byteLength < (count * bitsAllocated) / 8) {
    throw new Error(`PixelData has ${bytes.byteLength} bytes, ${rows}×${columns} at ${bitsAllocated} bits needs ${(count * bitsAllocated) / 8}`);
  }
  const slope = header.rescaleSlope ?? 1;
  const intercept = header.rescaleIntercept ?? 0;
  if (bitsAllocated === 16 && bitsStored >= bitsAllocated) {
    rescale16Into(bytes.subarray(0, count * 2), signed, slope, intercept, target.subarray(offset, offset + count));
    return;
  }
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

const rescaleLoops = new WasmLoops<{ rescale16(stored: number, n: number, signed: boolean, slope: number, intercept: number, out: number): void }>('rescale');

/**
 * target[i] = value · slope + intercept for the 16-bit little-endian values in `bytes` (as many
 * as `target` holds), in float64 and rounded to float32 as JavaScript would: the loop is
 * WebAssembly SIMD (wasm/rescale.ts), about five times faster than the plain loop.
 */
export function rescale16Into(bytes: Uint8Array, signed: boolean, slope: number, intercept: number, target: Float32Array): void {
  const n = target.length;
  if (bytes.length !== n * 2) throw new RangeError(`${bytes.length} bytes for ${n} 16-bit values`);
  const layout = layoutRegions({ stored: n * 2, out: n * 4 });
  const { loops, memory } = rescaleLoops.withMemory(layout.end);
  new Uint8Array(memory.buffer, layout.stored, n * 2).set(bytes);
  loops.rescale16(layout.stored, n, signed, slope, intercept, layout.out);
  target.set(new Float32Array(memory.buffer, layout.out, n));
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
