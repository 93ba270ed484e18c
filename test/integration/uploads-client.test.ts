import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PetspoolClient, PetspoolApiError, NoDicomFilesError } from '../../src/index.js';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { readInstanceHeader } from '../../src/dicom/read-header.js';
import { newTaskId, newTaskRecord } from '../../src/spool/task-record.js';
import { TEST_OTHER_SUBMITTER, TEST_SUBMITTER, startTestAppliance } from '../helpers/appliance.js';
import { zipWithInfoZip, zipWithPython } from '../fixtures/zip-archives.js';
import { AuditLog, readAuditLog } from '../../src/audit/audit-log.js';

const SLICES = 34;

test("the package root exports the client: import { PetspoolClient } from 'petspool'", async () => {
  const packageName: string = 'petspool'; // a variable: resolved at run time through package.json "exports"
  const root = (await import(packageName)) as typeof import('../../src/index.js');
  assert.equal(root.PetspoolClient, PetspoolClient);
});

/** A running appliance, a work folder and a client for its API, all cleaned up after the test. */
async function applianceWithClient(t: TestContext, changes: Record<string, unknown> = {}) {
  const app = await startTestAppliance(changes);
  const work = await mkdtemp(path.join(os.tmpdir(), 'petspool-upload-'));
  t.after(async () => {
    await app.stop();
    await rm(work, { recursive: true, force: true });
    await rm(app.dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${app.config.api.port}`;
  return { app, work, url, client: new PetspoolClient({ url, token: TEST_SUBMITTER.token, pollMs: 100 }) };
}

test('upload API + PetspoolClient: upload, import with problems, tasks, results download', async (t) => {
  const { app, work, client } = await applianceWithClient(t, { compilator: { quiet_seconds: 0.5, min_images: 30 } });

  // A synthetic series in a sub-folder, plus two files that are not DICOM.
  const series = path.join(work, 'study');
  const files = await synthesizePetSeries(path.join(series, 'PET'), { slices: SLICES, size: 32 });
  await writeFile(path.join(series, 'notes.txt'), 'scanned on the old console\n');
  await writeFile(path.join(series, 'scan.jpg'), Buffer.alloc(400, 0xff));

  const upload = await client.uploadDicomDir(series);
  assert.equal(upload.files, SLICES);
  assert.deepEqual(upload.problems, ['2 files are not DICOM: notes.txt, scan.jpg']);

  const imported = await client.waitForImport(upload.uploadId, { timeoutMs: 20_000 });
  assert.equal(imported.taskIds.length, 1, `one task: ${JSON.stringify(imported)}`);
  assert.deepEqual(imported.problems, ['2 files are not DICOM: notes.txt, scan.jpg']);
  const [taskId] = imported.taskIds;

  const summaries = await client.tasksForUpload(upload.uploadId);
  assert.equal(summaries.length, 1);
  assert.equal(summaries[0]!.id, taskId);
  assert.equal(summaries[0]!.series_instance_uid, readInstanceHeader(files[0]!).seriesInstanceUid);
  // Every accepted file ended in the task, none was left behind in the hot folder or staging.
  const { dir: taskDir } = await app.appliance.parts.spool.locateTask(taskId!);
  assert.equal((await readdir(path.join(taskDir, 'instances'))).length, SLICES);
  assert.deepEqual(await readdir(path.join(app.config.spool_dir, 'uploads')), []);

  // A finished task with one output series: waitForResults resolves, downloadResults writes it.
  const doneId = newTaskId();
  await app.appliance.parts.spool.createTask('sent', newTaskRecord({ id: doneId, sender: 'hotfolder',
    series_instance_uid: '1.2.3', study_instance_uid: '1.2', facts: { submitted_by: [TEST_SUBMITTER.name] } }), async (dir) => {
    await mkdir(path.join(dir, 'outputs', 'fwhm4'), { recursive: true });
    for (const [i, f] of files.slice(0, 3).entries()) await writeFile(path.join(dir, 'outputs', 'fwhm4', `IM${i + 1}.dcm`), await readFile(f));
  });
  const seen: string[] = [];
  const results = await client.waitForResults([doneId], { timeoutMs: 5000, onProgress: (p) => seen.push(p.state) });
  assert.equal(results.allDone, true);
  assert.deepEqual(seen, ['done']);
  const out = path.join(work, 'out');
  const downloaded = await client.downloadResults(doneId, out);
  assert.deepEqual(downloaded.map((s) => [s.series, s.files]), [['fwhm4', 3]]);
  assert.deepEqual(await readdir(path.join(out, 'fwhm4')), ['IM1.dcm', 'IM2.dcm', 'IM3.dcm']);
  assert.deepEqual(await readFile(path.join(out, 'fwhm4', 'IM2.dcm')), await readFile(files[1]!));

  // The submitter is recorded on the task it sent; another submitter sees neither the upload nor the tasks.
  await app.waitFor('the submitter on the task', async () =>
    ((await app.appliance.parts.spool.locateTask(taskId!)).record.facts.submitted_by as string[] | undefined)?.includes(TEST_SUBMITTER.name) || undefined);
  const other = new PetspoolClient({ url: client.url, token: TEST_OTHER_SUBMITTER.token });
  for (const refused of [() => other.uploadStatus(upload.uploadId), () => other.task(taskId!), () => other.results(doneId),
    () => other.downloadResults(doneId, path.join(work, 'x'))]) {
    await assert.rejects(refused(), (err: Error) => err instanceof PetspoolApiError && err.status === 403 && /not (submitted|started) by other-pc/.test(err.message));
  }
  const denied = (await readAuditLog(AuditLog.inSpool(app.config.spool_dir).file)).filter((e) => e.action === 'access_denied');
  assert.deepEqual([...new Set(denied.map((e) => `${e.who} ${e.role}`))], ['other-pc submitter'], 'the refusals are audited');
  // A submitter reaches nothing of an operator's.
  const list = await fetchStatus(client.url, TEST_SUBMITTER.token, 'GET', '/tasks');
  assert.equal(list.status, 403);
  assert.match(list.text, /submitter ward-pc may not GET \/tasks: that is for operators/);
  assert.equal((await fetchStatus(client.url, TEST_SUBMITTER.token, 'POST', `/tasks/${taskId}/abort`, '{}')).status, 403);
});

test('upload API refusals: empty folder, only non-DICOM, wrong token, bad names, closed upload', async (t) => {
  const { work, url, client } = await applianceWithClient(t);

  const empty = path.join(work, 'empty');
  await mkdir(empty);
  await assert.rejects(client.uploadDicomDir(empty), (err: Error) => err instanceof NoDicomFilesError
    && err.message === `No DICOM files found in ${empty}`);

  const junk = path.join(work, 'junk');
  await mkdir(junk);
  await writeFile(path.join(junk, 'a.txt'), 'x');
  await writeFile(path.join(junk, 'b.txt'), 'y');
  await writeFile(path.join(junk, 'c.pdf'), '%PDF');
  await assert.rejects(client.uploadDicomDir(junk), /No DICOM files found in .*junk: 3 files are not DICOM: a.txt, b.txt, c.pdf/);

  await assert.rejects(new PetspoolClient({ url, token: 'wrong' }).uploadDicomDir(junk),
    (err: Error) => err instanceof PetspoolApiError && err.status === 401);

  const api = (method: string, route: string, body?: string) => fetchStatus(url, TEST_SUBMITTER.token, method, route, body);
  const { upload_id: id } = JSON.parse((await api('POST', '/uploads')).text) as { upload_id: string };
  assert.equal((await api('PUT', `/uploads/${id}/files/.hidden`, 'x')).status, 400);
  assert.equal((await api('PUT', `/uploads/${id}/files/a%2F..%2Fb`, 'x')).status, 400);
  assert.equal((await api('PUT', '/uploads/0123456789abcdef/files/a.dcm', 'x')).status, 404);
  const completed = JSON.parse((await api('POST', `/uploads/${id}/complete`)).text) as { state: string; problems: string[] };
  assert.equal(completed.state, 'imported');
  assert.deepEqual(completed.problems, ['No DICOM files in this upload']);
  assert.equal((await api('PUT', `/uploads/${id}/files/a.dcm`, 'x')).status, 409);
});

/** A raw request, to check answers the typed client never provokes. */
async function fetchStatus(url: string, token: string, method: string, route: string, body?: string): Promise<{ status: number; text: string }> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(`${url}${route}`, { method, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('a zip archive uploaded is checked on arrival and unpacked on completion: its series becomes a task, its README is named, a hostile zip is refused at once', async (t) => {
  const { app, work, client } = await applianceWithClient(t, { compilator: { quiet_seconds: 0.5, min_images: 30 } });
  const study = path.join(work, 'export');
  const files = await synthesizePetSeries(path.join(study, 'DICOM', 'PET'), { slices: SLICES, size: 32 });
  await writeFile(path.join(study, 'README.txt'), 'exported by a viewer\n');
  const folder = path.join(work, 'to-send');
  await mkdir(folder);
  await zipWithInfoZip(study, path.join(folder, 'study.zip'));
  await zipWithPython(path.join(folder, 'slip.zip'), [['../../escape.dcm', files[0]!]]);

  const upload = await client.uploadDicomDir(folder);
  assert.equal(upload.files, 1, 'the sound archive is accepted as one file');
  assert.deepEqual(upload.problems, ['slip.zip: zip archive refused: entry ../../escape.dcm escapes the folder']);
  const imported = await client.waitForImport(upload.uploadId, { timeoutMs: 30_000 });
  assert.equal(imported.taskIds.length, 1, `one task: ${JSON.stringify(imported)}`);
  assert.deepEqual(imported.problems, [
    'slip.zip: zip archive refused: entry ../../escape.dcm escapes the folder',
    'study.zip: 1 entry is not DICOM and was not imported: README.txt',
  ]);
  const { dir: taskDir, record } = await app.appliance.parts.spool.locateTask(imported.taskIds[0]!);
  assert.equal(record.series_instance_uid, readInstanceHeader(files[0]!).seriesInstanceUid);
  assert.equal((await readdir(path.join(taskDir, 'instances'))).length, SLICES);
  const hotFolder = path.join(app.config.spool_dir, 'incoming');
  const left = await readdir(hotFolder, { recursive: true, withFileTypes: true });
  assert.deepEqual(left.filter((e) => e.isFile()).map((e) => e.name), [], 'the archive and its extraction are gone from the hot folder');
});
