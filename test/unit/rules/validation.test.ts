import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InstanceHeader, RadiopharmaceuticalInfo } from '../../../src/dicom/instance-header.js';
import { SEED_RADIOPHARMACEUTICALS } from '../../../src/rules/radiopharmaceuticals.js';
import { validateSeries, type ValidationContext } from '../../../src/rules/validation.js';

const SLICES = 81;
const CTX: ValidationContext = { destinationsConfigured: 1, radiopharmaceuticals: SEED_RADIOPHARMACEUTICALS };

const FDG: RadiopharmaceuticalInfo = {
  name: 'Fluorodeoxyglucose',
  code: { scheme: 'SRT', value: 'C-B1031', meaning: 'Fluorodeoxyglucose F^18^' },
  nuclideCode: { scheme: 'SRT', value: 'C-111A1', meaning: '^18^Fluorine' },
  totalDose: 296_000_000,
  startTime: '081500.000000',
  halfLife: 6586.2,
  positronFraction: 0.97,
};

/** A series with everything processing and SUV need, on every slice. */
function pet(count = SLICES, radiopharmaceutical: RadiopharmaceuticalInfo = FDG): InstanceHeader[] {
  return Array.from({ length: count }, (_, i) => ({
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    sopClassUid: '1.2.840.10008.5.1.4.1.1.128',
    sopInstanceUid: `1.2.3.4.${i + 1}`,
    studyInstanceUid: '1.2.3',
    seriesInstanceUid: '1.2.3.4',
    modality: 'PT',
    patientWeight: 72.5,
    rows: 200,
    columns: 200,
    pixelSpacing: [4.07, 4.07],
    imagePositionPatient: [-407, -407, -300 + 3.27 * i],
    imageOrientationPatient: [1, 0, 0, 0, 1, 0],
    rescaleSlope: 0.25 + i / 1000,
    rescaleIntercept: 0,
    units: 'BQML',
    decayCorrection: 'START',
    radiopharmaceutical: { ...radiopharmaceutical },
  }));
}

/** Apply `change` to the first `count` slices (all when count is undefined). */
function changed(change: (h: InstanceHeader) => InstanceHeader, count?: number, headers = pet()): InstanceHeader[] {
  return headers.map((h, i) => (count === undefined || i < count ? change(h) : h));
}

const withTracer = (info: Partial<RadiopharmaceuticalInfo>) => (h: InstanceHeader): InstanceHeader =>
  ({ ...h, radiopharmaceutical: { ...h.radiopharmaceutical, ...info } });

interface Case {
  name: string;
  headers: InstanceHeader[];
  ctx?: Partial<ValidationContext>;
  reasons: string[];
}

const failures: Case[] = [
  { name: 'no destination', headers: pet(), ctx: { destinationsConfigured: 0 }, reasons: ['no destination configured'] },
  {
    name: 'PixelSpacing missing on some slices',
    headers: changed((h) => ({ ...h, pixelSpacing: undefined }), 2),
    reasons: ['PixelSpacing missing on 2 of 81 slices'],
  },
  {
    name: 'ImagePositionPatient missing everywhere',
    headers: changed((h) => ({ ...h, imagePositionPatient: undefined })),
    reasons: ['ImagePositionPatient missing on all 81 slices'],
  },
  {
    name: 'ImageOrientationPatient missing on one slice',
    headers: changed((h) => ({ ...h, imageOrientationPatient: undefined }), 1),
    reasons: ['ImageOrientationPatient missing on 1 of 81 slices'],
  },
  {
    name: 'RescaleSlope missing on 3 slices',
    headers: changed((h) => ({ ...h, rescaleSlope: undefined }), 3),
    reasons: ['RescaleSlope missing on 3 of 81 slices'],
  },
  {
    name: 'RescaleIntercept missing',
    headers: changed((h) => ({ ...h, rescaleIntercept: undefined })),
    reasons: ['RescaleIntercept missing on all 81 slices'],
  },
  {
    name: 'Units missing',
    headers: changed((h) => ({ ...h, units: undefined })),
    reasons: ['Units missing on all 81 slices'],
  },
  {
    name: 'RadionuclideTotalDose in MBq (370 where 370000000 Bq belongs)',
    headers: changed(withTracer({ totalDose: 370 })),
    reasons: ['RadionuclideTotalDose is 370 Bq, less than 1 MBq: written in MBq? Enter the injected activity in Bq on the console and send the series again'],
  },
  {
    name: 'DecayCorrection not one of NONE, START, ADMIN',
    headers: changed((h) => ({ ...h, decayCorrection: 'END' })),
    reasons: ['DecayCorrection "END" is unknown (NONE, START or ADMIN)'],
  },
  {
    name: 'Units not accepted',
    headers: changed((h) => ({ ...h, units: 'GML' })),
    reasons: ['Units "GML" not accepted (accepted: BQML)'],
  },
  {
    name: 'Units differ between slices',
    headers: changed((h) => ({ ...h, units: 'GML' }), 1),
    ctx: { acceptedUnits: ['BQML', 'GML'] },
    reasons: ['Units differs between slices (GML, BQML)'],
  },
  {
    name: 'DecayCorrection missing',
    headers: changed((h) => ({ ...h, decayCorrection: undefined })),
    reasons: ['DecayCorrection missing on all 81 slices'],
  },
  {
    name: 'RadiopharmaceuticalInformationSequence missing (its items are not listed on top)',
    headers: changed((h) => ({ ...h, radiopharmaceutical: undefined })),
    reasons: ['RadiopharmaceuticalInformationSequence missing on all 81 slices'],
  },
  {
    name: 'RadiopharmaceuticalInformationSequence missing on some slices',
    headers: changed((h) => ({ ...h, radiopharmaceutical: undefined }), 4),
    reasons: ['RadiopharmaceuticalInformationSequence missing on 4 of 81 slices'],
  },
  {
    name: 'RadionuclideTotalDose missing',
    headers: changed(withTracer({ totalDose: undefined })),
    reasons: ['RadionuclideTotalDose missing on all 81 slices'],
  },
  {
    name: 'RadionuclideTotalDose zero',
    headers: changed(withTracer({ totalDose: 0 })),
    reasons: ['RadionuclideTotalDose is 0 (must be > 0 Bq)'],
  },
  {
    name: 'start time and date-time both missing',
    headers: changed(withTracer({ startTime: undefined, startDateTime: undefined })),
    reasons: ['RadiopharmaceuticalStartTime (or StartDateTime) missing on all 81 slices'],
  },
  {
    name: 'RadionuclideHalfLife missing',
    headers: changed(withTracer({ halfLife: undefined })),
    reasons: ['RadionuclideHalfLife missing on all 81 slices'],
  },
  {
    name: 'RadionuclideHalfLife of another nuclide',
    headers: changed(withTracer({ halfLife: 4062.6 })),
    reasons: ['RadionuclideHalfLife 4062.6 s does not fit FDG (F-18, 6586.2 s)'],
  },
  {
    name: 'RadionuclideCodeSequence of another nuclide',
    headers: changed(withTracer({ nuclideCode: { scheme: 'SCT', value: '35337001', meaning: '^68^Gallium' } })),
    reasons: ['RadionuclideCodeSequence says Ga-68, but FDG is F-18'],
  },
  {
    name: 'PatientWeight missing',
    headers: changed((h) => ({ ...h, patientWeight: undefined })),
    reasons: ['PatientWeight missing on all 81 slices'],
  },
  {
    name: 'PatientWeight zero',
    headers: changed((h) => ({ ...h, patientWeight: 0 })),
    reasons: ['PatientWeight is 0 (must be > 0 kg)'],
  },
  {
    name: 'unknown radiopharmaceutical, named',
    headers: pet(SLICES, { ...FDG, name: 'XYZ-123', code: undefined }),
    reasons: ['unknown radiopharmaceutical "XYZ-123": add it with petspool radiopharmaceuticals add'],
  },
  {
    name: 'unknown radiopharmaceutical, coded only',
    headers: pet(SLICES, { ...FDG, name: undefined, code: { scheme: 'SCT', value: '999999999', meaning: 'Novel tracer' } }),
    reasons: ['unknown radiopharmaceutical "Novel tracer" (code SCT 999999999): add it with petspool radiopharmaceuticals add'],
  },
  {
    name: 'radiopharmaceutical not named at all',
    headers: pet(SLICES, { ...FDG, name: undefined, code: undefined }),
    reasons: ['radiopharmaceutical not named: Radiopharmaceutical and RadiopharmaceuticalCodeSequence missing'],
  },
];

test('validation: a complete FDG series passes and names its tracer', () => {
  const result = validateSeries(pet(), CTX);
  assert.deepEqual(result.ok ? result.tracer.id : result.reasons, 'fdg');
});

test('validation: other units pass when the service accepts them', () => {
  const result = validateSeries(changed((h) => ({ ...h, units: 'CNTS' })), { ...CTX, acceptedUnits: ['BQML', 'CNTS'] });
  assert.equal(result.ok, true);
});

test('validation: start date-time instead of start time is enough', () => {
  const result = validateSeries(changed(withTracer({ startTime: undefined, startDateTime: '20240102081500' })), CTX);
  assert.equal(result.ok, true);
});

test('validation: a tracer matched by name alone passes (Ga-68 DOTATATE)', () => {
  const result = validateSeries(pet(SLICES, { name: '68Ga-DOTA-TATE', totalDose: 150e6, startTime: '101500', halfLife: 4080 }), CTX);
  assert.deepEqual(result.ok ? result.tracer.id : result.reasons, 'ga68-dotatate');
});

for (const c of failures) {
  test(`validation fails: ${c.name}`, () => {
    const result = validateSeries(c.headers, { ...CTX, ...c.ctx });
    assert.deepEqual(result.ok ? 'ok' : result.reasons, c.reasons);
  });
}

test('validation: several failures are all listed, in a stable order', () => {
  const headers = changed((h) => ({
    ...h,
    rescaleSlope: undefined,
    units: 'CNTS',
    patientWeight: undefined,
    radiopharmaceutical: { ...FDG, name: 'XYZ-123', code: undefined, halfLife: undefined },
  }), 3);
  const result = validateSeries(headers, { ...CTX, destinationsConfigured: 0 });
  assert.deepEqual(result.ok ? 'ok' : result.reasons, [
    'no destination configured',
    'RescaleSlope missing on 3 of 81 slices',
    'Units differs between slices (CNTS, BQML)',
    'PatientWeight missing on 3 of 81 slices',
    'Units CNTS (counts) and the activity concentration factor (7053,1009) of the "Philips PET Private Group" missing on 3 of 81 slices: '
      + 'export the series in BQML (activity concentration) from the console, or send it with the Philips private group (7053) kept',
    'Radiopharmaceutical differs between slices (XYZ-123, Fluorodeoxyglucose)',
    'RadionuclideHalfLife missing on 3 of 81 slices',
    'unknown radiopharmaceutical "XYZ-123": add it with petspool radiopharmaceuticals add',
  ]);
});

test('validation: an empty series is refused', () => {
  assert.deepEqual(validateSeries([], CTX), { ok: false, reasons: ['no images'] });
});
