/**
 * What the voxel values of a series mean, and how they become activity concentration. Most
 * scanners write Bq/ml (Units BQML) directly. Philips may write counts (Units CNTS) with the
 * factor to Bq/ml in its private group (dicom/philips-pet-private.ts): such a series is converted
 * while it is decoded, and is BQML from then on (upload volume, metadata.json, output series).
 * Pure rules; the decoder, the validator, the packer and the unpacker all ask here.
 */
import type { InstanceHeader } from '../dicom/instance-header.js';
import { PHILIPS_PET_CREATOR } from '../dicom/philips-pet-private.js';

export const COUNTS = 'CNTS';
export const ACTIVITY_CONCENTRATION = 'BQML';

/** A counts series made activity concentration, for the task's facts and the output's DerivationDescription. */
export interface CountsConversion {
  from: typeof COUNTS;
  to: typeof ACTIVITY_CONCENTRATION;
  /** Bq/ml per count: one value, or the smallest and largest when slices differ. */
  factor: number | { min: number; max: number };
  /** e.g. "(7053,1009)" */
  element: string;
  privateCreator: string;
}

const isCounts = (header: InstanceHeader): boolean => header.units?.trim().toUpperCase() === COUNTS;

/** The factor that makes this slice's rescaled values Bq/ml, when it is a convertible counts slice. */
function countsFactor(header: InstanceHeader): number | undefined {
  const factor = header.philipsPet?.activityConcentrationFactor;
  return isCounts(header) && factor !== undefined && factor > 0 ? factor : undefined;
}

/**
 * Slope and intercept from stored values to the values sent on: RescaleSlope/Intercept, times the
 * activity concentration factor for a counts slice that has one.
 */
export function activityRescale(header: InstanceHeader): { slope: number; intercept: number } {
  const slope = header.rescaleSlope ?? 1;
  const intercept = header.rescaleIntercept ?? 0;
  const factor = countsFactor(header) ?? 1;
  return { slope: slope * factor, intercept: intercept * factor };
}

/** Units of the values sent on: BQML for a converted counts slice, otherwise the file's Units. */
export function effectiveUnits(header: InstanceHeader): string | undefined {
  return countsFactor(header) !== undefined ? ACTIVITY_CONCENTRATION : header.units?.trim();
}

/** The series' conversion, when every slice is counts with a factor; otherwise undefined. */
export function countsConversion(headers: readonly InstanceHeader[]): CountsConversion | undefined {
  const factors = headers.map(countsFactor);
  if (headers.length === 0 || factors.some((f) => f === undefined)) return undefined;
  const values = factors as number[];
  const min = Math.min(...values);
  const max = Math.max(...values);
  return {
    from: COUNTS, to: ACTIVITY_CONCENTRATION, factor: min === max ? min : { min, max },
    element: headers[0]!.philipsPet!.activityConcentrationElement, privateCreator: PHILIPS_PET_CREATOR,
  };
}

/** "Philips counts (CNTS) converted to Bq/ml (BQML) with the activity concentration factor (7053,1009) 2.5" */
export function describeCountsConversion(conversion: CountsConversion): string {
  const factor = typeof conversion.factor === 'number' ? String(conversion.factor) : `${conversion.factor.min} to ${conversion.factor.max}`;
  return `Philips counts (CNTS) converted to Bq/ml (BQML) with the activity concentration factor ${conversion.element} ${factor}`;
}

/**
 * Why a counts series cannot be converted (none when it can, or is no counts series): the factor
 * is missing or unreadable on some slices. Says what the operator can do about it.
 */
export function countsProblems(headers: readonly InstanceHeader[]): string[] {
  const counts = headers.filter(isCounts);
  if (counts.length === 0) return [];
  const element = counts.find((h) => h.philipsPet)?.philipsPet?.activityConcentrationElement ?? '(7053,1009)';
  const unreadable = [...new Set(counts.flatMap((h) => h.philipsPet?.problem ? [h.philipsPet.problem] : []))];
  const notPositive = [...new Set(counts.flatMap((h) => {
    const factor = h.philipsPet?.activityConcentrationFactor;
    return factor !== undefined && !(factor > 0) ? [factor] : [];
  }))];
  const missing = counts.filter((h) => h.philipsPet?.activityConcentrationFactor === undefined && !h.philipsPet?.problem).length;
  const remedy = 'export the series in BQML (activity concentration) from the console, or send it with the Philips private group (7053) kept';
  const problems: string[] = [];
  if (missing > 0) {
    const where = missing === headers.length ? (headers.length === 1 ? 'missing' : `missing on all ${headers.length} slices`) : `missing on ${missing} of ${headers.length} slices`;
    problems.push(`Units CNTS (counts) and the activity concentration factor ${element} of the "${PHILIPS_PET_CREATOR}" ${where}: ${remedy}`);
  }
  for (const problem of unreadable) problems.push(`Units CNTS (counts) and the activity concentration factor ${problem}: ${remedy}`);
  for (const factor of notPositive) problems.push(`Units CNTS (counts) and the activity concentration factor ${element} is ${factor} (must be > 0 Bq/ml per count)`);
  return problems;
}
