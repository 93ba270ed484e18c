import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { synthesizePetSeries } from '../../../src/series/synth.js';
import { readInstanceHeader } from '../../../src/dicom/read-header.js';
import { TransferSyntax } from '../../../src/dicom/write-part10.js';
import { decodeSliceInto } from '../../../src/imaging/decode-pixels.js';
import {
  activityRescale, countsConversion, countsProblems, describeCountsConversion, effectiveUnits,
} from '../../../src/rules/activity-units.js';
import { validateSeries } from '../../../src/rules/validation.js';
import { SEED_RADIOPHARMACEUTICALS } from '../../../src/rules/radiopharmaceuticals.js';
import { seriesMetadata } from '../../../src/remote/series-metadata.js';
import { newSeriesIdentity, philipsCounts, rewriteSeries, type PhilipsCountsOptions } from '../../fixtures/vendor-pet.js';

const FACTOR = 2.5;
let dir: string;
let bqml: string[];

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-philips-'));
  bqml = await synthesizePetSeries(path.join(dir, 'bqml'), { slices: 4, size: 16, seed: 3 });
});
after(() => rm(dir, { recursive: true, force: true }));

async function philips(name: string, opts: PhilipsCountsOptions, syntax: string = TransferSyntax.ImplicitVRLittleEndian): Promise<string[]> {
  const identity = newSeriesIdentity();
  return rewriteSeries(bqml, path.join(dir, name), (ds) => {
    identity(ds);
    philipsCounts(ds, opts);
  }, syntax);
}

const variants: [string, PhilipsCountsOptions, string][] = [
  ['Implicit VR, DS text (bytes to the reader)', { factor: FACTOR, vr: 'DS' }, TransferSyntax.ImplicitVRLittleEndian],
  ['Implicit VR, binary FD (bytes to the reader)', { factor: FACTOR, vr: 'FD' }, TransferSyntax.ImplicitVRLittleEndian],
  ['Explicit VR DS', { factor: FACTOR, vr: 'DS' }, TransferSyntax.ExplicitVRLittleEndian],
  ['Explicit VR FD in block 0x11', { factor: FACTOR, vr: 'FD', block: 0x11 }, TransferSyntax.ExplicitVRLittleEndian],
];

for (const [name, opts, syntax] of variants) {
  test(`Philips PET private group read: ${name}`, async () => {
    const [file] = await philips(name.replace(/\W+/g, '-'), opts, syntax);
    const h = readInstanceHeader(file!);
    assert.equal(h.transferSyntaxUid, syntax);
    assert.equal(h.units, 'CNTS');
    const block = opts.block ?? 0x10;
    assert.deepEqual(h.philipsPet, {
      block, activityConcentrationElement: `(7053,${block.toString(16).toUpperCase()}09)`,
      activityConcentrationFactor: FACTOR, suvFactor: 0.000123,
    });
    assert.equal(effectiveUnits(h), 'BQML');
    const { slope, intercept } = activityRescale(h);
    assert.equal(slope, h.rescaleSlope! * FACTOR);
    assert.equal(intercept, 0);
  });
}

test('decoded Philips counts are Bq/ml: stored value × RescaleSlope × (7053,1009), equal to the BQML original', async () => {
  const files = await philips('decode', { factor: FACTOR, vr: 'DS' });
  for (const [i, file] of files.entries()) {
    const h = readInstanceHeader(file);
    const original = readInstanceHeader(bqml[i]!);
    const size = 16 * 16;
    const counts = new Float32Array(size);
    const reference = new Float32Array(size);
    await decodeSliceInto(await readFile(file), h, counts, 0);
    await decodeSliceInto(await readFile(bqml[i]!), original, reference, 0);
    // Stored values are unchanged; only the slope was divided by the factor.
    assert.notEqual(h.rescaleSlope, original.rescaleSlope);
    for (let v = 0; v < size; v++) {
      assert.ok(Math.abs(counts[v]! - reference[v]!) <= 1e-6 * Math.max(1, reference[v]!), `slice ${i} voxel ${v}: ${counts[v]} vs ${reference[v]}`);
    }
    assert.ok(Math.max(...counts) > 0);
  }
});

test('a Philips counts series validates as BQML; metadata.json says BQML; the conversion is described', async () => {
  const headers = (await philips('valid', { factor: FACTOR, vr: 'DS' })).map((f) => readInstanceHeader(f));
  const result = validateSeries(headers, { destinationsConfigured: 1, radiopharmaceuticals: SEED_RADIOPHARMACEUTICALS });
  assert.ok(result.ok, JSON.stringify(result));
  assert.equal(seriesMetadata(headers, result.tracer, { taskId: 't', clientId: 'c' }).units, 'BQML');
  const conversion = countsConversion(headers);
  assert.deepEqual(conversion, { from: 'CNTS', to: 'BQML', factor: FACTOR, element: '(7053,1009)', privateCreator: 'Philips PET Private Group' });
  assert.equal(describeCountsConversion(conversion!), 'Philips counts (CNTS) converted to Bq/ml (BQML) with the activity concentration factor (7053,1009) 2.5');
});

test('Philips counts without (7053,1009) are refused, naming the element and what to do', async () => {
  const headers = (await philips('no-factor', { factor: undefined, vr: 'DS' })).map((f) => readInstanceHeader(f));
  assert.equal(headers[0]!.philipsPet?.activityConcentrationFactor, undefined);
  assert.equal(countsConversion(headers), undefined);
  const result = validateSeries(headers, { destinationsConfigured: 1, radiopharmaceuticals: SEED_RADIOPHARMACEUTICALS });
  assert.equal(result.ok, false);
  assert.deepEqual(!result.ok && result.reasons, [
    'Units CNTS (counts) and the activity concentration factor (7053,1009) of the "Philips PET Private Group" missing on all 4 slices: '
    + 'export the series in BQML (activity concentration) from the console, or send it with the Philips private group (7053) kept',
  ]);
});

test('counts problems: a factor on some slices only, an unreadable factor, a zero factor; a BQML series has none', async () => {
  const headers = (await philips('partial', { factor: FACTOR, vr: 'DS' })).map((f) => readInstanceHeader(f));
  const partial = headers.map((h, i) => (i < 1 ? { ...h, philipsPet: { ...h.philipsPet!, activityConcentrationFactor: undefined } } : h));
  assert.match(countsProblems(partial)[0]!, /\(7053,1009\) of the "Philips PET Private Group" missing on 1 of 4 slices/);
  const unreadable = headers.map((h) => ({ ...h, philipsPet: { ...h.philipsPet!, activityConcentrationFactor: undefined, problem: '(7053,1009) is not a number (VR UN)' } }));
  assert.match(countsProblems(unreadable)[0]!, /activity concentration factor \(7053,1009\) is not a number \(VR UN\): export/);
  const zero = headers.map((h) => ({ ...h, philipsPet: { ...h.philipsPet!, activityConcentrationFactor: 0 } }));
  assert.deepEqual(countsProblems(zero), ['Units CNTS (counts) and the activity concentration factor (7053,1009) is 0 (must be > 0 Bq/ml per count)']);
  assert.equal(activityRescale(zero[0]!).slope, zero[0]!.rescaleSlope, 'no factor applied');
  const plain = bqml.map((f) => readInstanceHeader(f));
  assert.deepEqual(countsProblems(plain), []);
  assert.equal(plain[0]!.philipsPet, undefined);
  assert.equal(effectiveUnits(plain[0]!), 'BQML');
  assert.equal(activityRescale(plain[0]!).slope, plain[0]!.rescaleSlope);
});

test('a series in counts with no Philips private group at all is refused naming (7053,1009)', async () => {
  const headers = bqml.map((f) => ({ ...readInstanceHeader(f), units: 'CNTS' }));
  const result = validateSeries(headers, { destinationsConfigured: 1, radiopharmaceuticals: SEED_RADIOPHARMACEUTICALS });
  assert.equal(result.ok, false);
  assert.match(!result.ok ? result.reasons.join('\n') : '', /^Units CNTS \(counts\) and the activity concentration factor \(7053,1009\) .* missing on all 4 slices/);
});
