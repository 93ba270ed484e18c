/**
 * Builds the float32 activity volume of one PET series from its slice files: slices sorted along
 * the slice normal, per-slice RescaleSlope/Intercept applied, compressed pixel data decoded.
 * Files are read one at a time and decoded straight into one preallocated array, so peak memory is
 * one volume plus one slice.
 */
import { readFileSync } from 'node:fs';
import type { InstanceHeader } from '../dicom/instance-header.js';
import { readInstanceHeader } from '../dicom/read-header.js';
import { decodeSliceInto } from './decode-pixels.js';
import type { Volume } from './volume.js';

export interface AssembledVolume extends Volume {
  /** Headers in the volume's slice order. */
  headers: InstanceHeader[];
  /** Files in the volume's slice order. */
  files: string[];
}

type Vec3 = [number, number, number];
type Orientation = [number, number, number, number, number, number];

/** Tolerance for "same orientation" between slices (direction cosines). */
const ORIENTATION_TOLERANCE = 1e-4;

export function sliceNormal(orientation: readonly number[]): Vec3 {
  const [rx, ry, rz, cx, cy, cz] = orientation;
  return [ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx];
}

function dot(a: readonly number[], b: readonly number[]): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/** A series' geometry and slice order from its headers alone: an AssembledVolume without voxels. */
export type ArrangedSlices = Omit<AssembledVolume, 'data'>;

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
 * filter's workers can read it without a copy).
 */
export async function assembleVolume(files: string[], headers?: readonly InstanceHeader[]): Promise<AssembledVolume> {
  const arranged = arrangeSlices(files, headers);
  const [slices, rows, columns] = arranged.shape;
  const plane = rows * columns;
  const data = new Float32Array(new SharedArrayBuffer(slices * plane * 4));
  for (let z = 0; z < slices; z++) {
    const file = arranged.files[z];
    try {
      // Blocking reads: the slices were just received (page cache, tens of microseconds each), and
      // awaiting four hand-overs to the I/O threads per file, one file after the other, cost more.
      await decodeSliceInto(readFileSync(file), arranged.headers[z], data, z * plane);
    } catch (err) {
      throw new Error(`${file}: ${(err as Error).message}`);
    }
  }
  return { data, ...arranged };
}
