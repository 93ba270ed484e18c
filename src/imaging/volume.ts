/**
 * A PET volume in memory: float32 activity concentration (after per-slice rescale), stored
 * C-order with shape [slices, rows, columns] (axis order "slice,row,column"): the fastest axis
 * runs along a row (DICOM column index), as in the DICOM pixel data of one slice.
 */
export interface Volume {
  data: Float32Array;
  /** [slices, rows, columns] */
  shape: [number, number, number];
  /** Voxel size in mm along [slice normal, row direction (between rows), column direction]. */
  spacing: [number, number, number];
  /** ImageOrientationPatient shared by all slices (row cosines then column cosines). */
  orientation: [number, number, number, number, number, number];
  /** ImagePositionPatient of each slice, in the volume's slice order. */
  positions: [number, number, number][];
}

/** A volume's geometry without its voxels. */
export type VolumeGeometry = Omit<Volume, 'data'>;

export const AXIS_ORDER = 'slice,row,column' as const;

export function voxelCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The normal of slices with this ImageOrientationPatient (row × column direction cosines). */
export function sliceNormal(orientation: readonly number[]): [number, number, number] {
  const [rx, ry, rz, cx, cy, cz] = orientation;
  return [ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx];
}
