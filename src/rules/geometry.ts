/**
 * Slice geometry of a series from the header alone: which way the slices are stacked and where each
 * slice sits along that direction. Used by the completeness rule (gaps, duplicates, mixed geometry)
 * and by whoever assembles the volume (the slice order).
 *
 * Convention: the slice normal is the cross product of the row and column direction cosines, flipped
 * if needed so that its largest component is positive. Positions along it therefore equal the patient
 * coordinate of the nearest axis for non-oblique slices (z for axial, x for sagittal, y for coronal)
 * whatever the patient position (head first / feet first), which keeps reasons readable: "at z=-130.8"
 * means the patient z of that slice for an axial series.
 */

export type Vec3 = [number, number, number];
export type Orientation = [number, number, number, number, number, number];

/** Two slices closer than this along the normal are at the same position. */
export const SAME_POSITION_MM = 0.01;

/** Direction cosines from a scanner carry rounding noise in the 5th-6th decimal. */
export const ORIENTATION_TOLERANCE = 1e-3;

export function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

export function dot(a: Vec3, b: Vec3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

export function normalise(v: Vec3): Vec3 {
  const length = Math.hypot(v[0], v[1], v[2]);
  if (length === 0 || !Number.isFinite(length)) throw new Error('cannot normalise a zero-length vector');
  return [v[0] / length, v[1] / length, v[2] / length];
}

/** Index (0 = x, 1 = y, 2 = z) of the component with the largest magnitude. */
function dominantAxis(v: Vec3): 0 | 1 | 2 {
  const magnitudes = v.map(Math.abs);
  if (magnitudes[0] >= magnitudes[1] && magnitudes[0] >= magnitudes[2]) return 0;
  return magnitudes[1] >= magnitudes[2] ? 1 : 2;
}

/** Unit normal of the slice plane, signed so that its dominant component is positive (see module comment). */
export function sliceNormal(orientation: Orientation): Vec3 {
  const row: Vec3 = [orientation[0], orientation[1], orientation[2]];
  const column: Vec3 = [orientation[3], orientation[4], orientation[5]];
  const normal = normalise(cross(row, column));
  return normal[dominantAxis(normal)] < 0 ? [-normal[0], -normal[1], -normal[2]] : normal;
}

/** Name of the patient axis closest to the normal, for messages: "x", "y" or "z". */
export function axisLabel(normal: Vec3): 'x' | 'y' | 'z' {
  return (['x', 'y', 'z'] as const)[dominantAxis(normal)];
}

/** Signed distance of a slice from the patient origin along the normal (mm). */
export function positionAlongNormal(imagePosition: Vec3, normal: Vec3): number {
  return dot(imagePosition, normal);
}

/** Same slice orientation: every direction cosine within the tolerance. */
export function sameOrientation(a: Orientation, b: Orientation, tolerance = ORIENTATION_TOLERANCE): boolean {
  return a.every((value, i) => Math.abs(value - b[i]) <= tolerance);
}

/** The distinct orientations among the given ones (first occurrence of each kept). */
export function distinctOrientations(orientations: Orientation[], tolerance = ORIENTATION_TOLERANCE): Orientation[] {
  const distinct: Orientation[] = [];
  for (const orientation of orientations) {
    if (!distinct.some((known) => sameOrientation(known, orientation, tolerance))) distinct.push(orientation);
  }
  return distinct;
}

export interface PlacedSlice {
  imagePositionPatient?: Vec3;
  imageOrientationPatient?: Orientation;
}

export interface SliceOrder {
  /** Indices into the input, ascending along the normal. */
  order: number[];
  /** Position along the normal of each input slice (same indexing as the input, not as `order`). */
  positions: number[];
  normal: Vec3;
}

/**
 * Orders slices along the normal of the first slice's orientation (the caller checks beforehand that
 * all slices share it). Ties keep their input order, so the result does not depend on the sort
 * implementation. Throws when a slice lacks position or orientation: callers check that first.
 */
export function sortAlongNormal(slices: readonly PlacedSlice[]): SliceOrder {
  if (slices.length === 0) return { order: [], positions: [], normal: [0, 0, 1] };
  const first = slices[0].imageOrientationPatient;
  if (!first) throw new Error('slice 0 has no ImageOrientationPatient');
  const normal = sliceNormal(first);
  const positions = slices.map((slice, i) => {
    if (!slice.imagePositionPatient) throw new Error(`slice ${i} has no ImagePositionPatient`);
    return positionAlongNormal(slice.imagePositionPatient, normal);
  });
  const order = positions.map((_, i) => i).sort((a, b) => positions[a] - positions[b] || a - b);
  return { order, positions, normal };
}

/**
 * Ascending positions along the normal grouped into runs at the same position: [start, end)
 * index ranges into `sorted`, every position in exactly one run.
 */
export function samePositionRuns(sorted: readonly number[]): { start: number; end: number }[] {
  const runs: { start: number; end: number }[] = [];
  let start = 0;
  while (start < sorted.length) {
    let end = start + 1;
    while (end < sorted.length && sorted[end]! - sorted[end - 1]! <= SAME_POSITION_MM) end++;
    runs.push({ start, end });
    start = end;
  }
  return runs;
}
