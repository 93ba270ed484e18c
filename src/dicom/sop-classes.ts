/**
 * What the Store SCP accepts. PET instances are processed; the other storage classes are accepted
 * so that a scanner pushing a whole PET/CT study sees no failures (the receiver ignores them).
 */

export const VERIFICATION_SOP_CLASS = '1.2.840.10008.1.1';

export const PET_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.128';
export const ENHANCED_PET_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.130';
export const LEGACY_CONVERTED_ENHANCED_PET_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.128.1';

/** The storage classes whose instances feed the PET pipeline. */
export const PET_SOP_CLASSES: ReadonlySet<string> = new Set([
  PET_IMAGE_STORAGE,
  ENHANCED_PET_IMAGE_STORAGE,
  LEGACY_CONVERTED_ENHANCED_PET_IMAGE_STORAGE,
]);

/** Everything a PET/CT or PET/MR study commonly contains, by name for the logs. */
export const STORAGE_SOP_CLASSES: ReadonlyMap<string, string> = new Map([
  [PET_IMAGE_STORAGE, 'PET Image'],
  [ENHANCED_PET_IMAGE_STORAGE, 'Enhanced PET Image'],
  [LEGACY_CONVERTED_ENHANCED_PET_IMAGE_STORAGE, 'Legacy Converted Enhanced PET Image'],
  ['1.2.840.10008.5.1.4.1.1.2', 'CT Image'],
  ['1.2.840.10008.5.1.4.1.1.2.1', 'Enhanced CT Image'],
  ['1.2.840.10008.5.1.4.1.1.2.2', 'Legacy Converted Enhanced CT Image'],
  ['1.2.840.10008.5.1.4.1.1.4', 'MR Image'],
  ['1.2.840.10008.5.1.4.1.1.4.1', 'Enhanced MR Image'],
  ['1.2.840.10008.5.1.4.1.1.4.4', 'Legacy Converted Enhanced MR Image'],
  ['1.2.840.10008.5.1.4.1.1.20', 'Nuclear Medicine Image'],
  ['1.2.840.10008.5.1.4.1.1.7', 'Secondary Capture Image'],
  ['1.2.840.10008.5.1.4.1.1.7.1', 'Multi-frame Single Bit Secondary Capture Image'],
  ['1.2.840.10008.5.1.4.1.1.7.2', 'Multi-frame Grayscale Byte Secondary Capture Image'],
  ['1.2.840.10008.5.1.4.1.1.7.3', 'Multi-frame Grayscale Word Secondary Capture Image'],
  ['1.2.840.10008.5.1.4.1.1.7.4', 'Multi-frame True Color Secondary Capture Image'],
  ['1.2.840.10008.5.1.4.1.1.481.1', 'RT Image'],
  ['1.2.840.10008.5.1.4.1.1.481.2', 'RT Dose'],
  ['1.2.840.10008.5.1.4.1.1.481.3', 'RT Structure Set'],
  ['1.2.840.10008.5.1.4.1.1.481.5', 'RT Plan'],
  ['1.2.840.10008.5.1.4.1.1.11.1', 'Grayscale Softcopy Presentation State'],
  ['1.2.840.10008.5.1.4.1.1.66', 'Raw Data'],
  ['1.2.840.10008.5.1.4.1.1.66.1', 'Spatial Registration'],
  ['1.2.840.10008.5.1.4.1.1.66.3', 'Deformable Spatial Registration'],
  ['1.2.840.10008.5.1.4.1.1.66.4', 'Segmentation'],
  ['1.2.840.10008.5.1.4.1.1.88.11', 'Basic Text SR'],
  ['1.2.840.10008.5.1.4.1.1.88.22', 'Enhanced SR'],
  ['1.2.840.10008.5.1.4.1.1.88.33', 'Comprehensive SR'],
  ['1.2.840.10008.5.1.4.1.1.88.59', 'Key Object Selection Document'],
  ['1.2.840.10008.5.1.4.1.1.88.67', 'X-Ray Radiation Dose SR'],
  ['1.2.840.10008.5.1.4.1.1.104.1', 'Encapsulated PDF'],
  // Siemens PET/CT scanners send their protocol and raw-data objects with this private class.
  ['1.3.12.2.1107.5.9.1', 'Siemens CSA Non-Image'],
]);

export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
export const EXPLICIT_VR_BIG_ENDIAN = '1.2.840.10008.1.2.2';

/**
 * Uncompressed syntaxes plus every compressed one scanners and PACS send PET in that
 * decode-pixels.ts decodes, lossy ones included: whether a site takes lossy input is the
 * validator's decision (validator.accept_lossy), with a reason a person reads, not a refused
 * presentation context the sender reports as a bare 0006:020E.
 */
export const ACCEPTED_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  IMPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_BIG_ENDIAN,
  '1.2.840.10008.1.2.5', // RLE Lossless
  '1.2.840.10008.1.2.4.50', // JPEG Baseline (Process 1), lossy 8-bit
  '1.2.840.10008.1.2.4.51', // JPEG Extended (Process 2 & 4), lossy 12-bit
  '1.2.840.10008.1.2.4.57', // JPEG Lossless, Non-Hierarchical (Process 14)
  '1.2.840.10008.1.2.4.70', // JPEG Lossless, Process 14, Selection Value 1
  '1.2.840.10008.1.2.4.80', // JPEG-LS Lossless
  '1.2.840.10008.1.2.4.81', // JPEG-LS Near-Lossless
  '1.2.840.10008.1.2.4.90', // JPEG 2000 Lossless Only
  '1.2.840.10008.1.2.4.91', // JPEG 2000 (reversible or irreversible)
  '1.2.840.10008.1.2.4.201', // HT JPEG 2000 Lossless Only
  '1.2.840.10008.1.2.4.202', // HT JPEG 2000 RPCL Lossless Only
  '1.2.840.10008.1.2.4.203', // HT JPEG 2000 (reversible or irreversible)
]);
