/**
 * A DICOM data set as dcmjs holds it ("denaturalized": hex tag -> { vr, Value }), the form that
 * write-part10.ts builds, reads and writes and the element encoders encode.
 */

/** One data element as dcmjs holds it. Sequence items are datasets; PN values are { Alphabetic }. */
export interface DicomElement {
  vr: string;
  Value?: unknown[];
}
export type DicomDataset = Record<string, DicomElement>;
