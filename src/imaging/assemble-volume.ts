/**
 * Builds the float32 activity volume of one PET series from its slice files: slices sorted along
 * the slice normal, per-slice RescaleSlope/Intercept applied, compressed pixel data decoded.
 * Files are read one at a time and decoded straight into one preallocated array, so peak memory is
 * one volume plus a slice per thread. A large volume is decoded by the imaging worker threads, a
 * range of slices each.
 */
import { availableParallelism } from 'node:os';
import type { InstanceHeader } from '../dicom/instance-header.js';
import { readInstanceHeader } from '../dicom/read-header.js';
import { decodeSliceRange, type DecodedSliceBuffers } from './decode-slice-range.js';
import { sliceNormal, type Volume } from './volume.js';
import { ImagingPool } from './worker-pool.js';

export interface AssembledVolume extends Volume {
  /** Headers in the volume's slice order. */
  headers: InstanceHeader[];
  /** Files in the volume's slice order. */
  files: string[];
  /** Row z = the maximum over the rows of slice z, per column (the coronal MIP's rows; mip.ts). */
  coronalRows: Float32Array;
}

/** Below this many voxels handing the decoding to threads costs more than it saves. */
const SMALL_VOLUME_VOXELS = 1 << 20;

type Vec3 = [number, number, number];
type Orientation = [number, number, number, number, number, number];

/** Tolerance for "same orientation" between slices (direction cosines). */
const ORIENTATION_TOLERANCE = 1e-4;

function dot(a: readonly number[], b: readonly number[]): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/** A series' geometry and slice order from its headers alone: an AssembledVolume without voxels. */
export type ArrangedSlices = Omit<AssembledVolume, 'data' | 'coronalRows'>;

/**
 * Sort the slices by the projection of ImagePositionPatient on the slice normal (ascending: slice
 * index grows along the normal, which works for oblique series too) and check they form one
 * regular grid. `headers[i]`, when given, is the header of `files[i]` read earlier (a task's
 * headers.json); otherwise every file's header is read. No pixel data is decoded.
 */
export function arrangeSlices(files: string[], headers?: readonly InstanceHeader[]): ArrangedSlices {
  if (files.length === 0) throw new Error('no slices to assemble');
  if (headers && headers.length !== files.length) throw new Error(`${headers.length} headers given for ${files.length} files`);
  const slices = files.map((file, i) => ({ file, header: headers?.[i] ?? readInstanceHeader(file) }));

  const first = slices[0].header;
  const orientation = first.imageOrientationPatient;
  if (!orientation) throw new Error(`${slices[0].file}: ImageOrientationPatient missing`);
  const rows = first.rows;
  const columns = first.columns;
  if (!rows || !columns) throw new Error(`${slices[0].file}: Rows/Columns missing`);
  const pixelSpacing = first.pixelSpacing;
  if (!pixelSpacing) throw new Error(`${slices[0].file}: PixelSpacing missing`);
  const normal = sliceNormal(orientation);

  const located = slices.map(({ file, header }) => {
    if (header.rows !== rows || header.columns !== columns) {
      throw new Error(`${file}: ${header.rows}×${header.columns} pixels, the series has ${rows}×${columns}`);
    }
    const own = header.imageOrientationPatient;
    if (!own || own.some((v, i) => Math.abs(v - orientation[i]) > ORIENTATION_TOLERANCE)) {
      throw new Error(`${file}: ImageOrientationPatient differs from the rest of the series`);
    }
    const position = header.imagePositionPatient;
    if (!position) throw new Error(`${file}: ImagePositionPatient missing`);
    return { file, header, position, along: dot(position, normal) };
  });
  located.sort((a, b) => a.along - b.along);

  for (let i = 1; i < located.length; i++) {
    if (Math.abs(located[i].along - located[i - 1].along) < 1e-3) {
      throw new Error(`${located[i - 1].file} and ${located[i].file} are at the same slice position`);
    }
  }
  const sliceSpacing =
    located.length > 1
      ? (located[located.length - 1].along - located[0].along) / (located.length - 1)
      : (first.spacingBetweenSlices ?? first.sliceThickness ?? 1);

  return {
    shape: [located.length, rows, columns],
    spacing: [sliceSpacing, pixelSpacing[0], pixelSpacing[1]],
    orientation: [...orientation] as Orientation,
    positions: located.map((s) => [...s.position] as Vec3),
    headers: located.map((s) => s.header),
    files: located.map((s) => s.file),
  };
}

/**
 * arrangeSlices, then decode pixels into a SharedArrayBuffer-backed Float32Array (so the Gaussian
 * filter's workers can read it without a copy), with each slice's column maxima.
 */
export async function assembleVolume(files: string[], headers?: readonly InstanceHeader[], opts: { threads?: number } = {}): Promise<AssembledVolume> {
  const arranged = arrangeSlices(files, headers);
  const [slices, rows, columns] = arranged.shape;
  const out: DecodedSliceBuffers = {
    volume: new SharedArrayBuffer(slices * rows * columns * 4),
    coronalRows: new SharedArrayBuffer(slices * columns * 4),
  };
  const threads = Math.max(1, Math.floor(opts.threads ?? availableParallelism()));
  if (threads > 1 && slices * rows * columns >= SMALL_VOLUME_VOXELS) {
    await ImagingPool.shared().runSplit(threads, slices, (from, to) => ({
      kind: 'decode', files: arranged.files.slice(from, to), headers: arranged.headers.slice(from, to), shape: arranged.shape, from, to, out,
    }));
  } else {
    await decodeSliceRange(arranged.files, arranged.headers, arranged.shape, 0, out);
  }
  return { data: new Float32Array(out.volume), coronalRows: new Float32Array(out.coronalRows), ...arranged };
}
