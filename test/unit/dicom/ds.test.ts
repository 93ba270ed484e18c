import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDS, formatDSList } from '../../../src/dicom/ds.js';

const DS_CHARACTERS = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

test('formatDS spells values in at most 16 characters and as close as 16 characters allow', () => {
  const table: [number, string][] = [
    [0, '0'],
    [-0, '0'],
    [1, '1'],
    [-2.5, '-2.5'],
    [4.6875, '4.6875'],
    [250e6, '250000000'],
    [1 / 3, '0.33333333333333'],
    [-1 / 3, '-0.3333333333333'],
    [123456789.12345679, '123456789.123457'],
    [-0.000012345678901, '-1.2345678901e-5'],
    [1e-20, '1e-20'],
    [1e20, '1e20'],
    [0.1 + 0.2, '0.3'],
    [-297.65625, '-297.65625'],
  ];
  for (const [value, expected] of table) assert.equal(formatDS(value), expected, String(value));
});

test('formatDS keeps the relative error within what 16 characters can carry', () => {
  const values = [
    Math.PI, -Math.E * 1e13, 6586.2, 1.0037937470582372, 0.12709877339434386, 1.7976931348623157e308,
    5e-324, -123456789012345680, 2 ** 53 + 1, 9.999999999999999e-5, -9.87654321e-300, 31415926535.89793,
  ];
  for (const value of values) {
    const text = formatDS(value);
    assert.ok(text.length <= 16, `${value} -> ${text}`);
    assert.match(text, DS_CHARACTERS);
    const relativeError = Math.abs(Number(text) - value) / Math.abs(value);
    assert.ok(relativeError < 1e-8, `${value} -> ${text} (relative error ${relativeError})`);
  }
});

test('formatDS is never longer than 16 characters for random magnitudes', () => {
  let state = 12345;
  const next = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 5000; i++) {
    const value = (next() - 0.5) * 10 ** Math.floor(next() * 80 - 40);
    const text = formatDS(value);
    assert.ok(text.length <= 16 && DS_CHARACTERS.test(text), `${value} -> ${text}`);
    if (value !== 0) assert.ok(Math.abs(Number(text) - value) / Math.abs(value) < 1e-9, `${value} -> ${text}`);
  }
});

test('formatDS refuses what DS cannot hold', () => {
  assert.throws(() => formatDS(Number.NaN), RangeError);
  assert.throws(() => formatDS(Infinity), RangeError);
});

test('formatDSList formats each value', () => {
  assert.deepEqual(formatDSList([1, 0, 0, 0, 1 / 3, -1e-20]), ['1', '0', '0', '0', '0.33333333333333', '-1e-20']);
});

/** The definition formatDS implements: every spelling at every precision, the closest that fits. */
function closestOfEverySpelling(x: number): string {
  const compact = (text: string): string => {
    let [mantissa, exponent] = text.split('e') as [string, string | undefined];
    if (mantissa.includes('.')) mantissa = mantissa.replace(/0+$/, '').replace(/\.$/, '');
    if (mantissa === '-0') mantissa = '0';
    if (exponent === undefined) return mantissa;
    return Number(exponent) === 0 ? mantissa : `${mantissa}e${Number(exponent)}`;
  };
  const spellings = [String(x)];
  for (let digits = 1; digits <= 17; digits++) spellings.push(x.toPrecision(digits), x.toExponential(digits - 1));
  if (Math.abs(x) < 1e21) for (let decimals = 0; decimals <= 16; decimals++) spellings.push(x.toFixed(decimals));
  let best = '';
  let bestError = Infinity;
  for (const spelling of spellings.map(compact)) {
    if (spelling.length > 16) continue;
    const error = Math.abs(Number(spelling) - x);
    const preferable = spelling.includes('e') !== best.includes('e') ? !spelling.includes('e') : spelling.length < best.length;
    if (error < bestError || (error === bestError && preferable)) {
      best = spelling;
      bestError = error;
    }
  }
  return best;
}

test('formatDS picks what trying every spelling at every precision picks', () => {
  let state = 987654321;
  const next = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const values = [0.5, -0.25, 1 / 3, 2 ** 53 + 1, 1e21, 1e-7, 123456789012345.6, 9.5e-10, 5e-324, 1.7976931348623157e308];
  for (let i = 0; i < 20000; i++) {
    const magnitude = 10 ** Math.floor(next() * 60 - 30);
    const value = (next() - 0.5) * magnitude;
    // Decimal-like values (positions, spacings) as well as full-precision ones (slopes).
    values.push(value, Number(value.toPrecision(1 + Math.floor(next() * 12))));
  }
  for (const value of values) assert.equal(formatDS(value), closestOfEverySpelling(value), String(value));
});
