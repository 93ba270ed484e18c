import type { LossyCompression } from './lossy-compression.js';

/**
 * The header facts petspool needs from one received instance, read without pixel data.
 * Produced by readInstanceHeader() (src/dicom/read-header.ts); consumed by the receiver,
 * the compilator and validator rules, the packer and the derived-series writer.
 * Optional fields are undefined when absent from the file.
 */
export interface RadiopharmaceuticalInfo {
  /** Radiopharmaceutical (0018,0031) */
  name?: string;
  /** RadiopharmaceuticalCodeSequence (0054,0304) first item */
  code?: { value: string; scheme: string; meaning?: string };
  /** RadionuclideCodeSequence (0054,0300) first item */
  nuclideCode?: { value: string; scheme: string; meaning?: string };
  /** Bq */
  totalDose?: number;
  /** HHMMSS.FFFFFF as in the file */
  startTime?: string;
  /** YYYYMMDDHHMMSS.FFFFFF as in the file */
  startDateTime?: string;
  /** seconds */
  halfLife?: number;
  positronFraction?: number;
}

/** What the Philips PET private group (philips-pet-private.ts) says about a counts image. */
export interface PhilipsPetFactors {
  /** The xx of (7053,xx00): the block its private creator reserved (Philips uses 0x10). */
  block: number;
  /** "(7053,1009)": where the activity concentration factor is (or would be), for messages. */
  activityConcentrationElement: string;
  /** (7053,xx09): Bq/ml per count, applied after RescaleSlope/Intercept. */
  activityConcentrationFactor?: number;
  /** (7053,xx00): SUV (g/ml) per count; recorded, not applied (SUV is the remote service's work). */
  suvFactor?: number;
  /** A factor that is there but not a number. */
  problem?: string;
}

export interface InstanceHeader {
  transferSyntaxUid: string;
  sopClassUid: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  modality?: string;
  frameOfReferenceUid?: string;

  patientName?: string;
  patientId?: string;
  patientBirthDate?: string;
  patientSex?: string;
  patientAge?: string;
  /** kg */
  patientWeight?: number;
  /** m */
  patientSize?: number;

  studyDate?: string;
  studyTime?: string;
  studyDescription?: string;
  accessionNumber?: string;
  seriesDate?: string;
  seriesTime?: string;
  acquisitionDate?: string;
  acquisitionTime?: string;
  seriesNumber?: number;
  seriesDescription?: string;
  instanceNumber?: number;

  manufacturer?: string;
  manufacturerModelName?: string;
  /** ReconstructionMethod (0054,1103) */
  reconstructionMethod?: string;
  convolutionKernel?: string;

  rows?: number;
  columns?: number;
  bitsAllocated?: number;
  bitsStored?: number;
  pixelRepresentation?: number;
  samplesPerPixel?: number;
  photometricInterpretation?: string;
  numberOfFrames?: number;
  /** [row spacing, column spacing] in mm */
  pixelSpacing?: [number, number];
  sliceThickness?: number;
  spacingBetweenSlices?: number;
  imagePositionPatient?: [number, number, number];
  imageOrientationPatient?: [number, number, number, number, number, number];
  rescaleSlope?: number;
  rescaleIntercept?: number;
  /** NumberOfSlices (0054,0081) */
  numberOfSlices?: number;
  /** Units (0054,1001), e.g. BQML */
  units?: string;
  /** DecayCorrection (0054,1102): NONE, START or ADMIN */
  decayCorrection?: string;
  /** DecayCorrectionDateTime (0018,9701), YYYYMMDDHHMMSS.FFFFFF as in the file */
  decayCorrectionDateTime?: string;
  /** SeriesType (0054,1000), e.g. ['WHOLE BODY', 'IMAGE'], ['DYNAMIC', 'IMAGE'], ['GATED', 'IMAGE'] */
  seriesType?: string[];
  /** NumberOfTimeSlices (0054,0101): frames of a dynamic series */
  numberOfTimeSlices?: number;
  /** NumberOfRRIntervals (0054,0061) of a gated series */
  numberOfRRIntervals?: number;
  /** NumberOfTimeSlots (0054,0071): gates of a gated series */
  numberOfTimeSlots?: number;
  /** FrameReferenceTime (0054,1300), ms */
  frameReferenceTime?: number;
  /** ActualFrameDuration (0018,1242), ms */
  actualFrameDuration?: number;
  /** TemporalPositionIndex (0020,9128) */
  temporalPositionIndex?: number;
  /** The Philips PET private group, when the file has its creator (7053,00xx). */
  philipsPet?: PhilipsPetFactors;
  correctedImage?: string[];
  radiopharmaceutical?: RadiopharmaceuticalInfo;
  /** Set when the pixel data is or once was lossy-compressed (lossy-compression.ts). */
  lossyCompression?: LossyCompression;
}
