import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InstanceHeader } from '../../../src/dicom/instance-header.js';
import { checkCompleteness } from '../../../src/rules/completeness.js';
import { temporalSeries } from '../../../src/rules/temporal-series.js';

const RULES = { minImages: 10, maxGapRatio: 0.025 };
const POSITIONS = 20;

/** `frames` frames of POSITIONS axial slices each; `tags` sets the frame-count attributes on every image. */
function frames(count: number, tags: Partial<InstanceHeader> = {}, timing = true): InstanceHeader[] {
  return Array.from({ length: count * POSITIONS }, (_, i) => {
    const frame = Math.floor(i / POSITIONS);
    return {
      transferSyntaxUid: '1.2.840.10008.1.2.1', sopClassUid: '1.2.840.10008.5.1.4.1.1.128',
      sopInstanceUid: `1.2.3.4.${i + 1}`, studyInstanceUid: '1.2.3', seriesInstanceUid: '1.2.3.4', modality: 'PT',
      rows: 128, columns: 128, pixelSpacing: [4, 4], imageOrientationPatient: [1, 0, 0, 0, 1, 0],
      imagePositionPatient: [-256, -256, -100 + 3.27 * (i % POSITIONS)],
      numberOfSlices: POSITIONS,
      ...(timing ? { frameReferenceTime: 30_000 + 60_000 * frame, actualFrameDuration: 60_000 } : {}),
      ...tags,
    };
  });
}

test('dynamic: NumberOfTimeSlices names the frames; complete with NumberOfSlices × frames, then refused once, saying what to send', () => {
  const series = frames(24, { numberOfTimeSlices: 24, seriesType: ['DYNAMIC', 'IMAGE'] });
  assert.deepEqual(temporalSeries(series), { kind: 'dynamic', frames: 24, evidence: 'NumberOfTimeSlices 24' });
  assert.deepEqual(checkCompleteness(series, RULES), {
    ready: false, canStillComplete: false,
    reason: 'dynamic PET series with 24 frames (NumberOfTimeSlices 24): petspool processes static (single-frame) series only; send the static reconstruction (one frame) of the acquisition',
  });
});

test('dynamic, not all frames in yet: waits (it may still complete), never "slices at the same position"', () => {
  const partial = frames(24, { numberOfTimeSlices: 24 }).slice(0, 5 * POSITIONS + 3);
  const result = checkCompleteness(partial, RULES);
  assert.equal(result.ready, false);
  assert.equal(!result.ready && result.canStillComplete, true);
  assert.match(!result.ready ? result.reason : '', /^dynamic PET series with 24 frames .*; 103 of 480 images so far$/);
  // Even the first frame alone (a whole static-looking volume) waits for the rest.
  const first = checkCompleteness(frames(24, { numberOfTimeSlices: 24 }).slice(0, POSITIONS), RULES);
  assert.equal(first.ready, false);
});

test('gated: NumberOfRRIntervals × NumberOfTimeSlots gates', () => {
  const series = frames(8, { numberOfRRIntervals: 1, numberOfTimeSlots: 8, seriesType: ['GATED', 'IMAGE'] });
  assert.deepEqual(temporalSeries(series), { kind: 'gated', frames: 8, evidence: 'NumberOfTimeSlots 8' });
  const result = checkCompleteness(series, RULES);
  assert.equal(!result.ready && result.reason,
    'gated PET series with 8 gates (NumberOfTimeSlots 8): petspool processes static (single-frame) series only; send the ungated (static) reconstruction');
  assert.deepEqual(temporalSeries(frames(6, { numberOfRRIntervals: 2, numberOfTimeSlots: 3 })),
    { kind: 'gated', frames: 6, evidence: 'NumberOfRRIntervals 2, NumberOfTimeSlots 3' });
});

test('no frame-count tags: repeated positions with different frame timing are frames; without NumberOfSlices complete when every position has them', () => {
  const series = frames(3).map((h) => ({ ...h, numberOfSlices: undefined }));
  assert.deepEqual(temporalSeries(series), {
    kind: 'dynamic', frames: 3, evidence: 'FrameReferenceTime differs between slices at the same position',
  });
  const complete = checkCompleteness(series, RULES);
  assert.equal(!complete.ready && complete.canStillComplete, false);
  assert.match(!complete.ready ? complete.reason : '', /^dynamic PET series with 3 frames \(FrameReferenceTime differs/);
  const waiting = checkCompleteness(series.slice(0, 2 * POSITIONS + 4), RULES);
  assert.equal(!waiting.ready && waiting.canStillComplete, true);
  assert.match(!waiting.ready ? waiting.reason : '', /16 of 20 positions lack frames so far$/);
  const gated = frames(4, { seriesType: ['GATED', 'IMAGE'] }, false).map((h, i) => ({ ...h, temporalPositionIndex: Math.floor(i / POSITIONS) + 1 }));
  assert.deepEqual(temporalSeries(gated), {
    kind: 'gated', frames: 4, evidence: 'TemporalPositionIndex differs between slices at the same position, SeriesType GATED',
  });
});

test('static series: one frame, NumberOfTimeSlices 1, or duplicates with the same timing stay what they were', () => {
  const single = frames(1, { numberOfTimeSlices: 1, seriesType: ['DYNAMIC', 'IMAGE'] });
  assert.equal(temporalSeries(single), undefined);
  assert.equal(checkCompleteness(single, RULES).ready, true);
  // SeriesType WHOLE BODY (or STATIC) with a stray NumberOfTimeSlices: static, as it says.
  const wholeBody = frames(1, { numberOfTimeSlices: 5, seriesType: ['WHOLE BODY', 'IMAGE'] });
  assert.equal(temporalSeries(wholeBody), undefined);
  assert.equal(checkCompleteness(wholeBody, RULES).ready, true);
  // Two bed positions' overlap sent twice (other timing, a few positions only): duplicates, as before.
  const overlap = [...frames(1), ...frames(2).slice(POSITIONS + 8, POSITIONS + 10)];
  assert.equal(temporalSeries(overlap), undefined);
  assert.match((checkCompleteness(overlap, RULES) as { reason: string }).reason, /^2 slices at the same position z=.*\(and 1 more positions with several slices\)/);
  // The same slice sent twice (same timing) is a duplicate, as before.
  const duplicate = [...frames(1), frames(1)[4]!].map((h, i) => ({ ...h, sopInstanceUid: `9.${i}` }));
  assert.equal(temporalSeries(duplicate), undefined);
  assert.match((checkCompleteness(duplicate, RULES) as { reason: string }).reason, /^2 slices at the same position z=/);
});
