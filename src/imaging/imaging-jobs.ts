/**
 * The messages between the imaging pools (worker-pool.ts, the dispatching side) and their worker
 * threads (imaging-worker.ts): one job per message, answered by an ImagingReply with its id.
 * Results go into the shared buffers a job names.
 */
import type { InstanceHeader } from '../dicom/instance-header.js';
import type { DecodedSliceBuffers } from './decode-slice-range.js';
import type { FilterGeometry } from './gaussian-kernel.js';
import type { OutputSliceBuffers } from './output-slice-writer.js';
import type { Volume } from './volume.js';

export interface SliceRange {
  id: number;
  /** Slices [from, to). */
  from: number;
  to: number;
}

export interface FilterJob extends SliceRange {
  kind: 'filter';
  /** The output volume (float32, whole buffer). */
  buffer: SharedArrayBuffer;
  geometry: FilterGeometry;
  /** Where the unfiltered slices are: a shared input volume, or (when filtering in place) the
   * output itself for slices inside [from, to) and a halo copy of the neighbours' slices. */
  originals:
    | { kind: 'source'; buffer: SharedArrayBuffer; byteOffset: number; length: number }
    | { kind: 'in-place'; halo: SharedArrayBuffer; haloSlices: number[] };
}

export interface OutputJob extends SliceRange {
  kind: 'output';
  source: { buffer: SharedArrayBuffer; byteOffset: number; length: number };
  shape: readonly [number, number, number];
  out: OutputSliceBuffers;
}

/** The Gaussian filter and the output slices at once (gaussianOutputSlices), slice by slice. */
export interface FilterOutputJob extends SliceRange {
  kind: 'filter-output';
  source: { buffer: SharedArrayBuffer; byteOffset: number; length: number };
  geometry: FilterGeometry;
  /** Fraction of the unfiltered input mixed back in (0: none). */
  blend: number;
  out: OutputSliceBuffers;
}

export interface DecodeJob extends SliceRange {
  kind: 'decode';
  /** The files and headers of slices [from, to). */
  files: string[];
  headers: InstanceHeader[];
  shape: readonly [number, number, number];
  out: DecodedSliceBuffers;
}

export interface WriteFilesJob {
  id: number;
  kind: 'write-files';
  /** Each file's consecutive pieces (copies of their own, or views on shared memory). */
  files: { path: string; parts: Uint8Array[] }[];
}

/** A coronal MIP preview (mip.ts) from a volume's column maxima, written durably as a PNG. */
export interface WritePreviewJob {
  id: number;
  kind: 'write-preview';
  file: string;
  coronalRows: Float32Array;
  geometry: Pick<Volume, 'shape' | 'orientation' | 'spacing'>;
}

export type ImagingJob = DecodeJob | FilterJob | FilterOutputJob | OutputJob | WriteFilesJob | WritePreviewJob;
export type ImagingReply = { id: number; error?: { message: string; code?: string; stack?: string } };
