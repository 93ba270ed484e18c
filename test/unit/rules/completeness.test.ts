import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InstanceHeader } from '../../../src/dicom/instance-header.js';
import { checkCompleteness, type CompletenessResult } from '../../../src/rules/completeness.js';
import type { Orientation, Vec3 } from '../../../src/rules/geometry.js';

const AXIAL: Orientation = [1, 0, 0, 0, 1, 0];
const COS30 = Math.cos(Math.PI / 6);
const SIN30 = Math.sin(Math.PI / 6);
/** Tilted 30 degrees about x; its normal is (0, sin30, cos30). */
const OBLIQUE: Orientation = [1, 0, 0, 0, COS30, -SIN30];
const OBLIQUE_NORMAL: Vec3 = [0, SIN30, COS30];
const RULES = { minImages: 30, maxGapRatio: 0.025 };

interface SeriesShape {
  count: number;
  spacing?: number;
  /** position of slice 0 along the normal */
  start?: number;
  orientation?: Orientation;
  normal?: Vec3;
  numberOfSlices?: number;
}

/** A PET-like series: slice i sits at start + i * spacing along the normal, with an in-plane offset. */
function series({ count, spacing = 3.27, start = -261.6, orientation = AXIAL, normal = [0, 0, 1], numberOfSlices }: SeriesShape): InstanceHeader[] {
  // An in-plane corner offset (perpendicular to the normal) must not change positions along it.
  const row: Vec3 = [orientation[0], orientation[1], orientation[2]];
  return Array.from({ length: count }, (_, i) => {
    const along = start + i * spacing;
    const position: Vec3 = [0, 1, 2].map((k) => normal[k] * along - 350 * row[k]) as Vec3;
    return {
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      sopClassUid: '1.2.840.10008.5.1.4.1.1.128',
      sopInstanceUid: `1.2.3.4.${i + 1}`,
      studyInstanceUid: '1.2.3',
      seriesInstanceUid: '1.2.3.4',
      modality: 'PT',
      rows: 200,
      columns: 200,
      pixelSpacing: [4.07, 4.07],
      imagePositionPatient: position,
      imageOrientationPatient: orientation,
      numberOfSlices,
    };
  });
}

/** Deterministic shuffle (no Math.random: a failing case must fail the same way every run). */
function shuffled<T>(items: T[]): T[] {
  const result = [...items];
  let seed = 7;
  for (let i = result.length - 1; i > 0; i--) {
    seed = (seed * 48271) % 2147483647;
    const j = seed % (i + 1);
    [result[i], result[j]] = [result[j], result[i]];
  }
  return result;
}

function without<T>(items: T[], ...indices: number[]): T[] {
  return items.filter((_, i) => !indices.includes(i));
}

function withSlice(headers: InstanceHeader[], index: number, change: Partial<InstanceHeader>): InstanceHeader[] {
  return headers.map((h, i) => (i === index ? { ...h, ...change } : h));
}

interface Case {
  name: string;
  headers: InstanceHeader[];
  rules?: { minImages: number; maxGapRatio: number };
  /** exact reason, or undefined for ready */
  reason?: string;
  canStillComplete?: boolean;
}

const complete81 = series({ count: 81 });
const withNumber = series({ count: 81, numberOfSlices: 81 });
const oblique = series({ count: 60, spacing: 2, start: 0, orientation: OBLIQUE, normal: OBLIQUE_NORMAL });
const sagittal = series({ count: 40, spacing: 2, start: -40, orientation: [0, 1, 0, 0, 0, -1], normal: [1, 0, 0] });

const cases: Case[] = [
  { name: 'complete, no NumberOfSlices', headers: complete81 },
  { name: 'complete, with NumberOfSlices', headers: withNumber },
  { name: 'complete, shuffled arrival order', headers: shuffled(complete81) },
  { name: 'complete oblique series', headers: shuffled(oblique) },
  { name: 'complete sagittal series (every slice at the same z)', headers: sagittal },
  { name: 'spacing jitter within the ratio', headers: complete81.map((h, i) => (i === 40 ? shiftedBy(h, 0.03) : h)) },
  {
    name: 'one slice missing, with NumberOfSlices (the issue\'s example)',
    headers: without(withNumber, 41),
    reason: '80 of 81 slices; gap of 6.54 mm at z=-130.8',
    canStillComplete: true,
  },
  {
    name: 'one slice missing, without NumberOfSlices',
    headers: without(complete81, 41),
    reason: 'gap of 6.54 mm at z=-130.8',
    canStillComplete: true,
  },
  {
    name: 'one slice missing, shuffled',
    headers: shuffled(without(complete81, 41)),
    reason: 'gap of 6.54 mm at z=-130.8',
  },
  {
    name: 'two slices missing at different places',
    headers: without(complete81, 10, 41),
    reason: 'gaps of 6.54 mm at z=-232.2, 6.54 mm at z=-130.8',
  },
  {
    name: 'two adjacent slices missing',
    headers: without(complete81, 41, 42),
    reason: 'gap of 9.81 mm at z=-130.8',
  },
  {
    name: 'last slice missing, with NumberOfSlices: no gap to show, so it says where it looked',
    headers: without(withNumber, 80),
    reason: '80 of 81 slices; no gap between z=-261.6 and z=-3.3, so slices are missing at an end',
  },
  {
    name: 'short series with one slice missing: only the real gap is named',
    headers: without(series({ count: 12, spacing: 2, start: 0 }), 5),
    rules: { minImages: 5, maxGapRatio: 0.025 },
    reason: 'gap of 4.00 mm at z=8.0',
  },
  {
    name: 'oblique series with one slice missing (position along the normal)',
    headers: shuffled(without(oblique, 30)),
    reason: 'gap of 4.00 mm at z=58.0',
  },
  {
    name: 'spacing jitter beyond the ratio',
    headers: complete81.map((h, i) => (i === 40 ? shiftedBy(h, 0.3) : h)),
    reason: 'gaps of 3.57 mm at z=-134.1, 2.97 mm at z=-130.5',
  },
  {
    name: 'fewer than min images',
    headers: series({ count: 29 }),
    reason: '29 images, at least 30 needed',
    canStillComplete: true,
  },
  {
    name: 'fewer than min images although NumberOfSlices is met',
    headers: series({ count: 25, numberOfSlices: 25 }),
    reason: '25 images, at least 30 needed',
  },
  {
    name: 'fewer than min images and a gap',
    headers: without(series({ count: 30 }), 10),
    reason: 'gap of 6.54 mm at z=-232.2; 29 images, at least 30 needed',
  },
  {
    name: 'duplicate: two instances at one position',
    headers: [...complete81, { ...complete81[10], sopInstanceUid: '1.2.3.4.999' }],
    reason: '2 slices at the same position z=-228.9',
    canStillComplete: false,
  },
  {
    name: 'duplicates at several positions',
    headers: [...complete81, { ...complete81[10], sopInstanceUid: '9.1' }, { ...complete81[10], sopInstanceUid: '9.2' }, { ...complete81[20], sopInstanceUid: '9.3' }],
    reason: '3 slices at the same position z=-228.9 (and 1 more positions with several slices)',
  },
  {
    name: 'mixed geometry: orientation',
    headers: withSlice(complete81, 5, { imageOrientationPatient: [1, 0, 0, 0, 0, -1] }),
    reason: 'mixed geometry: 2 orientations',
    canStillComplete: false,
  },
  {
    name: 'mixed geometry: rows/columns',
    headers: withSlice(complete81, 5, { rows: 256, columns: 256 }),
    reason: 'mixed geometry: 2 image sizes (200x200, 256x256)',
  },
  {
    name: 'mixed geometry: pixel spacing',
    headers: withSlice(complete81, 5, { pixelSpacing: [2.04, 2.04] }),
    reason: 'mixed geometry: 2 pixel spacings (4.07x4.07 mm, 2.04x2.04 mm)',
  },
  {
    name: 'mixed geometry: everything at once',
    headers: withSlice(complete81, 5, { pixelSpacing: [2.04, 2.04], rows: 256, columns: 256, imageOrientationPatient: OBLIQUE }),
    reason: 'mixed geometry: 2 orientations, 2 image sizes (200x200, 256x256), 2 pixel spacings (4.07x4.07 mm, 2.04x2.04 mm)',
  },
  {
    name: 'pixel spacing rounded differently is not mixed',
    headers: withSlice(complete81, 5, { pixelSpacing: [4.0700001, 4.07] }),
  },
  {
    name: 'NumberOfSlices disagrees between slices',
    headers: withSlice(withNumber, 3, { numberOfSlices: 82 }),
    reason: 'NumberOfSlices differs between slices (81, 82)',
    canStillComplete: false,
  },
  {
    name: 'more slices than NumberOfSlices',
    headers: series({ count: 82, numberOfSlices: 81 }),
    reason: '82 slices, but NumberOfSlices is 81',
    canStillComplete: false,
  },
  {
    name: 'slices without position cannot be ordered',
    headers: withSlice(withSlice(complete81, 3, { imagePositionPatient: undefined }), 4, { imagePositionPatient: undefined }),
    reason: 'cannot order slices: ImagePositionPatient missing on 2 of 81 slices',
    canStillComplete: false,
  },
  { name: 'no images', headers: [], reason: 'no images', canStillComplete: true },
];

function shiftedBy(header: InstanceHeader, mm: number): InstanceHeader {
  const [x, y, z] = header.imagePositionPatient!;
  return { ...header, imagePositionPatient: [x, y, z + mm] };
}

for (const c of cases) {
  test(`completeness: ${c.name}`, () => {
    const result: CompletenessResult = checkCompleteness(c.headers, c.rules ?? RULES);
    if (c.reason === undefined) {
      assert.equal(result.ready, true, result.ready ? '' : result.reason);
      return;
    }
    assert.equal(result.ready, false);
    if (result.ready) return;
    assert.equal(result.reason, c.reason);
    if (c.canStillComplete !== undefined) assert.equal(result.canStillComplete, c.canStillComplete);
  });
}

test('ready: sortedIndex follows the slice normal and spacing is the mean gap', () => {
  const arrived = shuffled(complete81);
  const result = checkCompleteness(arrived, RULES);
  assert.ok(result.ready);
  const zs = result.sortedIndex.map((i) => arrived[i].imagePositionPatient![2]);
  assert.deepEqual(zs, complete81.map((h) => h.imagePositionPatient![2]));
  assert.ok(Math.abs(result.spacing - 3.27) < 1e-9);
});

test('ready oblique: sortedIndex ascends along the normal, not along z alone', () => {
  const arrived = shuffled(oblique);
  const result = checkCompleteness(arrived, RULES);
  assert.ok(result.ready);
  const uids = result.sortedIndex.map((i) => arrived[i].sopInstanceUid);
  assert.deepEqual(uids, oblique.map((h) => h.sopInstanceUid));
  assert.ok(Math.abs(result.spacing - 2) < 1e-9);
});

test('not ready: missing slices are located for the caller', () => {
  const result = checkCompleteness(without(withNumber, 41, 42, 60), RULES);
  assert.equal(result.ready, false);
  if (result.ready) return;
  assert.equal(result.missing?.expected, 81);
  assert.equal(result.missing?.found, 78);
  assert.deepEqual(result.missing?.gaps.map((g) => [Number(g.after.toFixed(1)), Number(g.size.toFixed(2)), g.missingSlices]),
    [[-130.8, 9.81, 2], [-68.7, 6.54, 1]]);
});

test('many gaps: the reason names three and counts the rest', () => {
  const result = checkCompleteness(without(complete81, 10, 20, 30, 40, 50), RULES);
  assert.equal(result.ready, false);
  if (result.ready) return;
  assert.match(result.reason, /^gaps of 6\.54 mm at z=-232\.2, 6\.54 mm at z=-199\.5, 6\.54 mm at z=-166\.8 and 2 more$/);
});
