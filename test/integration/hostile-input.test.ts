import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { encodeFileMeta, splitPart10 } from '../../src/dicom/file-meta.js';
import { readInstanceHeader } from '../../src/dicom/read-header.js';
import { echo, sendFiles } from '../../src/dicom/scu.js';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { EXPLICIT_VR_LITTLE_ENDIAN, PET_IMAGE_STORAGE } from '../../src/dicom/sop-classes.js';
import { StoreStatus } from '../../src/dicom/instance-store.js';
import type { TaskRecord } from '../../src/spool/task-record.js';
import { hostileCorpus, type HostileCase } from '../fixtures/hostile-corpus.js';
import { runDcmtk } from '../fixtures/dcmtk.js';
import { startTestAppliance, type RunningAppliance } from '../helpers/appliance.js';

/**
 * Issue 8, hostile input: every file of the bad-DICOM corpus, dropped in the hot folder or pushed
 * over C-STORE, ends in failed/ with its specific reason (or ignored/ for the well-formed non-PET
 * control), none is dropped silently or collected, and the appliance keeps answering and
 * collecting good series afterwards.
 */
let app: RunningAppliance;
let work: string;
let cases: HostileCase[];
let goodSeriesUid: string;

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'petspool-hostile-'));
  const corpus = await hostileCorpus(path.join(work, 'corpus'));
  cases = corpus.cases;
  goodSeriesUid = readInstanceHeader(corpus.goodSlice).seriesInstanceUid;
  app = await startTestAppliance({
    compilator: { quiet_seconds: 0.5, min_images: 5, max_gap_ratio: 0.025, abort_incomplete_after_seconds: 600 },
  });
});
after(async () => {
  await app.stop();
  await rm(work, { recursive: true, force: true });
});

const spool = (...parts: string[]) => path.join(app.config.spool_dir, ...parts);
const reached = (t: TaskRecord, state: string) => t.history.some((h) => h.state === state);

async function list(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

/** Files of the corpus's series that reached a collecting task (must stay empty). */
async function collectedFromCorpus(): Promise<TaskRecord[]> {
  return (await app.tasks(['collecting'])).filter((t) => t.series_instance_uid === goodSeriesUid);
}

/** A good series still goes through: C-ECHO answers and a pushed series compiles. */
async function assertStillWorking(label: string): Promise<void> {
  await echo({ host: '127.0.0.1', port: app.config.dicom.port, calledAeTitle: app.config.ae_title, callingAeTitle: 'AFTER' });
  const files = await synthesizePetSeries(path.join(work, `after-${label}`), { slices: 6, size: 16 });
  const uid = readInstanceHeader(files[0]!).seriesInstanceUid;
  const r = await runDcmtk('storescu', ['-aec', app.config.ae_title, '-aet', 'AFTER', '127.0.0.1', String(app.config.dicom.port), ...files]);
  assert.equal(r.code, 0, r.stderr);
  const [task] = await app.waitFor(`the good series after the ${label} corpus`, async () => {
    const ts = (await app.tasks()).filter((t) => t.series_instance_uid === uid);
    return ts.length === 1 && reached(ts[0]!, 'compiled') ? ts : undefined;
  });
  assert.equal(task!.images, 6);
}

test('hot folder: every corpus file ends in failed/ with its reason (or ignored/), none dropped or collected', async () => {
  const drop = spool('incoming', 'hostile-drop');
  await mkdir(drop, { recursive: true });
  await Promise.all(cases.map((c) => writeFile(path.join(drop, c.name), c.bytes)));

  const names = new Set(cases.map((c) => c.name));
  const failedOf = async () => new Map((await app.tasks(['failed']))
    .filter((t) => t.sender === 'hotfolder' && names.has(String(t.facts.original_name)))
    .map((t) => [String(t.facts.original_name), t]));
  const ignoredNames = async () => {
    const out: string[] = [];
    for (const series of await list(spool('ignored'))) out.push(...await list(spool('ignored', series)));
    return out;
  };
  const expectedFailed = cases.filter((c) => c.expect === 'failed').length;
  const failed = await app.waitFor('every corpus file to be sorted', async () => {
    const f = await failedOf();
    return f.size === expectedFailed && (await list(drop)).length === 0 ? f : undefined;
  }, 40_000);

  // Accounting on disk: each file is in exactly one place.
  const ignored = await ignoredNames();
  for (const c of cases) {
    const inIgnored = ignored.filter((n) => n.endsWith(`_${c.name}`)).length;
    const task = failed.get(c.name);
    if (c.expect === 'ignored') {
      assert.equal(inIgnored, 1, `${c.name} in ignored/`);
      assert.equal(task, undefined, `${c.name} not failed`);
      continue;
    }
    assert.ok(task, `${c.name} quarantined`);
    assert.equal(inIgnored, 0, `${c.name} not ignored`);
    assert.match(task.reason ?? '', c.reason, `${c.name}: reason "${task.reason}"`);
    const files = await list(spool('failed', task.id));
    assert.ok(files.includes('reason.json') && files.includes(c.name), `${c.name} kept with reason.json: ${files.join(',')}`);
  }
  assert.deepEqual(await collectedFromCorpus(), [], 'no corpus file reached a collecting task');
  const inFailed = failed.size;
  const inIgnored = cases.filter((c) => ignored.some((n) => n.endsWith(`_${c.name}`))).length;
  assert.equal(inFailed + inIgnored, cases.length, 'failed + ignored + collecting = corpus size');

  await assertStillWorking('hot-folder');
});

/**
 * The bytes a C-STORE sender can offer for a case: the file itself when its meta group names SOP
 * class and syntax; otherwise the whole file as the dataset behind a good PET meta group (an SCU
 * cannot take a context from a broken meta, but a broken dataset is exactly what a peer can send).
 */
function networkFile(c: HostileCase, index: number): Buffer {
  if (!c.brokenMeta) {
    splitPart10(c.bytes);
    return c.bytes;
  }
  const meta = encodeFileMeta({ sopClassUid: PET_IMAGE_STORAGE, sopInstanceUid: `1.2.826.0.1.3680043.10.8.${index + 1}`, transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN });
  return Buffer.concat([meta, c.bytes]);
}

test('C-STORE: every corpus file is refused with a failure status or accepted and quarantined with its reason', async (t) => {
  const dir = path.join(work, 'network');
  await mkdir(dir, { recursive: true });
  const peer = { host: '127.0.0.1', port: app.config.dicom.port, calledAeTitle: app.config.ae_title };
  const outcomes: { c: HostileCase; aet: string; status: number | null; message: string; accepted: boolean }[] = [];
  for (const [i, c] of cases.entries()) {
    const file = path.join(dir, c.name);
    await writeFile(file, networkFile(c, i));
    // One calling AE per case: the quarantined task's sender says which case it was.
    const aet = `HOSTILE${String(i).padStart(2, '0')}`;
    const result = await sendFiles({ ...peer, callingAeTitle: aet, files: [file] });
    const failure = result.failed[0];
    outcomes.push({ c, aet, status: failure?.status ?? null, message: failure?.message ?? '', accepted: result.sent === 1 });
  }

  const refusedWithStatus = outcomes.filter((o) => !o.accepted && o.status !== null);
  for (const o of outcomes) {
    if (o.accepted) continue;
    if (o.status === null) {
      // Only a context the SCP rightly rejected (unknown transfer syntax) may fail without a status.
      assert.match(o.message, /rejected SOP class/, `${o.c.name}: ${o.message}`);
    } else {
      assert.ok(o.status === StoreStatus.CannotUnderstand || o.status === StoreStatus.ProcessingFailure,
        `${o.c.name}: status 0x${o.status.toString(16)}`);
      assert.notEqual(o.message, '', `${o.c.name}: the failure status carries an error comment`);
    }
  }
  assert.ok(refusedWithStatus.length >= 20, `most of the corpus is refused at the door (${refusedWithStatus.length})`);

  const accepted = outcomes.filter((o) => o.accepted);
  const failed = await app.waitFor('every accepted corpus file to be sorted', async () => {
    const senders = new Set(accepted.map((o) => `ae:${o.aet}`));
    const ts = (await app.tasks(['failed'])).filter((t) => senders.has(t.sender));
    return ts.length === accepted.filter((o) => o.c.expect === 'failed').length ? new Map(ts.map((t) => [t.sender, t])) : undefined;
  }, 20_000);
  for (const o of accepted) {
    const task = failed.get(`ae:${o.aet}`);
    if (o.c.expect === 'ignored') {
      assert.equal(task, undefined, `${o.c.name} not failed`);
      continue;
    }
    assert.ok(task, `${o.c.name} accepted, then quarantined`);
    assert.match(task.reason ?? '', o.c.reason, `${o.c.name}: reason "${task.reason}"`);
  }
  // Nothing the SCP accepted is left in received/ or collected. The wait above counts failed tasks
  // only: the control, ignored rather than failed, may still be on its way out of received/.
  const leftInReceived = async (): Promise<string[]> => (await Promise.all(accepted.map(async (o) => (await list(spool('received', o.aet))).map((f) => `${o.aet}/${f}`)))).flat();
  await app.waitFor('every accepted corpus file to leave received/', async () => ((await leftInReceived()).length === 0 ? true : undefined), 20_000)
    .catch(() => undefined);
  assert.deepEqual(await leftInReceived(), [], 'received/ emptied of every accepted corpus file');
  assert.deepEqual(await collectedFromCorpus(), [], 'no corpus instance reached a collecting task');
  const ctControl = outcomes.find((o) => o.c.expect === 'ignored');
  assert.ok(ctControl?.accepted, 'the non-PET control is accepted (and ignored)');

  t.diagnostic(`${cases.length} cases: ${refusedWithStatus.length} refused with a status, ${accepted.length} accepted then sorted, `
    + `${outcomes.length - refusedWithStatus.length - accepted.length} refused at negotiation`);
  await assertStillWorking('network');
});
