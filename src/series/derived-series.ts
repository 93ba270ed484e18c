/**
 * Writes a processed volume as a new DICOM series derived from the original instances: every
 * slice keeps the original's patient, study, equipment and PET/SUV attributes, gets new UIDs,
 * references its source instance, and stores the new voxels as int16 with a per-slice
 * RescaleSlope. Output is Explicit VR Little Endian, each file fsynced.
 * The slices of a series share most of their elements, so one Part10Encoder per series encodes
 * each distinct element once. A series is made in two steps: prepareDerivedSeries encodes every
 * file except its RescaleSlope and pixels (the unpacker does it while the filter runs), and
 * writePreparedSeries fills those in. This thread encodes; the writer threads (worker-pool.ts)
 * write and fsync the files, a batch per job, taking the pixels straight from the shared output
 * slices: the main thread then spends nothing on the file-system calls, which on a busy machine
 * cost more in thread hand-overs than the encoding.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { VolumeGeometry } from '../imaging/volume.js';
import { prepareOutputSlices, type OutputSlices } from '../imaging/output-slices.js';
import { ImagingPool } from '../imaging/worker-pool.js';
import { fsyncPath } from '../spool/durable.js';
import { formatDS } from '../dicom/ds.js';
import { lossyCompressionOf } from '../dicom/lossy-compression.js';
import { Part10Encoder, sameElement } from '../dicom/part10-encoder.js';
import { walkStructure } from '../dicom/structure-check.js';
import { newUid } from '../dicom/uid.js';
import {
  type ElementValue, TransferSyntax, copyDataset, decodePart10, encodeElement, getNumber, getNumbers, getString, removeElements, setElement, tagOf,
} from '../dicom/write-part10.js';
import type { DicomDataset, DicomElement } from '../dicom/dataset.js';

export interface DerivedSeriesOptions {
  /** Where the slices are (shape, spacing, orientation, positions). */
  geometry: VolumeGeometry;
  /**
   * Their voxels: the float volume, or its stored values and slopes already made (output-slices.ts;
   * the unpacker gets them from its imaging threads and lets the float volume go).
   */
  voxels: Float32Array | OutputSlices;
  /** The original instance files, in the volume's slice order. */
  sourceFiles: string[];
  /** Their headers, when several series are derived from the same files (read once, not per series). */
  sourceHeaders?: SourceHeaders;
  /** Folder to write into (created if missing); the caller renames it into place. */
  outDir: string;
  /** Added to the original SeriesNumber. */
  seriesNumberOffset: number;
  filterName: string;
  /** "{original}" and "{filter}" are replaced (default "{original} {filter}"); cut to 64 characters. */
  seriesDescriptionTemplate?: string;
  derivationDescription: string;
  /** Units (0054,1001) of the voxels when not the source's (Philips counts made BQML); default the source's. */
  units?: string;
}

export interface DerivedSeries {
  seriesInstanceUid: string;
  files: string[];
  /** SOPInstanceUID of each file, in the same order. */
  sopInstanceUids: string[];
}

/**
 * The headers of a series' source files, each read and made ready for deriving at most once: a
 * deep copy (dcmjs' accessor objects become plain data) without the stored-pixel attributes,
 * private elements and group lengths, every DS re-spelled. The series derived from the same files
 * (one per filter) share them. A top-level element equal to one of an earlier file is replaced by
 * that same object, so that the encoder knows it unchanged at a glance (part10-encoder.ts) instead
 * of comparing it again for every slice of every series.
 *
 * Files are told apart by name, not by folder: the sources are the files of one folder (a task's
 * instances/), and the headers read while the task folder was in one state folder still serve
 * once it has moved on (source-header-prefetch.ts). A file that cannot be read is read again at
 * the next request, from wherever it is then asked for.
 */
export class SourceHeaders {
  private readonly parsed = new Map<string, Promise<DicomDataset>>();
  private readonly spellings: DSSpellings = new Map();
  /** Per tag, the element of the file read last. */
  private readonly latest = new Map<string, DicomElement>();

  /**
   * A shallow copy of the file's prepared header: replace its top-level elements (setElement),
   * never change what they hold, which the other series share.
   */
  async derivableCopyOf(file: string): Promise<DicomDataset> {
    return { ...await this.headerOf(file) };
  }

  /**
   * Reads the headers now, one file after the other, so that the parsing (about 1 ms per file)
   * happens while this thread would otherwise wait (for the filter threads, or for the remote
   * service); a file that cannot be read fails later, in derivableCopyOf. Resolves when every
   * file was tried (callers need not wait).
   */
  async preload(files: readonly string[]): Promise<void> {
    for (const file of files) await this.headerOf(file).catch(() => undefined);
  }

  private headerOf(file: string): Promise<DicomDataset> {
    const name = basename(file);
    let header = this.parsed.get(name);
    if (!header) {
      header = readFile(file).then((bytes) => {
        const { meta, dataset } = decodePart10(bytes, { headerOnly: true });
        const prepared = copyDataset(dataset);
        removeElements(prepared, STORED_PIXEL_ATTRIBUTES);
        markLossySource(prepared, bytes, getString(meta, 'TransferSyntaxUID') ?? '');
        cleanCopiedDataset(prepared, this.spellings);
        this.shareEqualElements(prepared);
        return prepared;
      });
      header.catch(() => this.parsed.delete(name));
      this.parsed.set(name, header);
    }
    return header;
  }

  private shareEqualElements(header: DicomDataset): void {
    for (const [tag, element] of Object.entries(header)) {
      const earlier = this.latest.get(tag);
      if (earlier && sameElement(earlier, element)) header[tag] = earlier;
      else this.latest.set(tag, element);
    }
  }
}

const LO_MAX_LENGTH = 64;
const ST_MAX_LENGTH = 1024;
/** Slices prepared between two turns of the event loop (about 0.1 ms each). */
const SLICES_BETWEEN_TURNS = 16;
/** Files per write job: enough to make the hand-over to a worker cheap per file. */
const FILES_PER_WRITE_JOB = 16;
/** Write jobs queued at once: the workers always have the next batch while this thread encodes one. */
const WRITE_JOBS_IN_FLIGHT = 4;

/**
 * Attributes of the original that describe its stored pixel values or encoding and would be
 * wrong for the new pixels.
 */
const STORED_PIXEL_ATTRIBUTES = [
  'PixelData',
  'SmallestImagePixelValue',
  'LargestImagePixelValue',
  'SmallestPixelValueInSeries',
  'LargestPixelValueInSeries',
  'PixelPaddingValue',
  'PixelPaddingRangeLimit',
  'PlanarConfiguration',
  'IconImageSequence',
  'DataSetTrailingPadding',
];

export function derivedSeriesDescription(template: string, original: string, filterName: string): string {
  const text = template.replaceAll('{original}', original).replaceAll('{filter}', filterName);
  return text.replace(/\s+/g, ' ').trim().slice(0, LO_MAX_LENGTH).trim();
}

/**
 * An image derived from lossy-compressed pixels stays lossy (PS3.3 C.7.6.1.1.5): the source's
 * LossyImageCompression "01" with its methods and ratios, completed with the compression of the
 * source file itself when its header did not record it (e.g. irreversible JPEG 2000 sent without
 * the attributes). The derived files themselves are written uncompressed, adding no method.
 */
function markLossySource(header: DicomDataset, bytes: Buffer, transferSyntaxUid: string): void {
  const lossy = lossyCompressionOf(bytes, walkStructure(bytes).pixelDataAt, {
    transferSyntaxUid, lossyImageCompression: getString(header, 'LossyImageCompression'),
    ratios: getNumbers(header, 'LossyImageCompressionRatio'), methods: header[tagOf('LossyImageCompressionMethod')]?.Value?.map(String),
    rows: getNumber(header, 'Rows'), columns: getNumber(header, 'Columns'), bitsAllocated: getNumber(header, 'BitsAllocated'),
    samplesPerPixel: getNumber(header, 'SamplesPerPixel'),
  });
  if (!lossy) return;
  setElement(header, 'LossyImageCompression', '01');
  if (lossy.ratios.length) setElement(header, 'LossyImageCompressionRatio', lossy.ratios);
  if (lossy.methods.length) setElement(header, 'LossyImageCompressionMethod', lossy.methods);
}

/** formatDS tries several spellings (a few µs); the slices of a series repeat the same few values. */
type DSSpellings = Map<unknown, string>;

/** Removes private elements and group lengths everywhere, and re-spells every DS with formatDS. */
function cleanCopiedDataset(dataset: DicomDataset, spellings: DSSpellings): void {
  for (const [tag, element] of Object.entries(dataset)) {
    const group = parseInt(tag.slice(0, 4), 16);
    const isGroupLength = tag.endsWith('0000');
    if (group % 2 === 1 || isGroupLength) {
      delete dataset[tag];
      continue;
    }
    if (element.vr === 'SQ') {
      for (const item of element.Value ?? []) cleanCopiedDataset(item as DicomDataset, spellings);
    } else if (element.vr === 'DS') {
      // dcmjs would write the original text back (it keeps _rawValue); take the number instead.
      const values = (element.Value ?? []).map((v) => (v === null || v === '' ? v : spellDS(v, spellings)));
      dataset[tag] = { vr: 'DS', Value: values };
    }
  }
}

function spellDS(value: unknown, spellings: DSSpellings): string {
  let spelling = spellings.get(value);
  if (spelling === undefined) {
    spelling = formatDS(Number(value));
    spellings.set(value, spelling);
  }
  return spelling;
}

function referenceItem(sopClassUid: string, sopInstanceUid: string): DicomDataset {
  const item: DicomDataset = {};
  setElement(item, 'ReferencedSOPClassUID', sopClassUid);
  setElement(item, 'ReferencedSOPInstanceUID', sopInstanceUid);
  return item;
}

function sourceImageItem(sopClassUid: string, sopInstanceUid: string): DicomDataset {
  const item = referenceItem(sopClassUid, sopInstanceUid);
  const purpose: DicomDataset = {};
  setElement(purpose, 'CodeValue', '121322');
  setElement(purpose, 'CodingSchemeDesignator', 'DCM');
  setElement(purpose, 'CodeMeaning', 'Source image for image processing operation');
  setElement(item, 'PurposeOfReferenceCodeSequence', [purpose]);
  return item;
}

const PET_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.128';

/**
 * DERIVED\SECONDARY, except for PET Image Storage: its PET Image module allows only PRIMARY as
 * value 2 (PS3.3 C.8.9.4.1.1; dciodvfy reports SECONDARY as an error), so PET becomes DERIVED\PRIMARY.
 */
export function derivedImageType(sopClassUid: string): [string, string] {
  return sopClassUid === PET_IMAGE_STORAGE ? ['DERIVED', 'PRIMARY'] : ['DERIVED', 'SECONDARY'];
}

const pad = (n: number): string => String(n).padStart(2, '0');

function checkGeometry(volume: VolumeGeometry, sourceFiles: readonly string[]): void {
  const slices = volume.shape[0];
  if (slices !== sourceFiles.length) throw new Error(`volume has ${slices} slices but ${sourceFiles.length} source files were given`);
  if (new Set(sourceFiles.map((file) => basename(file))).size !== sourceFiles.length) {
    throw new Error('the source files must have distinct names (their headers are kept by name)');
  }
  if (volume.positions.length !== slices) throw new Error(`volume has ${volume.positions.length} positions for ${slices} slices`);
}

/**
 * A derived series made ready before its voxels exist: every file encoded, with the RescaleSlope
 * and the pixel data left to fill in. The unpacker prepares a series while the filter that
 * makes its voxels runs.
 */
export interface PreparedSeries extends DerivedSeries {
  outDir: string;
  geometry: VolumeGeometry;
  /** Per slice: the file's pieces, and where in them the slope and the pixel values go. */
  slices: { parts: Buffer[]; slopeAt: number; pixelsAt: number }[];
  /** Spells the slopes (DS) as the rest of the series was spelled. */
  spellSlope: (slope: number) => string;
}

/** writeDerivedSeries in its two steps: prepareDerivedSeries, then writePreparedSeries. */
export async function writeDerivedSeries(options: DerivedSeriesOptions): Promise<DerivedSeries> {
  return writePreparedSeries(await prepareDerivedSeries(options), options.voxels);
}

const RESCALE_SLOPE = tagOf('RescaleSlope');
const PIXEL_DATA = tagOf('PixelData');
const INSTANCE_NUMBER = tagOf('InstanceNumber');
const NUMBER_OF_SLICES = tagOf('NumberOfSlices');

export async function prepareDerivedSeries(options: Omit<DerivedSeriesOptions, 'voxels'>): Promise<PreparedSeries> {
  const { geometry: volume, sourceFiles } = options;
  checkGeometry(volume, sourceFiles);
  const [slices, rows, columns] = volume.shape;
  const seriesInstanceUid = newUid();
  const template = options.seriesDescriptionTemplate ?? '{original} {filter}';
  const now = new Date();
  const creationDate = `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}`;
  const creationTime = `${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
  // Shared elements (the source headers', setShared's) are never changed in place.
  const encoder = new Part10Encoder({ elementsNeverChange: true });
  const spellings: DSSpellings = new Map();
  const sources = options.sourceHeaders ?? new SourceHeaders();
  // Stand-ins of the right length for what the voxels decide: the slope's piece is swapped for
  // the real one, the pixels' piece for a view on the output slices.
  const pixelsStandIn = new Uint8Array(rows * columns * 2);

  // Elements with the same value on every slice are made once: the encoder reuses their bytes at a glance.
  const made = new Map<string, { tag: string; element: DicomElement }>();
  const setShared = (dataset: DicomDataset, keyword: string, value: ElementValue): void => {
    const key = `${keyword}\u0000${JSON.stringify(value)}`;
    let entry = made.get(key);
    if (!entry) {
      const scratch: DicomDataset = {};
      setElement(scratch, keyword, value);
      const tag = tagOf(keyword);
      entry = { tag, element: scratch[tag]! };
      made.set(key, entry);
    }
    dataset[entry.tag] = entry.element;
  };
  const pixelsElement: DicomElement = { vr: 'OW', Value: [pixelsStandIn] };
  const spell = (values: readonly number[]): string[] => values.map((v) => spellDS(v, spellings));
  // The same on every slice whatever its source header says: made once, set by reference.
  const constants: DicomDataset = {};
  for (const [keyword, value] of [
    ['SeriesInstanceUID', seriesInstanceUid],
    ['DerivationDescription', options.derivationDescription.slice(0, ST_MAX_LENGTH)],
    ['InstanceCreationDate', creationDate], ['InstanceCreationTime', creationTime],
    ['ContentDate', creationDate], ['ContentTime', creationTime],
    ['ImageOrientationPatient', spell(volume.orientation)],
    ['PixelSpacing', spell([volume.spacing[1], volume.spacing[2]])],
    ['SamplesPerPixel', 1], ['PhotometricInterpretation', 'MONOCHROME2'], ['Rows', rows], ['Columns', columns],
    ['BitsAllocated', 16], ['BitsStored', 16], ['HighBit', 15], ['PixelRepresentation', 1],
    ['RescaleIntercept', 0], ['RescaleSlope', '1'],
    ...(options.units ? [['Units', options.units]] : []),
  ] as [string, ElementValue][]) setElement(constants, keyword, value);
  constants[PIXEL_DATA] = pixelsElement;

  const prepareSlice = async (slice: number): Promise<PreparedSeries['slices'][number]> => {
    const dataset = await sources.derivableCopyOf(sourceFiles[slice]!);
    const sourceSopClassUid = getString(dataset, 'SOPClassUID') ?? '';
    const sourceSopInstanceUid = getString(dataset, 'SOPInstanceUID') ?? '';
    const sourceSeriesUid = getString(dataset, 'SeriesInstanceUID') ?? '';

    // What the source header decides first, then the constants over it.
    setElement(dataset, 'SOPInstanceUID', sopInstanceUids[slice]!);
    setShared(dataset, 'SeriesNumber', (getNumber(dataset, 'SeriesNumber') ?? 0) + options.seriesNumberOffset);
    setShared(dataset, 'SeriesDescription', derivedSeriesDescription(template, getString(dataset, 'SeriesDescription') ?? '', options.filterName));
    setShared(dataset, 'ImageType', derivedImageType(sourceSopClassUid));
    if (dataset[INSTANCE_NUMBER] === undefined) setElement(dataset, 'InstanceNumber', slice + 1);
    if (dataset[NUMBER_OF_SLICES] !== undefined) setShared(dataset, 'NumberOfSlices', slices);
    Object.assign(dataset, constants);

    const referencedSeries: DicomDataset = {};
    setElement(referencedSeries, 'SeriesInstanceUID', sourceSeriesUid);
    setElement(referencedSeries, 'ReferencedInstanceSequence', [referenceItem(sourceSopClassUid, sourceSopInstanceUid)]);
    setElement(dataset, 'ReferencedSeriesSequence', [referencedSeries]);
    setElement(dataset, 'SourceImageSequence', [sourceImageItem(sourceSopClassUid, sourceSopInstanceUid)]);
    setElement(dataset, 'ImagePositionPatient', spell(volume.positions[slice]!));

    const where = new Map<string, number>();
    const parts = encoder.encodeParts(dataset, TransferSyntax.ExplicitVRLittleEndian, where);
    return { parts, slopeAt: where.get(RESCALE_SLOPE)!, pixelsAt: where.get(PIXEL_DATA)! + 1 };
  };

  const sopInstanceUids = Array.from({ length: slices }, () => newUid());
  const prepared: PreparedSeries['slices'] = [];
  for (let slice = 0; slice < slices; slice++) {
    prepared.push(await prepareSlice(slice));
    // Headers already read resolve as microtasks, which would hold this thread until the whole
    // series is done: give the event loop a turn now and then (the filter threads' replies).
    if (slice % SLICES_BETWEEN_TURNS === SLICES_BETWEEN_TURNS - 1) await nextTurn();
  }
  return {
    seriesInstanceUid, sopInstanceUids, outDir: options.outDir, geometry: volume, slices: prepared,
    files: sopInstanceUids.map((_, slice) => join(options.outDir, `IM${String(slice + 1).padStart(5, '0')}.dcm`)),
    spellSlope: (slope) => spellDS(slope, spellings),
  };
}

/**
 * Fills in each file's slope and pixels from the voxels (the output slices, or a float volume
 * made into them here) and has the writer threads write and fsync the files into `outDir`.
 */
export async function writePreparedSeries(series: PreparedSeries, voxels: Float32Array | OutputSlices): Promise<DerivedSeries> {
  const [slices, rows, columns] = series.geometry.shape;
  const length = voxels instanceof Float32Array ? voxels.length : voxels.pixels.length;
  if (length !== slices * rows * columns) throw new Error('volume data length does not match its shape');
  const output = voxels instanceof Float32Array ? await prepareOutputSlices({ ...series.geometry, data: voxels }) : voxels;
  const plane = rows * columns;
  await mkdir(series.outDir, { recursive: true });

  const fileOf = (slice: number): { path: string; parts: Uint8Array[] } => {
    const { parts, slopeAt, pixelsAt } = series.slices[slice]!;
    const filled = [...parts];
    filled[slopeAt] = encodeElement(RESCALE_SLOPE, { vr: 'DS', Value: [series.spellSlope(output.slopes[slice]!)] }, TransferSyntax.ExplicitVRLittleEndian);
    const pixels = output.pixels.subarray(slice * plane, (slice + 1) * plane);
    filled[pixelsAt] = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
    return { path: series.files[slice]!, parts: piecesForWorker(filled) };
  };
  const batches = Math.ceil(slices / FILES_PER_WRITE_JOB);
  await forEachInFlight(batches, WRITE_JOBS_IN_FLIGHT, async (batch) => {
    const files = [];
    for (let slice = batch * FILES_PER_WRITE_JOB; slice < Math.min(slices, (batch + 1) * FILES_PER_WRITE_JOB); slice++) files.push(fileOf(slice));
    await ImagingPool.writers().runOne({ kind: 'write-files', files });
  });
  await fsyncPath(series.outDir);
  return { seriesInstanceUid: series.seriesInstanceUid, files: series.files, sopInstanceUids: series.sopInstanceUids };
}

/**
 * A file's pieces as a worker takes them: views on shared memory (the pixels) as they are, the
 * rest copied into pieces of its own (posting a view on an unshared buffer would copy all of it).
 */
function piecesForWorker(parts: readonly Buffer[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let run: Buffer[] = [];
  const copyRun = (): void => {
    if (run.length === 0) return;
    const copy = new Uint8Array(run.reduce((sum, part) => sum + part.length, 0));
    let at = 0;
    for (const part of run) {
      copy.set(part, at);
      at += part.length;
    }
    pieces.push(copy);
    run = [];
  };
  for (const part of parts) {
    if (part.buffer instanceof SharedArrayBuffer) {
      copyRun();
      pieces.push(part);
    } else {
      run.push(part);
    }
  }
  copyRun();
  return pieces;
}

/** Runs work(0..count-1) with at most `inFlight` calls pending at once. */
async function forEachInFlight(count: number, inFlight: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, lane));
}
