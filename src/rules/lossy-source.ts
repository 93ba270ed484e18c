/**
 * Whether a series reached us lossy-compressed, summed up over its slices for the task's facts
 * and for the validator's refusal when the site takes no lossy input (validator.accept_lossy).
 */
import type { InstanceHeader } from '../dicom/instance-header.js';

export interface LossySource {
  /** Slices whose pixels are or were lossy-compressed. */
  slices: number;
  total: number;
  /** Distinct compression methods (e.g. ISO_15444_1), in order of appearance. */
  methods: string[];
  /** Mean of the last recorded ratio of each lossy slice, when any slice has one. */
  meanRatio?: number;
  /** How we know, distinct statements (e.g. "transfer syntax JPEG Baseline"). */
  evidence: string[];
}

export function lossySource(headers: readonly InstanceHeader[]): LossySource | undefined {
  const lossy = headers.flatMap((h) => h.lossyCompression ? [h.lossyCompression] : []);
  if (lossy.length === 0) return undefined;
  const ratios = lossy.flatMap((l) => l.ratios.length ? [l.ratios.at(-1)!] : []);
  return {
    slices: lossy.length,
    total: headers.length,
    methods: [...new Set(lossy.flatMap((l) => l.methods))],
    meanRatio: ratios.length ? Math.round((ratios.reduce((a, b) => a + b, 0) / ratios.length) * 10) / 10 : undefined,
    evidence: [...new Set(lossy.map((l) => l.evidence))],
  };
}

/** "12 of 12 slices (transfer syntax JPEG Baseline; about 9.8:1)" */
export function describeLossySource(lossy: LossySource): string {
  const ratio = lossy.meanRatio === undefined ? '' : `; about ${lossy.meanRatio}:1`;
  return `${lossy.slices} of ${lossy.total} slices (${lossy.evidence.join(', ')}${ratio})`;
}
