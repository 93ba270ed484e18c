/**
 * `headers.json` in a task folder: the header facts (InstanceHeader) of every instance, by file
 * name. The compilator writes it from the headers the receiver already read, so that the
 * validator, the packer and the unpacker do not parse every file again (dcmjs takes about 0.85 ms
 * per file: three stages × 400 slices were more than a second of the end-to-end time).
 * The instance files stay the truth: when headers.json is missing or unreadable, or does not list
 * exactly the files in instances/ (a task written by an older version), the files are read.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { InstanceHeader } from '../dicom/instance-header.js';
import { readInstanceHeader } from '../dicom/read-header.js';
import { PermanentError } from '../runner/stage.js';
import { writeFileDurably } from '../spool/durable.js';
import { INSTANCES_DIR } from '../spool/layout.js';

export const TASK_HEADERS_FILE = 'headers.json';

/** One instance of a task: its file (absolute path) and its header. */
export interface TaskInstance {
  file: string;
  header: InstanceHeader;
}

interface HeadersFileEntry {
  name: string;
  header: InstanceHeader;
}

/** Writes headers.json for instances given by path (only their names under instances/ are kept). */
export async function writeTaskHeaders(taskDir: string, instances: readonly TaskInstance[]): Promise<void> {
  const entries: HeadersFileEntry[] = instances.map(({ file, header }) => ({ name: path.basename(file), header }));
  await writeFileDurably(path.join(taskDir, TASK_HEADERS_FILE), JSON.stringify(entries));
}

/**
 * Every instance of the task with its header, sorted by file name. A task without an instances/
 * folder, or with a file that cannot be read as DICOM, cannot heal: PermanentError.
 */
export async function readTaskInstances(taskDir: string): Promise<TaskInstance[]> {
  const instancesDir = path.join(taskDir, INSTANCES_DIR);
  const names = (await readdir(instancesDir).catch(async (err: NodeJS.ErrnoException) => {
    // A task folder that is gone was moved away meanwhile (an operator's abort): not the task's fault.
    const taskStillThere = await stat(taskDir).then(() => true, () => false);
    if (err.code === 'ENOENT' && taskStillThere) throw new PermanentError(`the task has no ${INSTANCES_DIR}/ folder`);
    throw err;
  })).filter((n) => n.endsWith('.dcm')).sort();

  const cached = await readHeadersFile(taskDir);
  if (cached && cached.size === names.length && names.every((n) => cached.has(n))) {
    return names.map((name) => ({ file: path.join(instancesDir, name), header: cached.get(name)! }));
  }
  const instances: TaskInstance[] = [];
  for (const name of names) {
    const file = path.join(instancesDir, name);
    // Read asynchronously, parse synchronously: the event loop stays free while the disk works.
    const bytes = await readFile(file);
    try {
      instances.push({ file, header: readInstanceHeader(bytes) });
    } catch (err) {
      throw new PermanentError(`${INSTANCES_DIR}/${name} is unreadable: ${(err as Error).message}`);
    }
  }
  return instances;
}

async function readHeadersFile(taskDir: string): Promise<Map<string, InstanceHeader> | undefined> {
  try {
    const entries = JSON.parse(await readFile(path.join(taskDir, TASK_HEADERS_FILE), 'utf8')) as HeadersFileEntry[];
    return new Map(entries.map((e) => [e.name, e.header]));
  } catch {
    return undefined;
  }
}
