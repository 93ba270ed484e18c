/**
 * Thin typed layer over dcmjs for building, reading and writing DICOM Part-10 files.
 * Datasets are kept in dcmjs' "denaturalized" form (hex tag -> { vr, Value }) so that petspool
 * controls every written byte: DS/IS values arrive as finished strings, binary values as
 * ArrayBuffers of exactly the right length.
 */
import { createRequire } from 'node:module';
import { open, readFile } from 'node:fs/promises';
import { formatDS } from './ds.js';
import { encodeLittleEndianElement } from './element-encoder.js';
import type { DicomDataset, DicomElement } from './dataset.js';

interface DcmjsDicomDict {
  meta: DicomDataset;
  dict: DicomDataset;
  write(options?: { allowInvalidVRLength?: boolean }): ArrayBuffer;
}
interface DcmjsWriteStream {
  getBuffer(): ArrayBuffer | Uint8Array;
}
interface DcmjsApi {
  data: {
    DicomDict: new (meta: DicomDataset) => DcmjsDicomDict;
    WriteBufferStream: new (defaultSize: number, littleEndian: boolean) => DcmjsWriteStream;
    DicomMessage: {
      write(dataset: DicomDataset, stream: DcmjsWriteStream, syntax: string, options: { allowInvalidVRLength: boolean }): number;
      /** Value, or _rawValue when Value is still what was read: what dcmjs writes for an element. */
      _getTagWriteValues(vr: string, element: DicomElement): unknown;
      readFile(buffer: ArrayBuffer, options?: { ignoreErrors?: boolean; untilTag?: string | null; includeUntilTagValue?: boolean }): DcmjsDicomDict;
    };
    DicomMetaDictionary: { nameMap: Record<string, { tag: string; vr: string }> };
  };
}

// dcmjs ships no type declarations; load its CommonJS build and give it the narrow type above.
const dcmjs = createRequire(import.meta.url)('dcmjs') as DcmjsApi;

export const TransferSyntax = {
  ImplicitVRLittleEndian: '1.2.840.10008.1.2',
  ExplicitVRLittleEndian: '1.2.840.10008.1.2.1',
  ExplicitVRBigEndian: '1.2.840.10008.1.2.2',
} as const;

const IMPLEMENTATION_CLASS_UID = '2.25.158911938046723571294628143290876412137';
const IMPLEMENTATION_VERSION_NAME = 'PETSPOOL_0_1';

/** "PatientName" -> "00100010". Throws for a keyword the dictionary does not know. */
export function tagOf(keyword: string): string {
  const entry = dcmjs.data.DicomMetaDictionary.nameMap[keyword];
  if (!entry) throw new Error(`Unknown DICOM keyword ${keyword}`);
  return entry.tag.replace(/[(),]/g, '').toUpperCase();
}

function dictionaryVr(keyword: string): string {
  const vr = dcmjs.data.DicomMetaDictionary.nameMap[keyword]?.vr;
  if (!vr || vr.length !== 2 || vr !== vr.toUpperCase()) {
    throw new Error(`${keyword} has no single VR (${vr}); pass one explicitly`);
  }
  return vr;
}

export type ElementValue = string | number | readonly (string | number)[] | readonly DicomDataset[] | ArrayBuffer | null;

/**
 * Sets one element by keyword, taking the VR from the dictionary unless given (needed where the
 * dictionary allows two, e.g. "US or SS"). Numbers for DS are formatted with formatDS, for IS
 * rounded; null writes an empty (type 2) element.
 */
export function setElement(dataset: DicomDataset, keyword: string, value: ElementValue, vr = dictionaryVr(keyword)): void {
  const tag = tagOf(keyword);
  if (value === null) {
    dataset[tag] = { vr, Value: [] };
    return;
  }
  if (value instanceof ArrayBuffer) {
    dataset[tag] = { vr, Value: [value] };
    return;
  }
  const values: readonly unknown[] = Array.isArray(value) ? value : [value];
  dataset[tag] = { vr, Value: values.map((v) => encodeValue(vr, v)) };
}

function encodeValue(vr: string, value: unknown): unknown {
  if (vr === 'DS') return typeof value === 'number' ? formatDS(value) : value;
  if (vr === 'IS') return typeof value === 'number' ? String(Math.round(value)) : value;
  if (vr === 'PN') return { Alphabetic: String(value) };
  return value;
}

/** First value of an element, or undefined. */
export function getValue(dataset: DicomDataset, keyword: string): unknown {
  return dataset[tagOf(keyword)]?.Value?.[0];
}

export function getString(dataset: DicomDataset, keyword: string): string | undefined {
  const value = getValue(dataset, keyword);
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'object' && 'Alphabetic' in value) return String((value as { Alphabetic: unknown }).Alphabetic);
  return String(value);
}

export function getNumber(dataset: DicomDataset, keyword: string): number | undefined {
  const value = getValue(dataset, keyword);
  if (value === undefined || value === null || value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

export function getNumbers(dataset: DicomDataset, keyword: string): number[] | undefined {
  const values = dataset[tagOf(keyword)]?.Value;
  if (!values || values.length === 0) return undefined;
  return values.map((v) => Number(v));
}

/** Removes the elements named by keyword at every nesting level (top level and inside sequence items). */
export function removeElements(dataset: DicomDataset, keywords: readonly string[]): void {
  const tags = new Set(keywords.map(tagOf));
  const visit = (ds: DicomDataset): void => {
    for (const tag of Object.keys(ds)) {
      const element = ds[tag]!;
      if (tags.has(tag)) delete ds[tag];
      else if (element.vr === 'SQ') for (const item of element.Value ?? []) visit(item as DicomDataset);
    }
  };
  visit(dataset);
}

/**
 * A deep copy of a dataset that the caller may change freely (nested items, value arrays and
 * ArrayBuffers included; dcmjs' accessor proxies become plain objects, which it writes alike).
 */
export function copyDataset(dataset: DicomDataset): DicomDataset {
  return copyPlainValue(dataset) as DicomDataset;
}

/** Deep copy of plain data: objects, arrays, ArrayBuffers (copied), typed-array views (shared), primitives. */
export function copyPlainValue(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof ArrayBuffer) return value.slice(0);
  if (ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.map(copyPlainValue);
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, copyPlainValue(v)]));
}

/** An ArrayBuffer holding exactly the bytes of a typed array (never the whole of a pooled buffer). */
export function exactArrayBuffer(view: ArrayBufferView): ArrayBuffer {
  // A view over a whole (unpooled, unshared) buffer is used as it is; anything else is copied
  // (through a Uint8Array: slicing a SharedArrayBuffer would give a SharedArrayBuffer again).
  const whole = view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer;
  return whole ? view.buffer as ArrayBuffer : new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice().buffer;
}

/**
 * dcmjs reads and writes OW values as raw bytes in the file's byte order. petspool keeps them
 * in memory little-endian (the platform's order), so big-endian files swap the 16-bit words on
 * the way in and on the way out.
 */
function swapWords(dataset: DicomDataset): DicomDataset {
  const swapped: DicomDataset = { ...dataset };
  for (const [tag, element] of Object.entries(dataset)) {
    if (element.vr === 'OW' && element.Value?.[0] instanceof ArrayBuffer) {
      const bytes = new Uint8Array(element.Value[0].slice(0));
      for (let i = 0; i + 1 < bytes.length; i += 2) {
        const low = bytes[i]!;
        bytes[i] = bytes[i + 1]!;
        bytes[i + 1] = low;
      }
      swapped[tag] = { vr: 'OW', Value: [bytes.buffer] };
    }
  }
  return swapped;
}

/** The file meta information encodePart10 writes for a dataset (without the group length). */
export function fileMetaFor(dataset: DicomDataset, transferSyntaxUid: string): DicomDataset {
  const meta: DicomDataset = {};
  setElement(meta, 'FileMetaInformationVersion', exactArrayBuffer(new Uint8Array([0, 1])));
  setElement(meta, 'MediaStorageSOPClassUID', getString(dataset, 'SOPClassUID') ?? '');
  setElement(meta, 'MediaStorageSOPInstanceUID', getString(dataset, 'SOPInstanceUID') ?? '');
  setElement(meta, 'TransferSyntaxUID', transferSyntaxUid);
  setElement(meta, 'ImplementationClassUID', IMPLEMENTATION_CLASS_UID);
  setElement(meta, 'ImplementationVersionName', IMPLEMENTATION_VERSION_NAME);
  return meta;
}

/**
 * The bytes dcmjs writes for one element of a little-endian data set. dcmjs writes a data set
 * element by element in tag order, each independently of the others, so concatenating these in
 * tag order gives exactly what encodePart10 writes. element-encoder.ts writes the common VRs
 * itself (byte for byte the same, much faster); what it does not cover goes through dcmjs.
 */
export function encodeElement(tag: string, element: DicomElement, transferSyntaxUid: string): Buffer {
  const explicit = transferSyntaxUid === TransferSyntax.ExplicitVRLittleEndian;
  if (explicit || transferSyntaxUid === TransferSyntax.ImplicitVRLittleEndian) {
    const bytes = encodeLittleEndianElement(tag, element, explicit, dcmjsWriteValues);
    if (bytes) return bytes;
  }
  return encodeElementWithDcmjs(tag, element, transferSyntaxUid);
}

function dcmjsWriteValues(element: DicomElement): unknown {
  return dcmjs.data.DicomMessage._getTagWriteValues(element.vr, element);
}

/** dcmjs' own encoding of one element (a stream per element: tens of µs). */
export function encodeElementWithDcmjs(tag: string, element: DicomElement, transferSyntaxUid: string): Buffer {
  const stream = new dcmjs.data.WriteBufferStream(256, true);
  dcmjs.data.DicomMessage.write({ [tag]: element }, stream, transferSyntaxUid, { allowInvalidVRLength: false });
  const bytes = stream.getBuffer();
  return Buffer.from(bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes);
}

/** Serialises a dataset with its file meta information into Part-10 bytes. */
export function encodePart10(dataset: DicomDataset, transferSyntaxUid: string = TransferSyntax.ExplicitVRLittleEndian): Buffer {
  const meta = fileMetaFor(dataset, transferSyntaxUid);
  const dicomDict = new dcmjs.data.DicomDict(meta);
  dicomDict.dict = transferSyntaxUid === TransferSyntax.ExplicitVRBigEndian ? swapWords(dataset) : dataset;
  return Buffer.from(dicomDict.write());
}

/** Writes a Part-10 file; with durable, the data is fsynced before the promise resolves. */
export async function writePart10File(
  path: string,
  dataset: DicomDataset,
  options: { transferSyntaxUid?: string; durable?: boolean } = {},
): Promise<void> {
  const bytes = encodePart10(dataset, options.transferSyntaxUid);
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(bytes);
    if (options.durable) await handle.sync();
  } finally {
    await handle.close();
  }
}

export interface Part10 {
  meta: DicomDataset;
  dataset: DicomDataset;
}

export interface ReadOptions {
  /** Stop before PixelData: the header only, without decoding or copying pixels. */
  headerOnly?: boolean;
}

/**
 * Parses Part-10 bytes (a Node Buffer is copied to its own ArrayBuffer first). OW values such as
 * PixelData come back little-endian whatever the file's transfer syntax.
 */
export function decodePart10(bytes: Uint8Array, options: ReadOptions = {}): Part10 {
  const parsed = dcmjs.data.DicomMessage.readFile(exactArrayBuffer(bytes), {
    ignoreErrors: false,
    untilTag: options.headerOnly ? tagOf('PixelData') : null,
    includeUntilTagValue: false,
  });
  const bigEndian = getString(parsed.meta, 'TransferSyntaxUID') === TransferSyntax.ExplicitVRBigEndian;
  return { meta: parsed.meta, dataset: bigEndian ? swapWords(parsed.dict) : parsed.dict };
}

export async function readPart10File(path: string, options: ReadOptions = {}): Promise<Part10> {
  return decodePart10(await readFile(path), options);
}
