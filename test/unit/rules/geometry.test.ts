import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  axisLabel, distinctOrientations, positionAlongNormal, sameOrientation, sliceNormal, sortAlongNormal,
  type Orientation, type Vec3,
} from '../../../src/rules/geometry.js';

const AXIAL: Orientation = [1, 0, 0, 0, 1, 0];

function assertVecClose(actual: Vec3, expected: Vec3): void {
  actual.forEach((value, i) => assert.ok(Math.abs(value - expected[i]) < 1e-9, `${actual} != ${expected}`));
}

test('slice normal: cross product of row and column, signed so the dominant axis is positive', () => {
  const cos30 = Math.cos(Math.PI / 6);
  const sin30 = Math.sin(Math.PI / 6);
  const cases: { name: string; orientation: Orientation; normal: Vec3; axis: 'x' | 'y' | 'z' }[] = [
    { name: 'axial', orientation: AXIAL, normal: [0, 0, 1], axis: 'z' },
    { name: 'axial, row flipped (normal would point to -z)', orientation: [-1, 0, 0, 0, 1, 0], normal: [0, 0, 1], axis: 'z' },
    { name: 'sagittal', orientation: [0, 1, 0, 0, 0, -1], normal: [1, 0, 0], axis: 'x' },
    { name: 'coronal', orientation: [1, 0, 0, 0, 0, -1], normal: [0, 1, 0], axis: 'y' },
    { name: 'oblique, 30 degrees about x', orientation: [1, 0, 0, 0, cos30, -sin30], normal: [0, sin30, cos30], axis: 'z' },
    { name: 'not quite unit cosines are normalised', orientation: [2, 0, 0, 0, 2, 0], normal: [0, 0, 1], axis: 'z' },
  ];
  for (const c of cases) {
    const normal = sliceNormal(c.orientation);
    assertVecClose(normal, c.normal);
    assert.equal(axisLabel(normal), c.axis, c.name);
  }
});

test('position along the normal equals patient z for axial slices, whatever the row direction', () => {
  assert.equal(positionAlongNormal([12, -40, -130.8], sliceNormal(AXIAL)), -130.8);
  assert.equal(positionAlongNormal([12, -40, -130.8], sliceNormal([-1, 0, 0, 0, 1, 0])), -130.8);
});

test('sortAlongNormal orders shuffled slices and keeps the input order of ties', () => {
  const zs = [5, -5, 0, 10, 0];
  const slices = zs.map((z) => ({ imagePositionPatient: [1, 2, z] as Vec3, imageOrientationPatient: AXIAL }));
  const { order, positions } = sortAlongNormal(slices);
  assert.deepEqual(order, [1, 2, 4, 0, 3]);
  assert.deepEqual(positions, zs);
});

test('sortAlongNormal sorts a sagittal series by x, where z alone says nothing', () => {
  const xs = [3, 1, 2];
  const slices = xs.map((x) => ({ imagePositionPatient: [x, 0, 50] as Vec3, imageOrientationPatient: [0, 1, 0, 0, 0, -1] as Orientation }));
  assert.deepEqual(sortAlongNormal(slices).order, [1, 2, 0]);
});

test('sortAlongNormal refuses slices without position', () => {
  assert.throws(() => sortAlongNormal([{ imageOrientationPatient: AXIAL }]), /ImagePositionPatient/);
});

test('sameOrientation tolerates rounding noise but not a different plane', () => {
  assert.equal(sameOrientation(AXIAL, [1, 0.00001, 0, 0, 0.99999, 0]), true);
  assert.equal(sameOrientation(AXIAL, [1, 0, 0, 0, 0, -1]), false);
  assert.equal(sameOrientation(AXIAL, [1, 0.01, 0, 0, 1, 0]), false);
  assert.equal(sameOrientation(AXIAL, [1, 0.01, 0, 0, 1, 0], 0.05), true);
  assert.equal(distinctOrientations([AXIAL, [1, 0, 0, 0, 1, 1e-6], [0, 1, 0, 0, 0, -1], AXIAL]).length, 2);
});
