/**
 * Is a collected series complete? The compilator asks this after `compilator.quiet_seconds` without
 * new instances. Rules (DESIGN.md, issue 4): at least `minImages` images; the count equals
 * NumberOfSlices (0054,0081) when present; otherwise every gap between neighbouring slices, sorted
 * along the slice normal, is within `maxGapRatio` of the mean gap. Mixed geometry (orientation,
 * rows/columns, pixel spacing) and two slices at one position are refused.
 *
 * Positions in reasons ("at z=-130.8") are positions along the slice normal of the slice *before*
 * the gap, labelled with the nearest patient axis; for axial slices that is the patient z (see
 * geometry.ts).
 */
import type { InstanceHeader } from '../dicom/instance-header.js';
import {
  axisLabel, distinctOrientations, samePositionRuns, sortAlongNormal,
  type Orientation,
} from './geometry.js';
import { describeTemporalRefusal, expectedImages, temporalSeries, type TemporalSeries } from './temporal-series.js';

export interface CompletenessRules {
  minImages: number;
  /** 0.025 = every gap within 2.5 % of the mean gap */
  maxGapRatio: number;
}

export interface SliceGap {
  /** Position along the normal of the slice before the gap (mm). */
  after: number;
  /** Distance to the next slice (mm). */
  size: number;
  /** Slices that would fit into the gap at the usual spacing (0 for a gap that is too small). */
  missingSlices: number;
}

export interface MissingSlices {
  /** NumberOfSlices, when the series states it */
  expected?: number;
  found: number;
  /** Gaps that differ from the usual spacing, ascending along the normal. */
  gaps: SliceGap[];
}

export type CompletenessResult =
  | { ready: true; sortedIndex: number[]; spacing: number }
  | {
    ready: false;
    reason: string;
    /** false when more instances cannot help (mixed geometry, duplicates, too many slices...). */
    canStillComplete: boolean;
    missing?: MissingSlices;
  };

/** Pixel spacings closer than this are the same (DS values are rounded differently by writers). */
const PIXEL_SPACING_TOLERANCE_MM = 1e-3;
/** Reasons name at most this many gaps; an operator needs the first few, not a list of 40. */
const GAPS_NAMED_IN_REASON = 3;

export function checkCompleteness(headers: InstanceHeader[], rules: CompletenessRules): CompletenessResult {
  const found = headers.length;
  if (found === 0) return { ready: false, reason: 'no images', canStillComplete: true };

  const structural = structuralProblems(headers);
  if (structural.length > 0) return { ready: false, reason: structural.join('; '), canStillComplete: false };

  const { order, positions, normal } = sortAlongNormal(headers);
  const axis = axisLabel(normal);
  const sorted = order.map((i) => positions[i]);
  const gaps = sorted.slice(1).map((position, i) => position - sorted[i]);

  // Frames of a dynamic or gated series share positions: wait for them all, then refuse the series once.
  const temporal = temporalSeries(headers);
  if (temporal) return temporalCompleteness(temporal, headers, sorted);

  const duplicates = duplicatePositions(sorted);
  if (duplicates.length > 0) {
    const [first, ...others] = duplicates;
    const more = others.length > 0 ? ` (and ${others.length} more positions with several slices)` : '';
    return {
      ready: false,
      reason: `${first.count} slices at the same position ${axis}=${formatPosition(first.position)}${more}`,
      canStillComplete: false,
    };
  }

  const expected = headers.find((h) => h.numberOfSlices !== undefined)?.numberOfSlices;
  const { meetsRule, located } = examineGaps(sorted, gaps, rules.maxGapRatio);
  const problems: string[] = [];
  let canStillComplete = true;

  if (expected !== undefined) {
    if (found > expected) {
      problems.push(`${found} slices, but NumberOfSlices is ${expected}`);
      canStillComplete = false;
    } else if (found < expected) {
      problems.push(`${found} of ${expected} slices`);
      problems.push(located.length > 0
        ? describeGaps(located, axis)
        : `no gap between ${axis}=${formatPosition(sorted[0])} and ${axis}=${formatPosition(sorted[sorted.length - 1])}, so slices are missing at an end`);
    }
  } else if (!meetsRule) {
    problems.push(describeGaps(located, axis));
  }
  if (found < rules.minImages) problems.push(`${found} images, at least ${rules.minImages} needed`);

  if (problems.length > 0) {
    const missing = expected !== undefined || !meetsRule ? { expected, found, gaps: located } : undefined;
    return { ready: false, reason: problems.join('; '), canStillComplete, missing };
  }
  return { ready: true, sortedIndex: order, spacing: meanSpacing(gaps, headers[0]) };
}

/**
 * A dynamic or gated series is complete with NumberOfSlices × frames images, or, without
 * NumberOfSlices, when every position has all its frames; complete, it fails (it cannot be
 * processed), incomplete it waits, and is aborted after the idle time with what it is.
 */
function temporalCompleteness(temporal: TemporalSeries, headers: InstanceHeader[], sorted: number[]): CompletenessResult {
  const refusal = describeTemporalRefusal(temporal);
  const found = headers.length;
  const expected = expectedImages(temporal, headers);
  if (expected !== undefined) {
    if (found >= expected) return { ready: false, reason: refusal, canStillComplete: false };
    return { ready: false, reason: `${refusal}; ${found} of ${expected} images so far`, canStillComplete: true };
  }
  const runs = samePositionRuns(sorted);
  const short = runs.filter(({ start, end }) => end - start < temporal.frames).length;
  if (short === 0) return { ready: false, reason: refusal, canStillComplete: false };
  return { ready: false, reason: `${refusal}; ${short} of ${runs.length} positions lack frames so far`, canStillComplete: true };
}

/** Problems that more instances cannot fix: unknown slice positions, mixed geometry, disagreeing NumberOfSlices. */
function structuralProblems(headers: InstanceHeader[]): string[] {
  const problems: string[] = [];
  const total = headers.length;

  const withoutPosition = headers.filter((h) => !h.imagePositionPatient).length;
  const withoutOrientation = headers.filter((h) => !h.imageOrientationPatient).length;
  if (withoutPosition > 0) problems.push(`cannot order slices: ImagePositionPatient missing on ${withoutPosition} of ${total} slices`);
  if (withoutOrientation > 0) problems.push(`cannot order slices: ImageOrientationPatient missing on ${withoutOrientation} of ${total} slices`);

  const mixed: string[] = [];
  const orientations = distinctOrientations(headers.flatMap((h) => h.imageOrientationPatient ? [h.imageOrientationPatient as Orientation] : []));
  if (orientations.length > 1) mixed.push(`${orientations.length} orientations`);

  const sizes = distinct(headers.flatMap((h) => h.rows !== undefined && h.columns !== undefined ? [`${h.rows}x${h.columns}`] : []));
  if (sizes.length > 1) mixed.push(`${sizes.length} image sizes (${sizes.join(', ')})`);

  const spacings = distinctSpacings(headers.flatMap((h) => h.pixelSpacing ? [h.pixelSpacing] : []));
  if (spacings.length > 1) {
    mixed.push(`${spacings.length} pixel spacings (${spacings.map(([r, c]) => `${formatMm(r)}x${formatMm(c)} mm`).join(', ')})`);
  }
  if (mixed.length > 0) problems.push(`mixed geometry: ${mixed.join(', ')}`);

  const stated = distinct(headers.flatMap((h) => h.numberOfSlices !== undefined ? [h.numberOfSlices] : []));
  if (stated.length > 1) problems.push(`NumberOfSlices differs between slices (${stated.join(', ')})`);

  return problems;
}

function distinct<T>(values: T[]): T[] {
  return [...new Set(values)];
}

function distinctSpacings(spacings: [number, number][]): [number, number][] {
  const result: [number, number][] = [];
  for (const spacing of spacings) {
    const known = result.some((s) => Math.abs(s[0] - spacing[0]) <= PIXEL_SPACING_TOLERANCE_MM
      && Math.abs(s[1] - spacing[1]) <= PIXEL_SPACING_TOLERANCE_MM);
    if (!known) result.push(spacing);
  }
  return result;
}

/** Runs of sorted positions that coincide, with their size. */
function duplicatePositions(sorted: number[]): { position: number; count: number }[] {
  return samePositionRuns(sorted).filter(({ start, end }) => end - start > 1).map(({ start, end }) => ({ position: sorted[start], count: end - start }));
}

/**
 * The rule is the product's: every gap within maxGapRatio of the mean gap. To say *where* slices are
 * missing, the usual spacing is the median gap: one missing slice shifts the mean of a short series
 * enough that every gap would look wrong against it, while the median stays on the real spacing.
 * When the rule holds, `located` still names gaps a whole slice wide (for NumberOfSlices series).
 */
function examineGaps(sorted: number[], gaps: number[], maxGapRatio: number): { meetsRule: boolean; located: SliceGap[] } {
  if (gaps.length === 0) return { meetsRule: true, located: [] };
  const usual = median(gaps);
  const toGap = (i: number): SliceGap => ({
    after: sorted[i],
    size: gaps[i],
    missingSlices: Math.max(0, Math.round(gaps[i] / usual) - 1),
  });
  const mean = gaps.reduce((sum, gap) => sum + gap, 0) / gaps.length;
  const deviationFromMean = gaps.map((gap) => Math.abs(gap - mean));
  const meetsRule = deviationFromMean.every((deviation) => deviation <= maxGapRatio * mean);

  const offUsual = gaps.flatMap((gap, i) => Math.abs(gap - usual) > maxGapRatio * usual ? [toGap(i)] : []);
  if (meetsRule) return { meetsRule, located: offUsual.filter((gap) => gap.missingSlices > 0) };
  if (offUsual.length > 0) return { meetsRule, located: offUsual };
  const worst = deviationFromMean.indexOf(Math.max(...deviationFromMean));
  return { meetsRule, located: [toGap(worst)] };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function describeGaps(gaps: SliceGap[], axis: string): string {
  const named = gaps.slice(0, GAPS_NAMED_IN_REASON)
    .map((gap) => `${formatMm(gap.size)} mm at ${axis}=${formatPosition(gap.after)}`);
  const more = gaps.length > GAPS_NAMED_IN_REASON ? ` and ${gaps.length - GAPS_NAMED_IN_REASON} more` : '';
  return `${gaps.length === 1 ? 'gap' : 'gaps'} of ${named.join(', ')}${more}`;
}

/** Mean distance between neighbouring slices; a single slice falls back to the header's own spacing. */
function meanSpacing(gaps: number[], first: InstanceHeader): number {
  if (gaps.length === 0) return first.spacingBetweenSlices ?? first.sliceThickness ?? 0;
  return gaps.reduce((sum, gap) => sum + gap, 0) / gaps.length;
}

function formatPosition(mm: number): string {
  const text = mm.toFixed(1);
  return text === '-0.0' ? '0.0' : text;
}

function formatMm(mm: number): string {
  return mm.toFixed(2);
}
