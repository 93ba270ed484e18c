import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDS } from '../../../src/dicom/ds.js';
import { columnMaxima } from '../../../src/imaging/mip.js';
import { INT16_MAX, quantiseSliceInto } from '../../../src/imaging/quantise.js';

/** What quantiseSliceInto promises, written the plain way. */
function quantiseReference(values: Float32Array): { pixels: Int16Array; slope: number } {
  let maxAbs = 0;
  for (const v of values) if (Math.abs(v) > maxAbs) maxAbs = Math.abs(v);
  const slope = maxAbs > 0 && Number.isFinite(maxAbs) ? Number(formatDS(maxAbs / INT16_MAX)) : 1;
  const pixels = Int16Array.from(values, (v) => {
    if (Number.isNaN(v)) return 0;
    return Math.max(-INT16_MAX, Math.min(INT16_MAX, Math.round(v / slope)));
  });
  return { pixels, slope };
}

function assertQuantisedLikeReference(values: Float32Array, what: string): void {
  const pixels = new Int16Array(values.length);
  const slope = quantiseSliceInto(values, pixels);
  const expected = quantiseReference(values);
  assert.equal(slope, expected.slope, `${what}: slope`);
  for (let i = 0; i < values.length; i++) assert.equal(pixels[i], expected.pixels[i], `${what}: value ${values[i]} at ${i}`);
}

test('quantiseSliceInto stores Math.round(value / slope) of random values, in whole and partial SIMD blocks', () => {
  let seed = 11;
  const next = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (const length of [1, 7, 8, 9, 4099, 65536]) {
    const values = Float32Array.from({ length }, () => (next() - 0.3) * 10 ** (next() * 6 - 2));
    assertQuantisedLikeReference(values, `${length} values`);
  }
});

test('quantiseSliceInto rounds ties toward +∞ and clamps to ±32767', () => {
  // max |v| = 32767 × 0.5 makes the slope exactly 0.5, so (m + 0.25) × 2 = m + 0.5: a tie.
  const values = new Float32Array(64);
  values[0] = 32767 * 0.5;
  for (let i = 1; i < values.length; i++) values[i] = (i % 2 ? 1 : -1) * (Math.floor(i / 2) + 0.25);
  assertQuantisedLikeReference(values, 'ties');
  const pixels = new Int16Array(values.length);
  quantiseSliceInto(values, pixels);
  assert.equal(pixels[1], 1, '0.25 / 0.5 = 0.5 rounds to 1');
  assert.equal(pixels[2], -2, '-1.25 / 0.5 = -2.5 rounds to -2');
});

test('quantiseSliceInto stores NaN as 0, and a slice with an infinity at slope 1, clamped', () => {
  assertQuantisedLikeReference(Float32Array.of(1.5, Number.NaN, -3, 2, Number.NaN, 0, 7, 1, 9), 'NaN');
  const values = Float32Array.of(Infinity, -Infinity, 2.5, -2.5, Number.NaN, 40000, -40000, 0.49, 3);
  assertQuantisedLikeReference(values, 'infinities');
  const pixels = new Int16Array(values.length);
  assert.equal(quantiseSliceInto(values, pixels), 1);
  assert.deepEqual(Array.from(pixels), [32767, -32767, 3, -2, 0, 32767, -32767, 0, 3]);
});

test('quantiseSliceInto of an all-zero slice: slope 1, zeros', () => {
  const pixels = new Int16Array(10).fill(5);
  assert.equal(quantiseSliceInto(new Float32Array(10), pixels), 1);
  assert.deepEqual(Array.from(pixels), new Array(10).fill(0));
});

test('columnMaxima takes each column\'s largest value over the rows, passing NaN over', () => {
  const rows = 5;
  const columns = 11;
  let seed = 3;
  const slice = Float32Array.from({ length: rows * columns }, () => ((seed = (seed * 69069 + 1) % 4294967296) / 4294967296) * 100 - 50);
  slice[3 * columns + 4] = Number.NaN;
  slice[2 * columns + 10] = 1000;
  const out = new Float32Array(columns);
  columnMaxima(slice, rows, columns, out);
  for (let x = 0; x < columns; x++) {
    let expected = slice[x]!;
    for (let y = 1; y < rows; y++) if (slice[y * columns + x]! > expected) expected = slice[y * columns + x]!;
    assert.equal(out[x], expected, `column ${x}`);
  }
  assert.equal(out[10], 1000);
});
