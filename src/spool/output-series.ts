/**
 * The output series in a task folder, as the unpacker writes them and the sender, the early
 * delivery and the previews API read them:
 *   outputs/<filter>/   IM00001.dcm... + series.json (the manifest: what the folder holds, so a
 *                       reader need not parse every file)
 *   previews/<filter>.png  (next to the packer's previews/original.png)
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export const OUTPUTS_DIR = 'outputs';
export const PREVIEWS_DIR = 'previews';
export const SERIES_MANIFEST = 'series.json';

/** outputs/<filter>/series.json. */
export interface SeriesManifest {
  filter: string;
  fwhm_mm: number;
  blend: number;
  series_instance_uid: string;
  instances: { file: string; sop_instance_uid: string }[];
}

/** One entry of the task fact `output_series`. */
export interface OutputSeriesFact {
  filter: string;
  series_instance_uid: string;
  files: number;
}

/** An output series and the folder holding its files. */
export interface OutputSeries { manifest: SeriesManifest; dir: string }

export async function readSeriesManifest(seriesDir: string): Promise<SeriesManifest> {
  return JSON.parse(await readFile(path.join(seriesDir, SERIES_MANIFEST), 'utf8')) as SeriesManifest;
}
