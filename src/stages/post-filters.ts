/**
 * Which of the site's Gaussian post-filters apply to a task, and how each one is described in the
 * new series. A filter limited to scanner models or radiopharmaceuticals applies only when the
 * task's scanner model (ManufacturerModelName) or tracer matches one of them, ignoring case.
 */
import type { FilterConfig } from '../config/schema.js';
import type { ProcessingDescription } from '../remote/metadata.js';

export interface FilterSubject {
  /** ManufacturerModelName of the series, when known. */
  scannerModel: string | null;
  /** Every name the task's tracer goes by: table id and name, the name and code sent in metadata.json. */
  tracerNames: string[];
}

const normalise = (text: string): string => text.trim().toLowerCase();

export function filterApplies(filter: FilterConfig, subject: FilterSubject): boolean {
  if (filter.scanner_models?.length) {
    const model = subject.scannerModel ? normalise(subject.scannerModel) : undefined;
    if (!model || !filter.scanner_models.some((m) => normalise(m) === model)) return false;
  }
  if (filter.radiopharmaceuticals?.length) {
    const names = new Set(subject.tracerNames.map(normalise));
    if (!filter.radiopharmaceuticals.some((r) => names.has(normalise(r)))) return false;
  }
  return true;
}

/** The filters of `filters` that apply to the subject, in their configured order. */
export function applicableFilters(filters: readonly FilterConfig[], subject: FilterSubject): FilterConfig[] {
  return filters.filter((f) => filterApplies(f, subject));
}

/** DerivationDescription of a filter's series: what the service did, then what the filter did. */
export function derivationText(filter: FilterConfig, processing: ProcessingDescription | undefined): string {
  const service = processing ? `${processing.description} (${processing.method})` : 'remote PET processing';
  const smoothing = filter.fwhm_mm === 0
    ? 'no post-filter'
    : `isotropic Gaussian post-filter FWHM ${filter.fwhm_mm} mm${filter.blend ? `, ${Math.round(filter.blend * 100)} % of the unfiltered result blended back` : ''}`;
  return `${service}; ${smoothing} (petspool filter ${filter.name})`;
}
