/**
 * What a task produced, for the dashboard and the upload client: its MIP previews
 * (previews/original.png from the packer, previews/<filter>.png from the unpacker) and its output
 * series (outputs/<filter>/*.dcm), listed and downloadable file by file.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { HttpError, type Route } from '../router.js';
import { TaskNotFoundError, type Spool } from '../../spool/spool.js';
import { OUTPUTS_DIR, PREVIEWS_DIR, SERIES_MANIFEST, type SeriesManifest } from '../../spool/output-series.js';

/** GET /tasks/:id/previews */
export interface TaskPreviews {
  task_id: string;
  /** MIP of the series as received; null until the packer made it. */
  original: string | null;
  /** One MIP per filtered output series, by filter name. */
  filtered: { name: string; url: string }[];
}

/** One entry of GET /tasks/:id/results */
export interface ResultSeries {
  /** The folder name under outputs/ (the filter's name); the :series of the download route. */
  series: string;
  series_instance_uid: string | null;
  files: string[];
}

const NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

export function previewRoutes(spool: Spool): Route[] {
  const taskDir = async (id: string): Promise<string> => {
    try {
      return (await spool.locateTask(id)).dir;
    } catch (err) {
      if (err instanceof TaskNotFoundError) throw new HttpError(404, `no task ${id}`);
      throw err;
    }
  };
  return [
    {
      method: 'GET', path: '/tasks/:id/previews', allow: ['operator', 'submitter'], ownTask: true,
      handler: async (req) => {
        const id = req.params.id!;
        const pngs = (await namesIn(path.join(await taskDir(id), PREVIEWS_DIR))).filter((n) => n.endsWith('.png'));
        const url = (name: string) => `/tasks/${encodeURIComponent(id)}/previews/${encodeURIComponent(name)}`;
        const body: TaskPreviews = {
          task_id: id,
          original: pngs.includes('original.png') ? url('original.png') : null,
          filtered: pngs.filter((n) => n !== 'original.png').map((n) => ({ name: n.slice(0, -4), url: url(n) })),
        };
        return { body };
      },
    },
    {
      method: 'GET', path: '/tasks/:id/previews/:name', allow: ['operator', 'submitter'], ownTask: true,
      handler: async (req) => {
        const name = checkedName(req.params.name!);
        if (!name.endsWith('.png')) throw new HttpError(404, 'previews are PNG files');
        const file = path.join(await taskDir(req.params.id!), PREVIEWS_DIR, name);
        const png = await readFile(file).catch(() => { throw new HttpError(404, `task ${req.params.id} has no preview ${name}`); });
        return { body: png, contentType: 'image/png' };
      },
    },
    {
      method: 'GET', path: '/tasks/:id/results', allow: ['operator', 'submitter'], ownTask: true,
      handler: async (req) => ({ body: await resultSeries(await taskDir(req.params.id!)) }),
    },
    {
      method: 'GET', path: '/tasks/:id/results/:series/:file', allow: ['operator', 'submitter'], ownTask: true,
      handler: async (req) => {
        const file = path.join(await taskDir(req.params.id!), OUTPUTS_DIR, checkedName(req.params.series!), checkedName(req.params.file!));
        const isFile = await stat(file).then((s) => s.isFile(), () => false);
        if (!isFile || !file.endsWith('.dcm')) throw new HttpError(404, `no result file ${req.params.series}/${req.params.file}`);
        // One slice is small (well under a few MB): read whole, the JSON server answers with a Buffer.
        return { body: await readFile(file), contentType: 'application/dicom' };
      },
    },
  ];
}

/** Output series of a task folder: the unpacker's manifest when present, else the .dcm files. */
async function resultSeries(dir: string): Promise<ResultSeries[]> {
  const out: ResultSeries[] = [];
  for (const series of await namesIn(path.join(dir, OUTPUTS_DIR))) {
    if (!NAME.test(series)) continue; // temporary folders (.tmp-) are not results yet
    const folder = path.join(dir, OUTPUTS_DIR, series);
    const manifest = await readFile(path.join(folder, SERIES_MANIFEST), 'utf8')
      .then((t) => JSON.parse(t) as SeriesManifest, () => undefined);
    const files = manifest ? manifest.instances.map((i) => i.file) : (await namesIn(folder)).filter((n) => n.endsWith('.dcm'));
    out.push({ series, series_instance_uid: manifest?.series_instance_uid ?? null, files });
  }
  return out;
}

async function namesIn(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

/** One path segment, so a request can never leave the task folder. */
function checkedName(name: string): string {
  if (!NAME.test(name)) throw new HttpError(400, `"${name}" is not a file name`);
  return name;
}
