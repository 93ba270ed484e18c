import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readInstanceHeader } from '../../../src/dicom/read-header.js';
import { synthesizePetSeries } from '../../../src/series/synth.js';
import { PermanentError } from '../../../src/runner/stage.js';
import { INSTANCES_DIR } from '../../../src/spool/layout.js';
import { readTaskInstances, TASK_HEADERS_FILE, writeTaskHeaders } from '../../../src/stages/task-headers.js';

async function taskWithInstances(slices = 5) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-task-headers-'));
  const files = await synthesizePetSeries(path.join(dir, INSTANCES_DIR), { slices, size: 8 });
  return { dir, files };
}

/** headers.json as written, with one instance's SeriesDescription changed: tells cache reads from file reads. */
async function markCachedHeaders(dir: string): Promise<void> {
  const file = path.join(dir, TASK_HEADERS_FILE);
  const entries = JSON.parse(await readFile(file, 'utf8')) as { name: string; header: { seriesDescription?: string } }[];
  entries[0]!.header.seriesDescription = 'FROM HEADERS.JSON';
  await writeFile(file, JSON.stringify(entries));
}

test('the headers come from headers.json when it lists exactly the instance files', async () => {
  const { dir, files } = await taskWithInstances();
  try {
    await writeTaskHeaders(dir, files.map((file) => ({ file, header: readInstanceHeader(file) })));
    await markCachedHeaders(dir);
    const instances = await readTaskInstances(dir);
    assert.deepEqual(instances.map((i) => i.file), [...files].sort());
    assert.equal(instances.filter((i) => i.header.seriesDescription === 'FROM HEADERS.JSON').length, 1);
    for (const i of instances) assert.equal(i.header.sopInstanceUid, readInstanceHeader(i.file).sopInstanceUid);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the files are read when headers.json is missing, damaged or lists other files', async () => {
  const { dir, files } = await taskWithInstances();
  try {
    const fromFiles = await readTaskInstances(dir);
    assert.equal(fromFiles.length, files.length);
    assert.ok(fromFiles.every((i) => i.header.sopInstanceUid === readInstanceHeader(i.file).sopInstanceUid));

    // Written for all but one file: the cache is not trusted.
    await writeTaskHeaders(dir, files.slice(1).map((file) => ({ file, header: readInstanceHeader(file) })));
    await markCachedHeaders(dir);
    assert.ok((await readTaskInstances(dir)).every((i) => i.header.seriesDescription !== 'FROM HEADERS.JSON'));

    await writeFile(path.join(dir, TASK_HEADERS_FILE), '{"half-written');
    assert.equal((await readTaskInstances(dir)).length, files.length);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a task without instances/ or with an unreadable file cannot heal', async () => {
  const { dir } = await taskWithInstances(2);
  try {
    await writeFile(path.join(dir, INSTANCES_DIR, 'zz-broken.dcm'), 'not DICOM at all');
    await assert.rejects(readTaskInstances(dir), (err: Error) => err instanceof PermanentError && /zz-broken\.dcm is unreadable/.test(err.message));
    await rm(path.join(dir, INSTANCES_DIR), { recursive: true });
    await assert.rejects(readTaskInstances(dir), (err: Error) => err instanceof PermanentError && /no instances\/ folder/.test(err.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
