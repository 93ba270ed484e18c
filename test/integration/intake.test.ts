import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile, open, readdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { runDcmtk } from '../fixtures/dcmtk.js';
import { startTestAppliance, type RunningAppliance } from '../helpers/appliance.js';
import type { TaskRecord } from '../../src/spool/task-record.js';

let app: RunningAppliance;
let work: string;

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'petspool-intake-'));
  app = await startTestAppliance({
    compilator: { quiet_seconds: 0.5, min_images: 10, max_gap_ratio: 0.025, abort_incomplete_after_seconds: 3 },
  });
});
after(async () => { await app.stop(); });

async function storescu(aet: string, files: string[]): Promise<void> {
  const r = await runDcmtk('storescu', ['-aec', app.config.ae_title, '-aet', aet, '127.0.0.1', String(app.config.dicom.port), ...files]);
  assert.equal(r.code, 0, r.stderr);
}

const reached = (t: TaskRecord, state: string) => t.history.some((h) => h.state === state);

async function tasksOfSeries(uid: string): Promise<TaskRecord[]> {
  return (await app.tasks()).filter((t) => t.series_instance_uid === uid);
}

/** `look` at the task's folder, again wherever it moved to when it moved on meanwhile (ENOENT). */
async function whileTaskMoves<T>(id: string, look: (dir: string) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const { dir } = await app.appliance.parts.spool.locateTask(id);
    try {
      return await look(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 20) throw err;
    }
  }
}

test('a complete series pushed with storescu becomes one task that is compiled and validated; a CT series never becomes a task', async () => {
  const pet = await synthesizePetSeries(path.join(work, 'pet1'), { slices: 20, size: 32, seed: 1 });
  const ct = await synthesizePetSeries(path.join(work, 'ct1'), { slices: 3, size: 32, ct: true });
  await storescu('SCANNER1', [...pet, ...ct]);
  const seriesUid = (await import('../../src/dicom/read-header.js')).readInstanceHeader(pet[0]).seriesInstanceUid;
  const ctUid = (await import('../../src/dicom/read-header.js')).readInstanceHeader(ct[0]).seriesInstanceUid;
  const [task] = await app.waitFor('the series to be validated', async () => {
    const ts = await tasksOfSeries(seriesUid);
    return ts.length === 1 && reached(ts[0], 'validated') ? ts : undefined;
  });
  assert.equal(task.images, 20);
  assert.equal(task.sender, 'ae:SCANNER1');
  // The compilator left the headers it had for the later stages, one per instance file.
  const { cached, instances } = await whileTaskMoves(task.id, async (dir) => ({
    cached: JSON.parse(await readFile(path.join(dir, 'headers.json'), 'utf8')) as { name: string; header: { seriesInstanceUid: string } }[],
    instances: await readdir(path.join(dir, 'instances')),
  }));
  assert.deepEqual(cached.map((e) => e.name).sort(), instances.sort());
  assert.ok(cached.every((e) => e.header.seriesInstanceUid === seriesUid));
  assert.equal((await tasksOfSeries(ctUid)).length, 0, 'CT makes no task');
  const ignored = await readdir(path.join(app.config.spool_dir, 'ignored', ctUid));
  assert.equal(ignored.length, 3, 'CT instances kept in ignored/');
  await app.appliance.parts.store.flush();
  const db = JSON.parse(await readFile(app.config.database, 'utf8'));
  assert.equal(db.series[seriesUid].instances_received, 20);
  assert.equal(db.series[ctUid].ignored, true);
  assert.equal(db.tasks[task.id].series_instance_uid, seriesUid);
});

test('the same series pushed twice makes two tasks; two senders make two tasks', async () => {
  const pet = await synthesizePetSeries(path.join(work, 'pet2'), { slices: 12, size: 32, seed: 2 });
  const uid = (await import('../../src/dicom/read-header.js')).readInstanceHeader(pet[0]).seriesInstanceUid;
  await storescu('SCANNER2', pet);
  await storescu('SCANNER2', pet);
  await storescu('OTHERPACS', pet);
  const tasks = await app.waitFor('three compiled tasks', async () => {
    const ts = await tasksOfSeries(uid);
    return ts.length === 3 && ts.every((t) => reached(t, 'compiled')) ? ts : undefined;
  });
  assert.deepEqual(tasks.map((t) => t.images), [12, 12, 12]);
  assert.deepEqual(tasks.map((t) => t.sender).sort(), ['ae:OTHERPACS', 'ae:SCANNER2', 'ae:SCANNER2']);
});

test('a sender retrying after a broken association (overlapping re-send of an incomplete series) makes one task', async () => {
  const pet = await synthesizePetSeries(path.join(work, 'pet6'), { slices: 16, size: 32, seed: 6 });
  const uid = (await import('../../src/dicom/read-header.js')).readInstanceHeader(pet[0]).seriesInstanceUid;
  await storescu('RETRIER', pet.slice(0, 10));
  await storescu('RETRIER', pet.slice(7));
  const [task] = await app.waitFor('the retried series', async () => {
    const ts = await tasksOfSeries(uid);
    return ts.length === 1 && reached(ts[0], 'compiled') ? ts : undefined;
  });
  assert.equal(task.images, 16, 'instances 8-10 arrived twice and were kept once');
});

test('an incomplete series is aborted after the idle limit with what was missing', async () => {
  const pet = await synthesizePetSeries(path.join(work, 'pet3'), { slices: 15, size: 32, seed: 3, missingSlices: [7] });
  const uid = (await import('../../src/dicom/read-header.js')).readInstanceHeader(pet[0]).seriesInstanceUid;
  await storescu('SCANNER3', pet);
  const [task] = await app.waitFor('the abort', async () => {
    const ts = await tasksOfSeries(uid);
    return ts.length === 1 && ts[0].state === 'aborted' ? ts : undefined;
  }, 15_000);
  assert.match(task.reason ?? '', /14 of 15 slices/);
  assert.equal(task.images, 14);
  assert.match(task.reason ?? '', /gap of [\d.]+ mm at z=/);
  assert.match(task.reason ?? '', /incomplete after \d+ s without new images/);
});

test('bad files in the hot folder end in failed/ with reasons and the appliance keeps working', async () => {
  const incoming = path.join(app.config.spool_dir, 'incoming');
  const good = await synthesizePetSeries(path.join(work, 'pet4'), { slices: 10, size: 32, seed: 4 });
  const whole = await readFile(good[0]);
  await writeFile(path.join(incoming, 'truncated.dcm'), whole.subarray(0, 700));
  await writeFile(path.join(incoming, 'empty.dcm'), '');
  await writeFile(path.join(incoming, 'random.dcm'), randomBytes(4096));
  const failed = await app.waitFor('three quarantined files', async () => {
    const ts = (await app.tasks(['failed'])).filter((t) => /truncated|empty|random/.test(String(t.facts.original_name)));
    return ts.length === 3 ? ts : undefined;
  });
  const reasons = Object.fromEntries(failed.map((t) => [String(t.facts.original_name), t.reason]));
  assert.match(reasons['truncated.dcm'] ?? '', /truncated|malformed/);
  assert.match(reasons['empty.dcm'] ?? '', /not a DICOM file/);
  assert.match(reasons['random.dcm'] ?? '', /not a DICOM file/);
  for (const t of failed) {
    const dir = path.join(app.config.spool_dir, 'failed', t.id);
    const files = await readdir(dir);
    assert.ok(files.includes('reason.json') && files.includes(String(t.facts.original_name)), files.join(','));
  }
  // Still working: a whole series dropped as a folder is collected.
  const { cp } = await import('node:fs/promises');
  await cp(path.join(work, 'pet4'), path.join(incoming, 'drop-pet4'), { recursive: true });
  const uid = (await import('../../src/dicom/read-header.js')).readInstanceHeader(good[0]).seriesInstanceUid;
  const [task] = await app.waitFor('the dropped series', async () => {
    const ts = await tasksOfSeries(uid);
    return ts.length === 1 && reached(ts[0], 'compiled') ? ts : undefined;
  });
  assert.equal(task.sender, 'hotfolder');
  assert.equal(task.images, 10);
});

test('a file copied in slowly is read once, complete', async () => {
  const files = await synthesizePetSeries(path.join(work, 'pet5'), { slices: 10, size: 32, seed: 5 });
  const incoming = path.join(app.config.spool_dir, 'incoming');
  const uid = (await import('../../src/dicom/read-header.js')).readInstanceHeader(files[0]).seriesInstanceUid;
  const { cp } = await import('node:fs/promises');
  // The first slice trickles in over ~3 s in 8 chunks (pauses shorter than the 2 s stability window).
  // The others are copied halfway through, so that the series never sits idle for the 3 s abort limit.
  const bytes = await readFile(files[0]);
  const fh = await open(path.join(incoming, 'slow.dcm'), 'w');
  const chunk = Math.ceil(bytes.length / 8);
  for (let i = 0, written = 0; i < bytes.length; i += chunk, written++) {
    if (written === 4) for (const f of files.slice(1)) await cp(f, path.join(incoming, `fast-${path.basename(f)}`));
    await fh.write(bytes.subarray(i, i + chunk));
    await new Promise((r) => setTimeout(r, 400));
  }
  await fh.close();
  const [task] = await app.waitFor('the slowly copied series', async () => {
    const ts = await tasksOfSeries(uid);
    return ts.length === 1 && reached(ts[0], 'compiled') ? ts : undefined;
  });
  assert.equal(task.images, 10, 'the slow file counted once');
  const quarantined = (await app.tasks(['failed'])).filter((t) => t.facts.original_name === 'slow.dcm');
  assert.deepEqual(quarantined, [], 'never read half-written');
});
