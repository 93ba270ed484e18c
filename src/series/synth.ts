/**
 * Synthetic PET series for demos and tests: a body phantom (elliptical body, cold lungs, warm
 * liver, hot spheres of several sizes) with deterministic Poisson-like noise, written as a PET
 * Image Storage series that dciodvfy accepts, with per-slice RescaleSlope like real scanners.
 * `ct: true` writes a small CT Image Storage series of the same phantom instead.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { newUid } from '../dicom/uid.js';
import { TransferSyntax, exactArrayBuffer, removeElements, setElement, writePart10File } from '../dicom/write-part10.js';
import type { DicomDataset } from '../dicom/dataset.js';
import { uniformGenerator } from '../util/prng.js';
import { quantiseSliceInto } from '../imaging/quantise.js';

export interface SynthOptions {
  /** Number of slices (default 81). */
  slices?: number;
  /** Rows = columns (default 128). */
  size?: number;
  /** FDG (default), PSMA-11, DOTATATE or NaF; case-insensitive. */
  tracer?: string;
  seriesInstanceUid?: string;
  studyInstanceUid?: string;
  patientName?: string;
  patientId?: string;
  seriesNumber?: number;
  /** Seed of the noise generator: the same seed gives the same pixels (default 1). */
  seed?: number;
  /** mm; also the distance between slice centres (default 3.27). */
  sliceThickness?: number;
  /** mm between pixel centres, rows and columns alike (default: 600 mm field of view / size). */
  pixelSpacing?: number;
  /** ImageOrientationPatient (default axial 1\0\0\0\1\0); any orthonormal pair makes an oblique series. */
  orientation?: [number, number, number, number, number, number];
  /** Explicit VR Little Endian (default), Implicit VR Little Endian or Explicit VR Big Endian. */
  transferSyntaxUid?: string;
  /** Attribute keywords to leave out (at any nesting level), to make invalid series for validator tests. */
  omit?: string[];
  /** Slice indices (0-based) not to write, to make incomplete series for compilator tests. */
  missingSlices?: number[];
  /** Write NumberOfSlices (0054,0081) (default true). */
  numberOfSlicesTag?: boolean;
  /** Write a CT Image Storage series instead of PET. */
  ct?: boolean;
}

interface CodedConcept {
  value: string;
  scheme: string;
  meaning: string;
}

export interface SynthTracer {
  radiopharmaceutical: string;
  radiopharmaceuticalCode: CodedConcept;
  radionuclideCode: CodedConcept;
  /** seconds */
  halfLife: number;
  positronFraction: number;
  /** Bq */
  typicalDose: number;
  /** seconds from injection to scan start */
  uptakeTime: number;
}

const F18: CodedConcept = { value: '77004003', scheme: 'SCT', meaning: '^18^Fluorine' };
const GA68: CodedConcept = { value: '35337001', scheme: 'SCT', meaning: '^68^Gallium' };
const F18_HALF_LIFE = 6586.2; // 109.77 min
const GA68_HALF_LIFE = 4062.6; // 67.71 min

/** Tracers the generator knows, with the DICOM codes of CID 4021 (radiopharmaceutical) and CID 4020 (nuclide). */
export const SYNTH_TRACERS: Record<string, SynthTracer> = {
  FDG: {
    radiopharmaceutical: 'Fluorodeoxyglucose',
    radiopharmaceuticalCode: { value: '35321007', scheme: 'SCT', meaning: 'Fluorodeoxyglucose F^18^' },
    radionuclideCode: F18,
    halfLife: F18_HALF_LIFE,
    positronFraction: 0.9686,
    typicalDose: 350e6,
    uptakeTime: 3600,
  },
  'PSMA-11': {
    radiopharmaceutical: 'Ga-68 PSMA-11',
    radiopharmaceuticalCode: { value: 'C118961', scheme: 'NCIt', meaning: 'PSMA-11 Ga^68^' },
    radionuclideCode: GA68,
    halfLife: GA68_HALF_LIFE,
    positronFraction: 0.8891,
    typicalDose: 150e6,
    uptakeTime: 3600,
  },
  DOTATATE: {
    radiopharmaceutical: 'Ga-68 DOTATATE',
    radiopharmaceuticalCode: { value: '724025002', scheme: 'SCT', meaning: 'Dotatate Ga^68^' },
    radionuclideCode: GA68,
    halfLife: GA68_HALF_LIFE,
    positronFraction: 0.8891,
    typicalDose: 150e6,
    uptakeTime: 3000,
  },
  NAF: {
    radiopharmaceutical: 'Sodium Fluoride',
    radiopharmaceuticalCode: { value: '129501009', scheme: 'SCT', meaning: 'Sodium fluoride F^18^' },
    radionuclideCode: F18,
    halfLife: F18_HALF_LIFE,
    positronFraction: 0.9686,
    typicalDose: 250e6,
    uptakeTime: 2700,
  },
};

export function synthTracer(name: string): SynthTracer {
  const tracer = SYNTH_TRACERS[name.toUpperCase()];
  if (!tracer) throw new Error(`Unknown tracer ${name}; known: ${Object.keys(SYNTH_TRACERS).join(', ')}`);
  return tracer;
}

const PATIENT_WEIGHT_KG = 75;
const PATIENT_SIZE_M = 1.75;
const FRAME_DURATION_MS = 120_000;

// ---------------------------------------------------------------------------------------------
// Phantom

/** Deterministic standard normal numbers (Box-Muller on the uniform generator). */
function normalGenerator(seed: number): () => number {
  const uniform = uniformGenerator(seed);
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - uniform()));
    const angle = 2 * Math.PI * uniform();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}

/** An ellipsoid in phantom millimetres (x along rows, y down the columns, z along the slice axis). */
interface Ellipsoid {
  centre: [number, number, number];
  radii: [number, number, number];
  /** Activity relative to the body background (SUV-like). */
  uptake: number;
}

export interface SynthGeometry {
  slices: number;
  size: number;
  pixelSpacing: number;
  sliceThickness: number;
  orientation: [number, number, number, number, number, number];
  /** ImagePositionPatient per slice, in slice order. */
  positions: [number, number, number][];
}

export interface SynthActivity extends SynthGeometry {
  /** Bq/ml, [slices, rows, columns], noise included: what the written series encodes. */
  activity: Float32Array;
  /** Background activity of the body (Bq/ml). */
  background: number;
}

function resolveGeometry(options: SynthOptions): SynthGeometry {
  const slices = options.slices ?? 81;
  const size = options.size ?? 128;
  const pixelSpacing = options.pixelSpacing ?? 600 / size;
  const sliceThickness = options.sliceThickness ?? 3.27;
  const orientation = options.orientation ?? [1, 0, 0, 0, 1, 0];
  if (!(slices >= 1 && size >= 8 && pixelSpacing > 0 && sliceThickness > 0)) {
    throw new Error('synth: slices >= 1, size >= 8 and positive spacings are required');
  }
  const rowDirection = orientation.slice(0, 3) as [number, number, number];
  const columnDirection = orientation.slice(3, 6) as [number, number, number];
  const normal = sliceNormal(orientation);
  const inPlaneOffset = ((size - 1) / 2) * pixelSpacing;
  const positions: [number, number, number][] = [];
  for (let slice = 0; slice < slices; slice++) {
    // Head first: slice 0 is the top of the volume, later slices step down the normal.
    const along = ((slices - 1) / 2 - slice) * sliceThickness;
    positions.push([0, 1, 2].map(
      (axis) => -inPlaneOffset * rowDirection[axis]! - inPlaneOffset * columnDirection[axis]! + along * normal[axis]!,
    ) as [number, number, number]);
  }
  return { slices, size, pixelSpacing, sliceThickness, orientation, positions };
}

function phantomObjects(fieldOfView: number, length: number): { body: [number, number]; organs: Ellipsoid[] } {
  const body: [number, number] = [0.36 * fieldOfView, 0.24 * fieldOfView];
  const lungZ = length * 0.2;
  const organs: Ellipsoid[] = [
    { centre: [-0.15 * fieldOfView, -0.02 * fieldOfView, lungZ], radii: [0.09 * fieldOfView, 0.13 * fieldOfView, length * 0.25], uptake: 0.3 },
    { centre: [0.15 * fieldOfView, -0.02 * fieldOfView, lungZ], radii: [0.09 * fieldOfView, 0.13 * fieldOfView, length * 0.25], uptake: 0.3 },
    { centre: [0.12 * fieldOfView, 0.02 * fieldOfView, -length * 0.12], radii: [0.12 * fieldOfView, 0.1 * fieldOfView, length * 0.12], uptake: 2.2 },
  ];
  // Hot spheres of the NEMA IEC sizes on a ring in the lower half of the volume.
  const diameters = [10, 13, 17, 22, 28, 37];
  diameters.forEach((diameter, index) => {
    const angle = (2 * Math.PI * index) / diameters.length;
    organs.push({
      centre: [0.16 * fieldOfView * Math.cos(angle) - 0.02 * fieldOfView, 0.1 * fieldOfView * Math.sin(angle), -length * 0.3],
      radii: [diameter / 2, diameter / 2, diameter / 2],
      uptake: 4 + 8 * (index / (diameters.length - 1)),
    });
  });
  return { body, organs };
}

/** The phantom's activity in Bq/ml, noise included, for the given options. */
export function synthesizePetActivity(options: SynthOptions = {}): SynthActivity {
  const geometry = resolveGeometry(options);
  const tracer = synthTracer(options.tracer ?? 'FDG');
  const { slices, size, pixelSpacing, sliceThickness } = geometry;
  const decayToScanStart = Math.pow(2, -tracer.uptakeTime / tracer.halfLife);
  const background = (tracer.typicalDose / (PATIENT_WEIGHT_KG * 1000)) * decayToScanStart;
  const fieldOfView = size * pixelSpacing;
  const length = slices * sliceThickness;
  const { body, organs } = phantomObjects(fieldOfView, length);
  const normal = normalGenerator(options.seed ?? 1);
  // About 25 counts per background voxel: realistic-looking clinical noise.
  const countsPerBackground = 25;
  const activity = new Float32Array(slices * size * size);
  const centre = (size - 1) / 2;
  for (let slice = 0; slice < slices; slice++) {
    const z = ((slices - 1) / 2 - slice) * sliceThickness;
    // The body narrows a little towards the ends of the volume.
    const taper = 1 - 0.15 * Math.pow((2 * z) / Math.max(length, 1), 2);
    const organsHere = organs.filter((organ) => Math.abs(z - organ.centre[2]) < organ.radii[2]);
    for (let row = 0; row < size; row++) {
      const y = (row - centre) * pixelSpacing;
      for (let column = 0; column < size; column++) {
        const x = (column - centre) * pixelSpacing;
        const bodyDistance = (x / (body[0] * taper)) ** 2 + (y / (body[1] * taper)) ** 2;
        if (bodyDistance > 1) continue;
        let uptake = 1;
        for (const organ of organsHere) {
          const distance =
            ((x - organ.centre[0]) / organ.radii[0]) ** 2 +
            ((y - organ.centre[1]) / organ.radii[1]) ** 2 +
            ((z - organ.centre[2]) / organ.radii[2]) ** 2;
          if (distance <= 1) uptake = organ.uptake;
        }
        const mean = uptake * background;
        const noisy = mean + normal() * Math.sqrt((mean * background) / countsPerBackground);
        activity[(slice * size + row) * size + column] = Math.max(0, noisy);
      }
    }
  }
  return { ...geometry, activity, background };
}

// ---------------------------------------------------------------------------------------------
// DICOM

function codeItem(concept: CodedConcept, extra: (item: DicomDataset) => void = () => {}): DicomDataset {
  const item: DicomDataset = {};
  setElement(item, 'CodeValue', concept.value);
  setElement(item, 'CodingSchemeDesignator', concept.scheme);
  setElement(item, 'CodeMeaning', concept.meaning);
  extra(item);
  return item;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
const dicomDate = (d: Date): string => `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}`;
const dicomTime = (d: Date): string => `${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;

interface SeriesContext {
  options: SynthOptions;
  tracer: SynthTracer;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  frameOfReferenceUid: string;
  scanStart: Date;
  injection: Date;
}

/** Modules shared by every slice: patient, study, series, equipment, frame of reference. */
function commonDataset(context: SeriesContext, geometry: SynthGeometry): DicomDataset {
  const { options, scanStart } = context;
  const ds: DicomDataset = {};
  const ct = options.ct === true;
  const studyDate = dicomDate(scanStart);
  const studyTime = dicomTime(scanStart);
  const birthYear = scanStart.getFullYear() - 54;
  setElement(ds, 'SpecificCharacterSet', 'ISO_IR 100');
  setElement(ds, 'SOPClassUID', ct ? '1.2.840.10008.5.1.4.1.1.2' : '1.2.840.10008.5.1.4.1.1.128');
  setElement(ds, 'InstanceCreationDate', studyDate);
  setElement(ds, 'InstanceCreationTime', studyTime);
  // Patient, General Study, Patient Study
  setElement(ds, 'PatientName', options.patientName ?? 'PHANTOM^SYNTHETIC');
  setElement(ds, 'PatientID', options.patientId ?? 'SYNTH0001');
  setElement(ds, 'PatientBirthDate', `${birthYear}0101`);
  setElement(ds, 'PatientSex', 'O');
  setElement(ds, 'StudyInstanceUID', context.studyInstanceUid);
  setElement(ds, 'StudyDate', studyDate);
  setElement(ds, 'StudyTime', studyTime);
  setElement(ds, 'ReferringPhysicianName', null);
  setElement(ds, 'StudyID', '1');
  setElement(ds, 'AccessionNumber', null);
  setElement(ds, 'StudyDescription', 'PET^Whole body (synthetic)');
  setElement(ds, 'PatientAge', '054Y');
  setElement(ds, 'PatientSize', PATIENT_SIZE_M);
  setElement(ds, 'PatientWeight', PATIENT_WEIGHT_KG);
  // General Series
  setElement(ds, 'Modality', ct ? 'CT' : 'PT');
  setElement(ds, 'SeriesInstanceUID', context.seriesInstanceUid);
  setElement(ds, 'SeriesNumber', options.seriesNumber ?? (ct ? 2 : 3));
  setElement(ds, 'SeriesDate', studyDate);
  setElement(ds, 'SeriesTime', studyTime);
  setElement(ds, 'SeriesDescription', ct ? 'CT phantom (synthetic)' : `PET ${options.tracer ?? 'FDG'} WB (synthetic)`);
  setElement(ds, 'BodyPartExamined', 'WHOLEBODY');
  // Frame of Reference, General Equipment
  setElement(ds, 'FrameOfReferenceUID', context.frameOfReferenceUid);
  setElement(ds, 'PositionReferenceIndicator', null);
  setElement(ds, 'Manufacturer', 'petspool');
  setElement(ds, 'ManufacturerModelName', 'Synthetic PET/CT');
  setElement(ds, 'StationName', 'SYNTH');
  setElement(ds, 'SoftwareVersions', '0.1');
  // Image Plane (per-slice parts are added later), Image Pixel
  setElement(ds, 'PixelSpacing', [geometry.pixelSpacing, geometry.pixelSpacing]);
  setElement(ds, 'ImageOrientationPatient', geometry.orientation);
  setElement(ds, 'SliceThickness', geometry.sliceThickness);
  setElement(ds, 'SamplesPerPixel', 1);
  setElement(ds, 'PhotometricInterpretation', 'MONOCHROME2');
  setElement(ds, 'Rows', geometry.size);
  setElement(ds, 'Columns', geometry.size);
  setElement(ds, 'BitsAllocated', 16);
  setElement(ds, 'BitsStored', 16);
  setElement(ds, 'HighBit', 15);
  setElement(ds, 'PixelRepresentation', 1);
  setElement(ds, 'AcquisitionDate', studyDate);
  setElement(ds, 'AcquisitionTime', studyTime);
  setElement(ds, 'ContentDate', studyDate);
  setElement(ds, 'ContentTime', studyTime);
  if (ct) {
    // PET states the patient's position with the NM/PET Patient Orientation codes instead.
    setElement(ds, 'PatientPosition', 'HFS');
    setElement(ds, 'ImageType', ['ORIGINAL', 'PRIMARY', 'AXIAL']);
    setElement(ds, 'KVP', 120);
    setElement(ds, 'AcquisitionNumber', 1);
    setElement(ds, 'RescaleIntercept', 0);
    setElement(ds, 'RescaleSlope', 1);
    setElement(ds, 'RescaleType', 'HU');
  } else {
    addPetModules(ds, context, geometry);
  }
  return ds;
}

/** PET Series, PET Isotope, NM/PET Patient Orientation and the shared part of PET Image. */
function addPetModules(ds: DicomDataset, context: SeriesContext, geometry: SynthGeometry): void {
  const { tracer, injection } = context;
  const lambda = Math.LN2 / tracer.halfLife;
  const frameSeconds = FRAME_DURATION_MS / 1000;
  setElement(ds, 'Units', 'BQML');
  setElement(ds, 'CountsSource', 'EMISSION');
  setElement(ds, 'SeriesType', ['WHOLE BODY', 'IMAGE']);
  if (context.options.numberOfSlicesTag !== false) setElement(ds, 'NumberOfSlices', geometry.slices);
  setElement(ds, 'CorrectedImage', ['NORM', 'DTIM', 'ATTN', 'SCAT', 'DECY', 'RAN']);
  setElement(ds, 'RandomsCorrectionMethod', 'DLYD');
  setElement(ds, 'AttenuationCorrectionMethod', 'measured,AC CT');
  setElement(ds, 'ScatterCorrectionMethod', 'Model-based');
  setElement(ds, 'DecayCorrection', 'START');
  setElement(ds, 'ReconstructionDiameter', geometry.size * geometry.pixelSpacing);
  setElement(ds, 'ConvolutionKernel', 'All-pass');
  setElement(ds, 'ReconstructionMethod', 'OSEM3D 4i16s');
  setElement(ds, 'CollimatorType', 'NONE');

  const radiopharmaceutical: DicomDataset = {};
  setElement(radiopharmaceutical, 'RadionuclideCodeSequence', [codeItem(tracer.radionuclideCode)]);
  setElement(radiopharmaceutical, 'RadiopharmaceuticalRoute', 'Intravenous');
  setElement(radiopharmaceutical, 'RadiopharmaceuticalStartTime', dicomTime(injection));
  setElement(radiopharmaceutical, 'RadiopharmaceuticalStartDateTime', `${dicomDate(injection)}${dicomTime(injection)}`);
  setElement(radiopharmaceutical, 'RadionuclideTotalDose', tracer.typicalDose);
  setElement(radiopharmaceutical, 'RadionuclideHalfLife', tracer.halfLife);
  setElement(radiopharmaceutical, 'RadionuclidePositronFraction', tracer.positronFraction);
  setElement(radiopharmaceutical, 'Radiopharmaceutical', tracer.radiopharmaceutical);
  setElement(radiopharmaceutical, 'RadiopharmaceuticalCodeSequence', [codeItem(tracer.radiopharmaceuticalCode)]);
  setElement(ds, 'RadiopharmaceuticalInformationSequence', [radiopharmaceutical]);

  setElement(ds, 'PatientOrientationCodeSequence', [
    codeItem({ value: '102538003', scheme: 'SCT', meaning: 'recumbent' }, (item) =>
      setElement(item, 'PatientOrientationModifierCodeSequence', [
        codeItem({ value: '40199007', scheme: 'SCT', meaning: 'supine' }),
      ]),
    ),
  ]);
  setElement(ds, 'PatientGantryRelationshipCodeSequence', [codeItem({ value: '102540008', scheme: 'SCT', meaning: 'headfirst' })]);

  setElement(ds, 'ImageType', ['ORIGINAL', 'PRIMARY']);
  setElement(ds, 'RescaleIntercept', 0);
  setElement(ds, 'ActualFrameDuration', FRAME_DURATION_MS);
  // A static frame's activity is referred to the time its decay-weighted mean occurs, and the
  // decay factor corrects the frame-averaged activity back to the frame (series) start.
  const decayFactor = (lambda * frameSeconds) / (1 - Math.exp(-lambda * frameSeconds));
  setElement(ds, 'FrameReferenceTime', (1000 * Math.log(decayFactor)) / lambda);
  setElement(ds, 'DecayFactor', decayFactor);
  setElement(ds, 'DoseCalibrationFactor', 1);
  setElement(ds, 'ScatterFractionFactor', 0.3);
  setElement(ds, 'DeadTimeFactor', 1.02);
}

function ctSliceValues(activity: Float32Array, background: number): Int16Array {
  // Hounsfield units from the phantom's uptake map: air, soft tissue, lung, denser spheres.
  const hu = new Int16Array(activity.length);
  for (let i = 0; i < activity.length; i++) {
    const uptake = activity[i]! / background;
    hu[i] = uptake <= 0 ? -1000 : uptake < 0.6 ? -800 : uptake < 3 ? 40 : 300;
  }
  return hu;
}

/**
 * Writes a synthetic series into outDir (created if missing) and returns the written file paths
 * in slice order (head first). Missing slices are skipped and absent from the list.
 */
export async function synthesizePetSeries(outDir: string, options: SynthOptions = {}): Promise<string[]> {
  const phantom = synthesizePetActivity(options);
  const tracer = synthTracer(options.tracer ?? 'FDG');
  const scanStart = new Date();
  scanStart.setMilliseconds(0);
  const context: SeriesContext = {
    options,
    tracer,
    studyInstanceUid: options.studyInstanceUid ?? newUid(),
    seriesInstanceUid: options.seriesInstanceUid ?? newUid(),
    frameOfReferenceUid: newUid(),
    scanStart,
    injection: new Date(scanStart.getTime() - tracer.uptakeTime * 1000),
  };
  const common = commonDataset(context, phantom);
  const missing = new Set(options.missingSlices ?? []);
  const pixelsPerSlice = phantom.size * phantom.size;
  const normal = sliceNormal(phantom.orientation);
  await mkdir(outDir, { recursive: true });

  const writes: Promise<string>[] = [];
  for (let slice = 0; slice < phantom.slices; slice++) {
    if (missing.has(slice)) continue;
    const values = phantom.activity.subarray(slice * pixelsPerSlice, (slice + 1) * pixelsPerSlice);
    const ds: DicomDataset = { ...common };
    const position = phantom.positions[slice]!;
    setElement(ds, 'SOPInstanceUID', newUid());
    setElement(ds, 'InstanceNumber', slice + 1);
    setElement(ds, 'ImagePositionPatient', position);
    setElement(ds, 'SliceLocation', position[0] * normal[0] + position[1] * normal[1] + position[2] * normal[2]);
    if (options.ct) {
      setElement(ds, 'PixelData', exactArrayBuffer(ctSliceValues(values, phantom.background)), 'OW');
    } else {
      const pixels = new Int16Array(values.length);
      const slope = quantiseSliceInto(values, pixels);
      setElement(ds, 'ImageIndex', slice + 1);
      setElement(ds, 'RescaleSlope', slope);
      setElement(ds, 'PixelData', exactArrayBuffer(pixels), 'OW');
    }
    if (options.omit?.length) removeElements(ds, options.omit);
    const path = join(outDir, `IM${pad(slice + 1, 5)}.dcm`);
    writes.push(
      writePart10File(path, ds, { transferSyntaxUid: options.transferSyntaxUid ?? TransferSyntax.ExplicitVRLittleEndian }).then(() => path),
    );
  }
  return Promise.all(writes);
}

function sliceNormal(orientation: readonly number[]): [number, number, number] {
  const [a, b, c, d, e, f] = orientation as [number, number, number, number, number, number];
  return [b * f - c * e, c * d - a * f, a * e - b * d];
}
