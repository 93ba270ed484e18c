import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { InstanceHeader, RadiopharmaceuticalInfo } from './instance-header.js';
import { lossyCompressionOf } from './lossy-compression.js';
import { readPhilipsPetFactors } from './philips-pet-private.js';
import { defectMessage, walkStructure } from './structure-check.js';

/** One element as dcmjs reads it: VR and the parsed values (strings, numbers or nested items). */
interface DcmjsElement { vr: string; Value?: unknown[] }
type DcmjsDict = Record<string, DcmjsElement>;
interface DcmjsModule {
  data: {
    DicomMessage: {
      readFile(buffer: ArrayBuffer, options: Record<string, unknown>): { meta: DcmjsDict; dict: DcmjsDict };
    };
    DicomMetaDictionary: { dictionary: Record<string, { vr: string; name: string } | undefined> };
  };
}

// dcmjs ships no type declarations; load it through require and describe the little we use.
const dcmjs = createRequire(import.meta.url)('dcmjs') as DcmjsModule;

const PIXEL_DATA = '7FE00010';
const DICOMDIR_SOP_CLASS = '1.2.840.10008.1.3.10';
const PREAMBLE_AND_PREFIX = 132;
const UID_SYNTAX = /^[0-9]+(\.[0-9]+)*$/;

/**
 * Reads the header of a DICOM Part-10 file (everything before PixelData, so pixel bytes are
 * never decoded) and returns the facts petspool works with. Works for every transfer syntax:
 * Implicit/Explicit Little Endian, Explicit Big Endian and encapsulated ones (whose header is
 * Explicit Little Endian). Throws an Error with a human message for anything that is not a
 * readable DICOM file.
 */
export function readInstanceHeader(source: string | Buffer): InstanceHeader {
  const bytes = typeof source === 'string' ? fs.readFileSync(source) : source;
  if (bytes.length < PREAMBLE_AND_PREFIX) {
    throw new Error(`not a DICOM file: ${bytes.length} bytes is shorter than the 132-byte preamble and DICM prefix`);
  }
  if (bytes.toString('latin1', 128, 132) !== 'DICM') throw new Error('not a DICOM file: no DICM prefix');
  // dcmjs stops quietly at some defects (the header then only looks incomplete): name them first.
  const { problem: defect, pixelDataAt } = walkStructure(bytes);
  if (defect) throw new Error(defectMessage(defect));

  let meta: DcmjsDict;
  let dict: DcmjsDict;
  try {
    // dcmjs wants an ArrayBuffer; copy only when this Buffer is a view on a larger (pooled) one.
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    const arrayBuffer = (whole ? bytes.buffer : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) as ArrayBuffer;
    ({ meta, dict } = dcmjs.data.DicomMessage.readFile(arrayBuffer, {
      ignoreErrors: false,
      untilTag: PIXEL_DATA,
      includeUntilTagValue: false,
      noCopy: true,
    }));
  } catch (err) {
    throw new Error(`truncated or malformed DICOM file: ${(err as Error).message}`);
  }

  const transferSyntaxUid = str(meta, '00020010');
  if (!transferSyntaxUid) throw new Error('malformed DICOM file: missing TransferSyntaxUID in the file meta header');
  const sopInstanceUid = str(dict, '00080018');
  if (!sopInstanceUid) throw new Error('missing SOPInstanceUID');
  const sopClassUid = str(dict, '00080016');
  if (!sopClassUid) throw new Error('missing SOPClassUID');
  const studyInstanceUid = str(dict, '0020000D') ?? '';
  const seriesInstanceUid = str(dict, '0020000E') ?? '';
  const uids = { SOPClassUID: sopClassUid, SOPInstanceUID: sopInstanceUid, StudyInstanceUID: studyInstanceUid, SeriesInstanceUID: seriesInstanceUid };
  for (const [keyword, uid] of Object.entries(uids)) {
    // dcmjs already dropped characters other than digits and dots; what is left must still be a UID.
    if (uid !== '' && !UID_SYNTAX.test(uid)) throw new Error(`invalid ${keyword} "${uid}": not digits separated by single dots`);
  }

  const rows = num(dict, '00280010');
  const columns = num(dict, '00280011');
  const bitsAllocated = num(dict, '00280100');
  const samplesPerPixel = num(dict, '00280002');
  return {
    transferSyntaxUid,
    sopClassUid,
    sopInstanceUid,
    studyInstanceUid,
    seriesInstanceUid,
    modality: str(dict, '00080060'),
    frameOfReferenceUid: str(dict, '00200052'),

    patientName: personName(dict, '00100010'),
    patientId: str(dict, '00100020'),
    patientBirthDate: str(dict, '00100030'),
    patientSex: str(dict, '00100040'),
    patientAge: str(dict, '00101010'),
    patientWeight: num(dict, '00101030'),
    patientSize: num(dict, '00101020'),

    studyDate: str(dict, '00080020'),
    studyTime: str(dict, '00080030'),
    studyDescription: str(dict, '00081030'),
    accessionNumber: str(dict, '00080050'),
    seriesDate: str(dict, '00080021'),
    seriesTime: str(dict, '00080031'),
    acquisitionDate: str(dict, '00080022'),
    acquisitionTime: str(dict, '00080032'),
    seriesNumber: num(dict, '00200011'),
    seriesDescription: str(dict, '0008103E'),
    instanceNumber: num(dict, '00200013'),

    manufacturer: str(dict, '00080070'),
    manufacturerModelName: str(dict, '00081090'),
    reconstructionMethod: str(dict, '00541103'),
    convolutionKernel: str(dict, '00181210'),

    rows,
    columns,
    bitsAllocated,
    bitsStored: num(dict, '00280101'),
    pixelRepresentation: num(dict, '00280103'),
    samplesPerPixel,
    photometricInterpretation: str(dict, '00280004'),
    numberOfFrames: num(dict, '00280008'),
    pixelSpacing: tuple(dict, '00280030', 2) as [number, number] | undefined,
    sliceThickness: num(dict, '00180050'),
    spacingBetweenSlices: num(dict, '00180088'),
    imagePositionPatient: tuple(dict, '00200032', 3) as [number, number, number] | undefined,
    imageOrientationPatient: tuple(dict, '00200037', 6) as InstanceHeader['imageOrientationPatient'],
    rescaleSlope: num(dict, '00281053'),
    rescaleIntercept: num(dict, '00281052'),
    numberOfSlices: num(dict, '00540081'),
    units: str(dict, '00541001'),
    decayCorrection: str(dict, '00541102'),
    decayCorrectionDateTime: str(dict, '00189701'),
    seriesType: strings(dict, '00541000'),
    numberOfTimeSlices: num(dict, '00540101'),
    numberOfRRIntervals: num(dict, '00540061'),
    numberOfTimeSlots: num(dict, '00540071'),
    frameReferenceTime: num(dict, '00541300'),
    actualFrameDuration: num(dict, '00181242'),
    temporalPositionIndex: num(dict, '00209128'),
    philipsPet: readPhilipsPetFactors(dict),
    correctedImage: strings(dict, '00280051'),
    radiopharmaceutical: radiopharmaceutical(dict),
    lossyCompression: lossyCompressionOf(bytes, pixelDataAt, {
      transferSyntaxUid, lossyImageCompression: str(dict, '00282110'), ratios: numbers(dict, '00282112'),
      methods: strings(dict, '00282114'), rows, columns, bitsAllocated, samplesPerPixel,
    }),
  };
}

/** DICOMDIR files (Media Storage Directory) describe a CD's content; they are not images. */
export function isDicomDir(header: Pick<InstanceHeader, 'sopClassUid'>): boolean {
  return header.sopClassUid === DICOMDIR_SOP_CLASS;
}

function radiopharmaceutical(dict: DcmjsDict): RadiopharmaceuticalInfo | undefined {
  const item = firstItem(dict, '00540016');
  if (!item) return undefined;
  return {
    name: str(item, '00180031'),
    code: code(firstItem(item, '00540304')),
    nuclideCode: code(firstItem(item, '00540300')),
    totalDose: num(item, '00181074'),
    startTime: str(item, '00181072'),
    startDateTime: str(item, '00181078'),
    halfLife: num(item, '00181075'),
    positronFraction: num(item, '00181076'),
  };
}

function code(item: DcmjsDict | undefined): RadiopharmaceuticalInfo['code'] {
  const value = item && str(item, '00080100');
  if (!item || !value) return undefined;
  return { value, scheme: str(item, '00080102') ?? '', meaning: str(item, '00080104') };
}

function firstItem(dict: DcmjsDict, tag: string): DcmjsDict | undefined {
  const item = dict[tag]?.Value?.[0];
  return item && typeof item === 'object' ? (item as DcmjsDict) : undefined;
}

/** Non-empty trimmed strings of a multi-valued element. */
function strings(dict: DcmjsDict, tag: string): string[] | undefined {
  const values = dict[tag]?.Value;
  if (!values || values.length === 0) return undefined;
  const out = values.map((v) => String(v ?? '').trim());
  return out.some((v) => v !== '') ? out : undefined;
}

function str(dict: DcmjsDict, tag: string): string | undefined {
  const value = dict[tag]?.Value?.[0];
  // A binary value (wrong VR) is no text; String() of a large typed array can even throw.
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const text = String(value).trim();
  return text === '' ? undefined : text;
}

/** PN values come back from dcmjs as { Alphabetic: ... } objects. */
function personName(dict: DcmjsDict, tag: string): string | undefined {
  const value = dict[tag]?.Value?.[0];
  if (value && typeof value === 'object' && 'Alphabetic' in value) {
    return String((value as { Alphabetic: unknown }).Alphabetic).trim() || undefined;
  }
  return str(dict, tag);
}

/** DS/IS/US values: dcmjs may hand back numbers or strings; either becomes a finite number. */
function numbers(dict: DcmjsDict, tag: string): number[] | undefined {
  const element = dict[tag];
  const values = element?.Value;
  if (!element || !values || values.length === 0) return undefined;
  checkVr(element, tag);
  const out = values.map((v) => (typeof v === 'number' ? v : Number.parseFloat(String(v))));
  return out.every(Number.isFinite) ? out : undefined;
}

/**
 * A number sent with another VR than the standard's is a different number (US bytes read where
 * DS text belongs give garbage that still parses): refuse it rather than compute with it.
 */
function checkVr(element: DcmjsElement, tag: string): void {
  const entry = dcmjs.data.DicomMetaDictionary.dictionary[`(${tag.slice(0, 4)},${tag.slice(4)})`];
  // Lower-case dictionary VRs (xs, ox) mean "either of two"; those are left alone.
  if (!entry || entry.vr !== entry.vr.toUpperCase() || entry.vr === element.vr) return;
  throw new Error(`malformed DICOM file: ${entry.name} (${tag.slice(0, 4)},${tag.slice(4)}) has VR ${element.vr}, the standard says ${entry.vr}`);
}

function num(dict: DcmjsDict, tag: string): number | undefined {
  return numbers(dict, tag)?.[0];
}

function tuple(dict: DcmjsDict, tag: string, length: number): number[] | undefined {
  const values = numbers(dict, tag);
  return values && values.length === length ? values : undefined;
}

/** A header read, or why it could not be: what the SCP hands on for an instance it already acknowledged. */
export type HeaderOrReason = { header: InstanceHeader; unreadable?: undefined } | { header?: undefined; unreadable: string };

export function readHeaderOrReason(bytes: Buffer): HeaderOrReason {
  try {
    return { header: readInstanceHeader(bytes) };
  } catch (err) {
    return { unreadable: (err as Error).message };
  }
}
