import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, open, readFile, readdir, rename, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { readInstanceHeader } from '../../src/dicom/read-header.js';
import { EXTRACTIONS_DIR } from '../../src/stages/zip-intake.js';
import type { TaskRecord } from '../../src/spool/task-record.js';
import { startStorescp, type RunningStorescp } from '../fixtures/dcmtk.js';
import { makeDicomDir, placeAsCdFiles, zipWith7z, zipWithInfoZip, zipWithPython } from '../fixtures/zip-archives.js';
import { startTestAppliance, type RunningAppliance } from '../helpers/appliance.js';

const SLICES = 12;
let app: RunningAppliance;
let pacs: RunningStorescp;
let work: string;
let incoming: string;

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'petspool-zips-'));
  await mkdir(path.join(work, 'pacs'));
  pacs = await startStorescp(path.join(work, 'pacs'), ['+uf']);
  app = await startTestAppliance({
    destinations: [{ name: 'pacs', ae_title: 'STORESCP', host: '127.0.0.1', port: pacs.port, mirror: false }],
    compilator: { quiet_seconds: 0.5, min_images: 10, max_gap_ratio: 0.025, abort_incomplete_after_seconds: 60 },
    share: { poll_seconds: 0.5 },
    zip_intake: { max_entries: 200, max_total_mb: 64, max_entry_mb: 32 },
  });
  incoming = path.join(app.config.spool_dir, 'incoming');
});
after(async () => {
  await app.stop();
  await pacs.stop();
});

const seriesUid = (files: string[]) => readInstanceHeader(files[0]!).seriesInstanceUid;
const series = (name: string, seed: number) => synthesizePetSeries(path.join(work, name), { slices: SLICES, size: 32, seed });

/** Drop a finished archive into the hot folder in one step (as a copy from another folder would end). */
async function drop(archive: string, name = path.basename(archive)): Promise<string> {
  const target = path.join(incoming, name);
  await copyFile(archive, `${target}.partial-copy`);
  await rename(`${target}.partial-copy`, target);
  return target;
}

async function quarantinedArchive(name: string): Promise<TaskRecord> {
  return app.waitFor(`${name} quarantined`, async () => (await app.tasks(['failed'])).find((t) => t.facts.original_name === name));
}

test('zips made by zip, 7-Zip and Python (nested folders, DICOMDIR, README) are unpacked and their series flow to the PACS', { timeout: 180_000 }, async () => {
  const [a, b, c] = [await series('a', 1), await series('b', 2), await series('c', 3)];
  // Info-ZIP: a CD export (DICOMDIR by dcmmkdir, files without extension in nested folders) and a README.
  const cd = path.join(work, 'cd');
  await placeAsCdFiles(a, path.join(cd, 'DICOM', 'PAT1', 'PET'));
  await makeDicomDir(cd);
  await writeFile(path.join(cd, 'README.TXT'), 'Exported by a PACS viewer.\n');
  await zipWithInfoZip(cd, path.join(work, 'cd-export.zip'));
  // 7-Zip: a viewer's export folder, deeper nesting.
  const viewer = path.join(work, 'viewer');
  await placeAsCdFiles(b, path.join(viewer, 'Study 1', 'Series 2 PET AC'));
  await zipWith7z(viewer, path.join(work, 'viewer-export.zip'));
  // Python zipfile, deflated, with a PDF report beside the images.
  await writeFile(path.join(work, 'report.pdf'), '%PDF-1.4 not really\n');
  await zipWithPython(path.join(work, 'python.zip'), [
    ...c.map((f, i): [string, string] => [`export/pet/slice${i}.dcm`, f]), ['export/report.pdf', path.join(work, 'report.pdf')],
  ]);

  for (const name of ['cd-export.zip', 'viewer-export.zip', 'python.zip']) await drop(path.join(work, name));
  const done = await app.waitFor('three series delivered', async () => {
    const ts = (await app.tasks()).filter((t) => [a, b, c].some((s) => seriesUid(s) === t.series_instance_uid));
    assert.deepEqual(ts.filter((t) => t.state === 'failed').map((t) => t.reason), []);
    return ts.length === 3 && ts.every((t) => t.state === 'done') ? ts : undefined;
  }, 150_000);
  for (const t of done) {
    assert.equal(t.images, SLICES, 'every slice, once');
    assert.equal(t.sender, 'hotfolder');
  }
  assert.deepEqual((await readdir(incoming)).filter((n) => n.endsWith('.zip')), [], 'the archives are removed');
  assert.deepEqual(await readdir(path.join(incoming, EXTRACTIONS_DIR)).catch(() => []), [], 'nothing left extracted');
  const ignored = path.join(app.config.spool_dir, 'ignored');
  const setAside = (await readdir(ignored)).filter((n) => n.startsWith('archive-'));
  const reasons = await Promise.all(setAside.map(async (n) => JSON.parse(await readFile(path.join(ignored, n, 'reason.json'), 'utf8'))));
  const byArchive = Object.fromEntries(reasons.map((r) => [r.archive, r.entries]));
  assert.deepEqual(byArchive['cd-export.zip'], ['README.TXT']);
  assert.deepEqual(byArchive['python.zip'], ['export/report.pdf']);
  assert.equal(byArchive['viewer-export.zip'], undefined, 'nothing set aside from an archive of DICOM files only');
  const readme = setAside.find((n) => n.endsWith('cd-export.zip'))!;
  assert.equal(await readFile(path.join(ignored, readme, 'README.TXT'), 'utf8'), 'Exported by a PACS viewer.\n');
  assert.equal((await app.tasks(['failed'])).filter((t) => /DICOMDIR|README/.test(String(t.facts.original_name))).length, 0,
    'the DICOMDIR and the README are no failures');
});

test('a zip slip, an absolute path, a symbolic link, a bomb and too many entries: each archive refused whole with the reason, nothing written outside', { timeout: 120_000 }, async () => {
  const [slice] = await series('hostile', 4);
  const outside = path.join(app.config.spool_dir, 'evil.dcm');
  const absolute = path.join(work, 'absolute-evil.dcm');
  await zipWithPython(path.join(work, 'slip.zip'), [['ok/IM00001', slice!], ['ok/../../../evil.dcm', slice!]]);
  await zipWithPython(path.join(work, 'absolute.zip'), [[absolute, slice!]]);
  const linked = path.join(work, 'linked');
  await mkdir(linked);
  await copyFile(slice!, path.join(linked, 'IM00001'));
  await symlink('/etc/passwd', path.join(linked, 'IM00002'));
  await zipWithInfoZip(linked, path.join(work, 'link.zip'), { keepLinks: true });
  await zipWithPython(path.join(work, 'bomb.zip'), [['IM00001', slice!], ['zeros.bin', { zeros: 200 * 1024 ** 2 }]]);
  assert.ok((await stat(path.join(work, 'bomb.zip'))).size < 1024 ** 2, 'the bomb is small');
  await zipWithPython(path.join(work, 'many.zip'), Array.from({ length: 201 }, (_, i): [string, string] => [`f${i}`, slice!]));

  const expected: Record<string, RegExp> = {
    'slip.zip': /^zip archive refused: entry ok\/\.\.\/\.\.\/\.\.\/evil\.dcm escapes the folder$/,
    'absolute.zip': /^zip archive refused: entry .*absolute-evil\.dcm has an absolute path$/,
    'link.zip': /^zip archive refused: entry IM00002 is a symbolic link$/,
    'bomb.zip': /^zip archive refused: (entry zeros\.bin expands (to|past) .*32 MiB per-entry limit|archive expands past 64 MiB limit)/,
    'many.zip': /^zip archive refused: archive has 201 entries, more than the limit of 200$/,
  };
  for (const name of Object.keys(expected)) await drop(path.join(work, name));
  for (const [name, reason] of Object.entries(expected)) {
    const task = await quarantinedArchive(name);
    assert.match(task.reason ?? '', reason, name);
    const files = await readdir(path.join(app.config.spool_dir, 'failed', task.id));
    assert.ok(files.includes(name), `${name} kept in its failed/ entry: ${files}`);
  }
  await assert.rejects(stat(outside), 'nothing written outside the extraction folder');
  await assert.rejects(stat(absolute), 'nothing written at the absolute path');
  assert.deepEqual(await readdir(path.join(incoming, EXTRACTIONS_DIR)).catch(() => []), [], 'no extraction left behind');
  assert.deepEqual((await readdir(incoming)).filter((n) => n.endsWith('.zip')), []);
});

test('a zip copied in slowly is read once, complete', { timeout: 120_000 }, async () => {
  const files = await series('slow', 5);
  const root = path.join(work, 'slow-root');
  await placeAsCdFiles(files, root);
  await zipWithInfoZip(root, path.join(work, 'slow.zip'));
  const bytes = await readFile(path.join(work, 'slow.zip'));
  // Eight pieces over ~3 s, each pause shorter than the hot folder's 2 s stability wait.
  const fh = await open(path.join(incoming, 'slow.zip'), 'w');
  const piece = Math.ceil(bytes.length / 8);
  for (let at = 0; at < bytes.length; at += piece) {
    await fh.write(bytes.subarray(at, at + piece));
    await new Promise((r) => setTimeout(r, 400));
  }
  await fh.close();
  const [task] = await app.waitFor('the slowly copied series', async () => {
    const ts = (await app.tasks()).filter((t) => t.series_instance_uid === seriesUid(files));
    return ts.length === 1 && ts[0]!.history.some((h) => h.state === 'compiled') ? ts : undefined;
  }, 60_000);
  assert.equal(task!.images, SLICES);
  assert.equal((await app.tasks(['failed'])).filter((t) => t.facts.original_name === 'slow.zip').length, 0, 'never read half-written');
});

test('a zip that would not leave dicom.min_free_mb free waits in the hot folder, neither unpacked nor refused', { timeout: 60_000 }, async () => {
  const files = await series('no-room', 6);
  const root = path.join(work, 'no-room-root');
  await placeAsCdFiles(files, root);
  await zipWithInfoZip(root, path.join(work, 'no-room.zip'));
  const full = await startTestAppliance({ dicom: { min_free_mb: 1024 ** 3 } });
  try {
    const hotFolder = path.join(full.config.spool_dir, 'incoming');
    await copyFile(path.join(work, 'no-room.zip'), path.join(hotFolder, '.copying'));
    await rename(path.join(hotFolder, '.copying'), path.join(hotFolder, 'no-room.zip'));
    await new Promise((r) => setTimeout(r, 3500));
    assert.deepEqual((await readdir(hotFolder)).filter((n) => n.endsWith('.zip')), ['no-room.zip'], 'the archive waits');
    assert.deepEqual(await readdir(path.join(hotFolder, EXTRACTIONS_DIR)).catch(() => []), [], 'nothing extracted');
    assert.deepEqual(await full.tasks(), [], 'no task, no refusal');
  } finally {
    await full.stop();
  }
});
