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
  /** DecayCorrection (0054,1102), e.g. START */
  decayCorrection?: string;
  correctedImage?: string[];
  radiopharmaceutical?: RadiopharmaceuticalInfo;
  /** Set when the pixel data is or once was lossy-compressed (lossy-compression.ts). */
  lossyCompression?: LossyCompression;
}
