/**
 * Header rules of the validator: does a compiled series carry what processing and SUV quantification
 * need, and is its tracer known? Every problem is named in the result, with the number of slices it
 * affects, so an operator can fix the sender in one go. The licence question to the remote service
 * (POST /check_model) is asked elsewhere; this file has no I/O.
 */
import type { InstanceHeader } from '../dicom/instance-header.js';
import { COUNTS, countsProblems, effectiveUnits } from './activity-units.js';
import { checkNuclide, matchRadiopharmaceutical, type RadiopharmaceuticalEntry } from './radiopharmaceuticals.js';

export interface ValidationContext {
  /** Destinations the results of this task would be sent to */
  destinationsConfigured: number;
  /** Seed table merged with operator-added entries */
  radiopharmaceuticals: readonly RadiopharmaceuticalEntry[];
  /** Units (0054,1001) the remote service accepts; default BQML */
  acceptedUnits?: string[];
}

export type ValidationResult =
  | { ok: true; tracer: RadiopharmaceuticalEntry }
  | { ok: false; reasons: string[] };

type Value = string | number | undefined;

interface FieldRule {
  keyword: string;
  value: (header: InstanceHeader) => Value;
  /** Series-wide attributes must agree between slices; per-slice ones (position...) differ by nature. */
  sameOnEverySlice: boolean;
  /** Absence is no problem (another attribute covers it); only disagreement between slices is. */
  optional?: boolean;
  /** A problem with the value itself, given the (agreed) value. */
  invalid?: (value: string | number) => string | undefined;
}

const positive = (keyword: string, unit: string) => (value: string | number) =>
  typeof value === 'number' && value > 0 ? undefined : `${keyword} is ${value} (must be > 0 ${unit})`;

/** DecayCorrection (0054,1102) defined terms: not corrected, to the acquisition start, to the administration. */
const DECAY_CORRECTIONS = ['NONE', 'START', 'ADMIN'];

/**
 * PET injections are tens to hundreds of MBq (phantoms a few MBq): a dose below 1 MBq is almost
 * always MBq typed where DICOM wants Bq, and would make every SUV a million times too large.
 */
const SMALLEST_PLAUSIBLE_DOSE_BQ = 1e6;

/** Every slice needs these; the radiopharmaceutical items are reported only where the sequence exists. */
const FIELDS: FieldRule[] = [
  { keyword: 'PixelSpacing', value: (h) => h.pixelSpacing?.join('\\'), sameOnEverySlice: false },
  { keyword: 'ImagePositionPatient', value: (h) => h.imagePositionPatient?.join('\\'), sameOnEverySlice: false },
  { keyword: 'ImageOrientationPatient', value: (h) => h.imageOrientationPatient?.join('\\'), sameOnEverySlice: false },
  { keyword: 'RescaleSlope', value: (h) => h.rescaleSlope, sameOnEverySlice: false },
  { keyword: 'RescaleIntercept', value: (h) => h.rescaleIntercept, sameOnEverySlice: false },
  { keyword: 'Units', value: (h) => h.units, sameOnEverySlice: true },
  {
    keyword: 'DecayCorrection', value: (h) => h.decayCorrection, sameOnEverySlice: true,
    invalid: (value) => DECAY_CORRECTIONS.includes(String(value).toUpperCase()) ? undefined : `DecayCorrection "${value}" is unknown (NONE, START or ADMIN)`,
  },
  { keyword: 'PatientWeight', value: (h) => h.patientWeight, sameOnEverySlice: true, invalid: positive('PatientWeight', 'kg') },
];

const RADIOPHARMACEUTICAL_FIELDS: FieldRule[] = [
  // The name may be absent when RadiopharmaceuticalCodeSequence names the tracer.
  { keyword: 'Radiopharmaceutical', value: (h) => h.radiopharmaceutical?.name, sameOnEverySlice: true, optional: true },
  {
    keyword: 'RadionuclideTotalDose', value: (h) => h.radiopharmaceutical?.totalDose, sameOnEverySlice: true,
    invalid: (value) => positive('RadionuclideTotalDose', 'Bq')(value) ?? (Number(value) < SMALLEST_PLAUSIBLE_DOSE_BQ
      ? `RadionuclideTotalDose is ${value} Bq, less than 1 MBq: written in MBq? Enter the injected activity in Bq on the console and send the series again`
      : undefined),
  },
  {
    keyword: 'RadiopharmaceuticalStartTime (or StartDateTime)',
    value: (h) => h.radiopharmaceutical?.startDateTime ?? h.radiopharmaceutical?.startTime,
    sameOnEverySlice: true,
  },
  {
    keyword: 'RadionuclideHalfLife', value: (h) => h.radiopharmaceutical?.halfLife, sameOnEverySlice: true,
    invalid: positive('RadionuclideHalfLife', 's'),
  },
];

export function validateSeries(headers: InstanceHeader[], ctx: ValidationContext): ValidationResult {
  if (headers.length === 0) return { ok: false, reasons: ['no images'] };
  const reasons: string[] = [];

  if (ctx.destinationsConfigured < 1) reasons.push('no destination configured');

  for (const rule of FIELDS) reasons.push(...checkField(rule, headers));
  reasons.push(...checkUnits(headers, ctx.acceptedUnits ?? ['BQML']));

  const withSequence = headers.filter((h) => h.radiopharmaceutical !== undefined);
  const withoutSequence = headers.length - withSequence.length;
  if (withoutSequence > 0) reasons.push(`RadiopharmaceuticalInformationSequence ${missingOn(withoutSequence, headers.length)}`);
  if (withSequence.length > 0) {
    for (const rule of RADIOPHARMACEUTICAL_FIELDS) reasons.push(...checkField(rule, withSequence, headers.length));
  }

  const info = withSequence[0]?.radiopharmaceutical;
  const tracer = info ? matchRadiopharmaceutical(info, ctx.radiopharmaceuticals) : undefined;
  if (info && !tracer) reasons.push(describeUnknownTracer(info));
  if (info && tracer) reasons.push(...checkNuclide(info, tracer));

  if (reasons.length > 0 || !tracer) return { ok: false, reasons };
  return { ok: true, tracer };
}

/** `checked` are the slices the rule applies to; `total` the series size used in the message. */
function checkField(rule: FieldRule, checked: InstanceHeader[], total = checked.length): string[] {
  const values = checked.map(rule.value);
  const present = values.filter((value): value is string | number => value !== undefined && value !== '');
  const reasons: string[] = [];
  const missing = checked.length - present.length;
  if (missing > 0 && !rule.optional) reasons.push(`${rule.keyword} ${missingOn(missing, total)}`);
  if (present.length === 0) return reasons;

  const distinct = [...new Set(present)];
  if (rule.sameOnEverySlice && distinct.length > 1) {
    reasons.push(`${rule.keyword} differs between slices (${distinct.join(', ')})`);
  }
  const invalid = new Set(distinct.flatMap((value) => rule.invalid?.(value) ?? []));
  reasons.push(...invalid);
  return reasons;
}

/** Units after conversion (Philips counts with their factor are BQML); counts without a factor are named as such. */
function checkUnits(headers: InstanceHeader[], accepted: string[]): string[] {
  const acceptedUpper = accepted.map((unit) => unit.trim().toUpperCase());
  const refused = [...new Set(headers.flatMap((h) => effectiveUnits(h) ?? []))]
    .filter((unit) => !acceptedUpper.includes(unit.toUpperCase()));
  return refused.flatMap((unit) => {
    const counts = unit.toUpperCase() === COUNTS ? countsProblems(headers) : [];
    return counts.length ? counts : [`Units "${unit}" not accepted (accepted: ${accepted.join(', ')})`];
  });
}

function missingOn(count: number, total: number): string {
  if (count < total) return `missing on ${count} of ${total} slices`;
  return total === 1 ? 'missing' : `missing on all ${total} slices`;
}

function describeUnknownTracer(info: NonNullable<InstanceHeader['radiopharmaceutical']>): string {
  const label = info.name ?? info.code?.meaning;
  const code = info.code ? ` (code ${info.code.scheme} ${info.code.value})` : '';
  if (!label && !code) {
    return 'radiopharmaceutical not named: Radiopharmaceutical and RadiopharmaceuticalCodeSequence missing';
  }
  return `unknown radiopharmaceutical${label ? ` "${label}"` : ''}${code}: add it with petspool radiopharmaceuticals add`;
}
