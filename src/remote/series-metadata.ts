/**
 * The part of metadata.json (remote/metadata.ts, TaskMetadata) that comes from the DICOM headers
 * of a validated series. The validator sends it to POST /check_model; the packer completes it with
 * what only the assembled volume knows (shape, axis order, spacing, orientation, sha256).
 *
 * Built field by field from an allow-list: patient name and ID, birth date, accession number and
 * every other identifying attribute never reach this object, so they cannot leave the site.
 */
import type { InstanceHeader } from '../dicom/instance-header.js';
import type { TaskMetadata } from './metadata.js';
import type { RadiopharmaceuticalEntry } from '../rules/radiopharmaceuticals.js';
import { effectiveUnits } from '../rules/activity-units.js';

export type HeaderMetadata = Omit<TaskMetadata, 'shape' | 'axis_order' | 'spacing_mm' | 'orientation' | 'npy_sha256' | 'processing'>;

/** The headers lack something the metadata cannot do without (validateSeries catches most of it first). */
export class IncompleteHeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IncompleteHeaderError';
  }
}

/**
 * `headers` are the instances of one series, already accepted by validateSeries (series-wide
 * attributes agree between slices, so the first slice speaks for all of them); `tracer` is the
 * table entry the series matched.
 */
export function seriesMetadata(headers: readonly InstanceHeader[], tracer: RadiopharmaceuticalEntry,
  ids: { taskId: string; clientId: string }): HeaderMetadata {
  const first = headers[0];
  if (!first) throw new IncompleteHeaderError('no images');
  const info = first.radiopharmaceutical;
  const { date: seriesDate, time: seriesTime } = acquisitionStart(headers);
  const dose = info?.totalDose;
  if (dose === undefined) throw new IncompleteHeaderError('RadionuclideTotalDose missing');
  const units = effectiveUnits(first);
  if (units === undefined) throw new IncompleteHeaderError('Units missing');
  if (first.patientWeight === undefined) throw new IncompleteHeaderError('PatientWeight missing');
  const injection = injectionDateTime(info?.startDateTime, info?.startTime, seriesDate, seriesTime);
  return {
    task_id: ids.taskId,
    client_id: ids.clientId,
    // Philips counts with their factor were made Bq/ml while decoding (rules/activity-units.ts).
    units,
    radiopharmaceutical: {
      name: tracer.name,
      // The code the scanner wrote wins; the table's first code stands in when the file has none.
      code: info?.code ? `${info.code.scheme}:${info.code.value}`
        : tracer.codes[0] ? `${tracer.codes[0].scheme}:${tracer.codes[0].value}` : null,
      nuclide: tracer.nuclide,
    },
    half_life_s: info?.halfLife ?? tracer.halfLifeSeconds,
    dose_bq: dose,
    injection_datetime: injection,
    decay_reference_datetime: decayReferenceDateTime(first.decayCorrection, { injection, decayCorrectionDateTime: first.decayCorrectionDateTime, seriesDate, seriesTime }),
    series_date: seriesDate ?? '',
    series_time: seriesTime ?? '',
    patient: { weight_kg: first.patientWeight, size_m: first.patientSize ?? null, age: first.patientAge?.trim() || null },
    scanner_model: first.manufacturerModelName?.trim() || null,
    reconstruction: {
      method: first.reconstructionMethod?.trim() || null,
      convolution_kernel: first.convolutionKernel?.trim() || null,
      manufacturer: first.manufacturer?.trim() || null,
      decay_correction: first.decayCorrection?.trim() || null,
      corrected_image: first.correctedImage ?? [],
      slice_thickness_mm: first.sliceThickness ?? null,
      matrix: first.rows !== undefined && first.columns !== undefined ? [first.rows, first.columns] : null,
    },
  };
}

/**
 * ISO 8601 injection time. RadiopharmaceuticalStartDateTime (DT) is used as written, with its
 * UTC offset when it has one; otherwise RadiopharmaceuticalStartTime on the series date, one day
 * earlier when the start time is later than the series time (injected before midnight, scanned
 * after). Without a zone in the file the result is local scanner time, as DICOM means it.
 */
export function injectionDateTime(startDateTime: string | undefined, startTime: string | undefined,
  seriesDate: string | undefined, seriesTime: string | undefined): string {
  if (startDateTime?.trim()) return isoFromDicomDateTime(startDateTime.trim());
  if (!startTime?.trim()) throw new IncompleteHeaderError('RadiopharmaceuticalStartTime (or StartDateTime) missing');
  if (!seriesDate?.trim()) {
    throw new IncompleteHeaderError('injection date unknown: RadiopharmaceuticalStartDateTime missing and no SeriesDate, AcquisitionDate or StudyDate');
  }
  let date = seriesDate.trim();
  if (seriesTime && timeSeconds(startTime) > timeSeconds(seriesTime)) date = previousDay(date);
  return isoFromDicomDateTime(`${date}${startTime.trim().replace(/:/g, '')}`);
}

/**
 * Date and time the acquisition started: SeriesDate/SeriesTime, as PET defines them. GE consoles
 * give a series made again after the scan (re-reconstruction, re-export) a new SeriesTime, later
 * than the scan (the QIBA SUV notes): a SeriesTime later than the earliest AcquisitionTime of
 * the same day gives way to that AcquisitionTime. Without SeriesDate/SeriesTime the acquisition's
 * or study's own are used.
 */
function acquisitionStart(headers: readonly InstanceHeader[]): { date?: string; time?: string } {
  const first = headers[0]!;
  const date = first.seriesDate ?? first.acquisitionDate ?? first.studyDate;
  const seriesTime = earliest(headers.map((h) => h.seriesTime ?? h.acquisitionTime ?? h.studyTime));
  // Only acquisitions on the series date compare: a bed acquired after midnight is not earlier.
  const acquisitionTime = earliest(headers.filter((h) => (h.acquisitionDate ?? date)?.trim() === date?.trim()).map((h) => h.acquisitionTime));
  if (seriesTime && acquisitionTime && timeSeconds(acquisitionTime) < timeSeconds(seriesTime)) return { date, time: acquisitionTime };
  return { date, time: seriesTime };
}

/**
 * ISO 8601 time the voxel values are decay-corrected to, which is where SUV wants the dose decayed
 * to: START, the acquisition start (DecayCorrectionDateTime when the file states it, else the
 * series date and time); ADMIN, the injection (the dose is taken undecayed); NONE, null (the
 * values are as measured, each at its own acquisition time). The validator refuses other values.
 */
export function decayReferenceDateTime(decayCorrection: string | undefined, times: {
  injection: string; decayCorrectionDateTime?: string; seriesDate?: string; seriesTime?: string;
}): string | null {
  switch (decayCorrection?.trim().toUpperCase()) {
    case 'ADMIN':
      return times.injection;
    case 'START':
      if (times.decayCorrectionDateTime?.trim()) return isoFromDicomDateTime(times.decayCorrectionDateTime.trim());
      if (!times.seriesDate?.trim() || !times.seriesTime?.trim()) {
        throw new IncompleteHeaderError('DecayCorrection START but the acquisition start is unknown: DecayCorrectionDateTime, SeriesDate/SeriesTime and AcquisitionDate/AcquisitionTime missing');
      }
      return isoFromDicomDateTime(`${times.seriesDate.trim()}${times.seriesTime.trim().replace(/:/g, '')}`);
    default:
      return null;
  }
}

/** "20251121143000.5+0100" -> "2025-11-21T14:30:00.5+01:00"; missing minutes/seconds become 00. */
function isoFromDicomDateTime(dt: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?$/.exec(dt);
  if (!m) throw new IncompleteHeaderError(`injection date-time "${dt}" is not a DICOM date-time`);
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone] = m;
  const offset = zone ? `${zone.slice(0, 3)}:${zone.slice(3)}` : '';
  return `${y}-${mo}-${d}T${h}:${mi}:${s}${frac}${offset}`;
}

/** Seconds since midnight of a DICOM TM ("HHMMSS.FFFFFF", "HH:MM:SS" in old files). */
function timeSeconds(tm: string): number {
  const t = tm.trim().replace(/:/g, '');
  return Number(t.slice(0, 2) || 0) * 3600 + Number(t.slice(2, 4) || 0) * 60 + Number(t.slice(4) || 0);
}

function previousDay(da: string): string {
  const d = new Date(Date.UTC(Number(da.slice(0, 4)), Number(da.slice(4, 6)) - 1, Number(da.slice(6, 8)) - 1));
  return d.toISOString().slice(0, 10).replace(/-/g, '');
}

function earliest(times: (string | undefined)[]): string | undefined {
  const present = times.filter((t): t is string => !!t?.trim()).map((t) => t.trim());
  return present.length ? present.reduce((a, b) => (timeSeconds(b) < timeSeconds(a) ? b : a)) : undefined;
}
