import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { z } from 'zod';

/**
 * `metadata.json` travelling next to `{task_id}.npy` in the upload and result archives (see
 * DESIGN.md, "Remote service contract"). It describes the voxels well enough to process them and
 * compute SUV, and deliberately carries no patient name or patient ID: those never leave the site.
 */
export interface TaskMetadata {
  task_id: string;
  client_id: string;
  /** Shape of the .npy array, in `axis_order`. */
  shape: [number, number, number];
  /** e.g. "slice,row,column" (see imaging/volume.ts). */
  axis_order: string;
  /** Voxel size in mm along the axes of `axis_order`. */
  spacing_mm: [number, number, number];
  /** ImageOrientationPatient (row cosines, then column cosines). */
  orientation: [number, number, number, number, number, number];
  /** DICOM Units (0054,1001) of the values, e.g. "BQML". */
  units: string;
  radiopharmaceutical: { name: string; code: string | null; nuclide: string | null };
  half_life_s: number;
  dose_bq: number;
  /** ISO 8601 date-time of the injection (RadiopharmaceuticalStartDateTime or date + time). */
  injection_datetime: string;
  /**
   * ISO 8601 time the voxel values are decay-corrected to, where SUV decays the dose to: the
   * acquisition start (DecayCorrection START), the injection (ADMIN), or null (NONE: not
   * decay-corrected). Absent in metadata from older appliances (read it as START at the series time).
   */
  decay_reference_datetime?: string | null;
  /** DICOM DA / TM as found in the series. */
  series_date: string;
  series_time: string;
  patient: { weight_kg: number; size_m: number | null; age: string | null };
  scanner_model: string | null;
  /** Reconstruction settings; `method` is what the licence check (407) looks at. */
  reconstruction: { method: string | null; [setting: string]: unknown };
  /** sha256 (hex) of the `{task_id}.npy` in the same archive. */
  npy_sha256: string;
  /** Added by the processing service to result metadata: what was done to the voxels. */
  processing?: ProcessingDescription;
}

export interface ProcessingDescription {
  method: string;
  description: string;
  service: string;
  processed_at: string;
}

const finite = z.number().finite();

/**
 * Runtime check of a metadata.json read from an archive or a request body. Unknown extra keys are
 * kept (a newer peer may add some); missing or mistyped required keys are refused with their path.
 */
export const taskMetadataSchema = z.looseObject({
  task_id: z.string().min(1),
  client_id: z.string().min(1),
  shape: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
  axis_order: z.string(),
  spacing_mm: z.tuple([finite, finite, finite]),
  orientation: z.tuple([finite, finite, finite, finite, finite, finite]),
  units: z.string(),
  radiopharmaceutical: z.looseObject({ name: z.string(), code: z.string().nullable(), nuclide: z.string().nullable() }),
  half_life_s: finite,
  dose_bq: finite,
  injection_datetime: z.string(),
  series_date: z.string(),
  series_time: z.string(),
  patient: z.looseObject({ weight_kg: finite, size_m: finite.nullable(), age: z.string().nullable() }),
  scanner_model: z.string().nullable(),
  reconstruction: z.looseObject({ method: z.string().nullable() }),
  npy_sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
});

/** Validate parsed JSON as TaskMetadata; the error lists every problem by its dotted path. */
export function parseTaskMetadata(value: unknown): TaskMetadata {
  const result = taskMetadataSchema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`metadata.json is not valid: ${problems.join('; ')}`);
  }
  return result.data as TaskMetadata;
}

/** sha256 of a file, streamed (volumes are hundreds of MB), as lowercase hex. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
