/**
 * Dynamic and gated PET: one series holding several frames (time frames, or cardiac/respiratory
 * gates) of the same slice positions. The remote service takes one static volume per task, so such
 * a series is recognised here and refused as a whole by the completeness rule once all its images
 * are in, never stacked into one volume nor failed as "slices at the same position".
 *
 * Recognised by, in this order: NumberOfTimeSlices (0054,0101) > 1 (dynamic); NumberOfRRIntervals
 * (0054,0061) or NumberOfTimeSlots (0054,0071) > 1 (gated, frames = intervals × slots); and, for
 * series without those, slices repeating most positions while their TemporalPositionIndex,
 * FrameReferenceTime or ActualFrameDuration differ (frames = images per position). SeriesType
 * (0054,1000) GATED names the kind in that last case; SeriesType STATIC or WHOLE BODY leaves only
 * that last test (a stray count attribute does not make a static series dynamic).
 */
import type { InstanceHeader } from '../dicom/instance-header.js';
import { samePositionRuns, sortAlongNormal } from './geometry.js';

export interface TemporalSeries {
  kind: 'dynamic' | 'gated';
  /** Frames (or gates) the series holds. */
  frames: number;
  /** How we know, for the reason: "NumberOfTimeSlices 24". */
  evidence: string;
}

/** SeriesType (0054,1000) value 1 of a series of one frame. */
const STATIC_TYPES = new Set(['STATIC', 'WHOLE BODY']);

const firstPositive = (headers: readonly InstanceHeader[], pick: (h: InstanceHeader) => number | undefined): number | undefined =>
  headers.map(pick).find((n): n is number => n !== undefined && n > 0);

/** The series' frames when it is dynamic or gated; undefined for a static series. */
export function temporalSeries(headers: readonly InstanceHeader[]): TemporalSeries | undefined {
  // A series that calls itself static is believed unless its slices really repeat positions.
  if (STATIC_TYPES.has(headers[0]?.seriesType?.[0]?.toUpperCase() ?? '')) return repeatedPositionsInTime(headers);
  const timeSlices = firstPositive(headers, (h) => h.numberOfTimeSlices);
  if (timeSlices !== undefined && timeSlices > 1) return { kind: 'dynamic', frames: timeSlices, evidence: `NumberOfTimeSlices ${timeSlices}` };
  const intervals = firstPositive(headers, (h) => h.numberOfRRIntervals) ?? 1;
  const slots = firstPositive(headers, (h) => h.numberOfTimeSlots) ?? 1;
  if (intervals * slots > 1) {
    const evidence = [intervals > 1 ? `NumberOfRRIntervals ${intervals}` : '', slots > 1 ? `NumberOfTimeSlots ${slots}` : ''].filter(Boolean).join(', ');
    return { kind: 'gated', frames: intervals * slots, evidence };
  }
  return repeatedPositionsInTime(headers);
}

/** Without the count tags: the same position repeated with different frame timing. */
function repeatedPositionsInTime(headers: readonly InstanceHeader[]): TemporalSeries | undefined {
  if (headers.some((h) => !h.imagePositionPatient || !h.imageOrientationPatient)) return undefined;
  const { order, positions } = sortAlongNormal(headers);
  let frames = 1;
  const differing = new Set<string>();
  const runs = samePositionRuns(order.map((i) => positions[i]!));
  for (const { start, end } of runs) {
    const atPosition = order.slice(start, end).map((i) => headers[i]!);
    for (const [keyword, pick] of TIMING) {
      if (new Set(atPosition.map(pick).filter((v) => v !== undefined)).size > 1) differing.add(keyword);
    }
    frames = Math.max(frames, end - start);
  }
  // Frames repeat (nearly) every position; a few doubled slices (overlapping bed positions sent
  // twice) are duplicates, reported as such by the completeness rule.
  const repeated = runs.filter(({ start, end }) => end - start > 1).length;
  if (frames < 2 || differing.size === 0 || repeated * 2 <= runs.length) return undefined;
  const seriesType = headers[0]!.seriesType?.[0]?.toUpperCase();
  return {
    kind: seriesType === 'GATED' ? 'gated' : 'dynamic',
    frames,
    evidence: `${[...differing].join(', ')} ${differing.size > 1 ? 'differ' : 'differs'} between slices at the same position${seriesType ? `, SeriesType ${seriesType}` : ''}`,
  };
}

const TIMING: [string, (h: InstanceHeader) => number | undefined][] = [
  ['TemporalPositionIndex', (h) => h.temporalPositionIndex],
  ['FrameReferenceTime', (h) => h.frameReferenceTime],
  ['ActualFrameDuration', (h) => h.actualFrameDuration],
];

/** Images a complete temporal series holds, when NumberOfSlices says how many positions. */
export function expectedImages(series: TemporalSeries, headers: readonly InstanceHeader[]): number | undefined {
  const slices = headers.find((h) => h.numberOfSlices !== undefined)?.numberOfSlices;
  return slices === undefined ? undefined : slices * series.frames;
}

/** The reason a complete dynamic or gated series fails with: what it is, and what to send instead. */
export function describeTemporalRefusal(series: TemporalSeries): string {
  const what = series.kind === 'dynamic' ? `dynamic PET series with ${series.frames} frames` : `gated PET series with ${series.frames} gates`;
  const instead = series.kind === 'dynamic'
    ? 'send the static reconstruction (one frame) of the acquisition'
    : 'send the ungated (static) reconstruction';
  return `${what} (${series.evidence}): petspool processes static (single-frame) series only; ${instead}`;
}
