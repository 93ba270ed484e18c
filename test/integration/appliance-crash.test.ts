import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { readInstanceHeader } from '../../src/dicom/read-header.js';
import { sendFiles } from '../../src/dicom/scu.js';
import { loadConfig } from '../../src/config/load.js';
import { Spool } from '../../src/spool/spool.js';
import { TEMPORARY_NAME } from '../../src/remote/zip-pack.js';
import { ASSOCIATIONS_PER_TASK } from '../../src/delivery/lanes.js';
import { freePort, startStorescp } from '../fixtures/dcmtk.js';
import { PETSPOOL_BIN, tempConfig } from '../helpers/cli.js';

const KILLS = 16;
/** Folders whose stage is working right after a task moves in: collecting = mid C-STORE. */
const KILL_TARGETS = ['collecting', 'compiled', 'validated', 'packed', 'processing', 'downloaded', 'unpacking_sending', 'unpacked', 'sending'];

interface SeriesUnderTest {
  name: string;
  aet: string;
  files: string[];
  studyUid: string;
  complete: boolean;
  /** SOPInstanceUIDs the appliance answered Success for. */
  acked: Set<string>;
  sopOf: Map<string, string>;
}

interface ApplianceChild {
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<void>;
  log: () => string;
  /** Resolves when the log shows a task moving into `folder` (or after `ms`). */
  sawMove: (folder: string, ms: number) => Promise<void>;
}

function startAppliance(configFile: string): ApplianceChild {
  const child = spawn(PETSPOOL_BIN, ['start', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => { onReady = resolve; });
  child.stderr!.on('data', (d) => {
    log += d;
    if (log.includes('petspool started')) onReady();
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => { onReady(); resolve(); }));
  const sawMove = async (folder: string, ms: number) => {
    const from = log.length;
    const end = Date.now() + ms;
    // "collecting" has no move into it: a new task's first instance is the moment.
    const pattern = folder === 'collecting' ? /new task for series/ : new RegExp(`-> ${folder}\\b`);
    while (Date.now() < end && !pattern.test(log.slice(from))) await new Promise((r) => setTimeout(r, 5));
  };
  return { child, ready, exited, log: () => log, sawMove };
}

/** Send what is not acknowledged yet, until it is, or the appliance dies under us. */
async function pushUnacked(s: SeriesUnderTest, port: number): Promise<void> {
  const todo = s.files.filter((f) => !s.acked.has(s.sopOf.get(f)!));
  if (!todo.length) return;
  const result = await sendFiles({ host: '127.0.0.1', port, calledAeTitle: 'PETSPOOL', callingAeTitle: s.aet, files: todo })
    .catch(() => undefined);
  for (const uid of result?.acceptedSopInstanceUids ?? []) s.acked.add(uid);
}

test(`the appliance SIGKILLed ${KILLS} times mid-flow: every complete series delivered once per SOPInstanceUID, nothing acknowledged lost`,
  { timeout: 420_000 }, async (t) => {
    const work = await mkdtemp(path.join(os.tmpdir(), 'petspool-crash-all-'));
    const destinationDir = path.join(work, 'pacs');
    await mkdir(destinationDir);
    const pacs = await startStorescp(destinationDir, ['+uf']);
    const dicomPort = await freePort();
    const { file: configFile } = await tempConfig({
      dicom: { host: '127.0.0.1', port: dicomPort, min_free_mb: 1 },
      api: { port: await freePort() },
      share: { poll_seconds: 0.5 },
      destinations: [{ name: 'pacs', ae_title: 'STORESCP', host: '127.0.0.1', port: pacs.port, mirror: false }],
      compilator: { quiet_seconds: 1, min_images: 10, max_gap_ratio: 0.025, abort_incomplete_after_seconds: 8 },
      filters: [{ name: 'fwhm4', fwhm_mm: 4 }, { name: 'raw', fwhm_mm: 0 }],
    });
    const config = loadConfig(configFile);
    const series: SeriesUnderTest[] = [];
    const specs = [
      { name: 'A', aet: 'SCANNER_A', slices: 24, missing: [] as number[] },
      { name: 'D', aet: 'SCANNER_B', slices: 20, missing: [6] },
      { name: 'B', aet: 'SCANNER_B', slices: 24, missing: [] },
      { name: 'C', aet: 'SCANNER_A', slices: 20, missing: [] },
      { name: 'E', aet: 'SCANNER_C', slices: 22, missing: [] },
      { name: 'F', aet: 'SCANNER_C', slices: 20, missing: [] },
    ];
    for (const [i, spec] of specs.entries()) {
      const files = await synthesizePetSeries(path.join(work, spec.name), { slices: spec.slices, size: 48, seed: i + 1, missingSlices: spec.missing });
      const sopOf = new Map(files.map((f) => [f, readInstanceHeader(f).sopInstanceUid]));
      series.push({ name: spec.name, aet: spec.aet, files, studyUid: readInstanceHeader(files[0]).studyInstanceUid,
        complete: spec.missing.length === 0, acked: new Set(), sopOf });
    }

    let appliance = startAppliance(configFile);
    const statesAtKill = new Set<string>();
    // Each task being sent has one association per output series (one per filter) and destination in
    // flight, up to the sender's ASSOCIATIONS_PER_TASK: here two series to one destination.
    const associationsPerSendingTask = Math.min(ASSOCIATIONS_PER_TASK, config.filters.length * config.destinations.length);
    let associationsAtKills = 0;
    try {
      for (let kill = 0; kill < KILLS; kill++) {
        await appliance.ready;
        // A new series starts every other cycle, and senders re-push what was not acknowledged, so
        // work is under way in every stage while the kills land (mid C-STORE to mid-send).
        const pushes = series.slice(0, 1 + Math.floor(kill / 2)).map((s) => pushUnacked(s, dicomPort));
        // Aim each kill at a stage in turn: right after a task enters that stage's input folder, the
        // stage is at work on it. Without such a moment within 2.5 s, kill anyway.
        const target = KILL_TARGETS[kill % KILL_TARGETS.length];
        await appliance.sawMove(target, 2500);
        await new Promise((r) => setTimeout(r, Math.random() * 40));
        appliance.child.kill('SIGKILL');
        await appliance.exited;
        for (const task of await new Spool(config.spool_dir).listTasks()) {
          statesAtKill.add(task.record.state);
          if (task.record.state === 'sending') associationsAtKills += associationsPerSendingTask;
          // Its first series, split over all the task's associations.
          if (task.record.state === 'unpacking_sending') associationsAtKills += ASSOCIATIONS_PER_TASK;
        }
        await Promise.all(pushes);
        appliance = startAppliance(configFile);
      }
      await appliance.ready;
      for (let round = 0; series.some((s) => s.acked.size < s.files.length); round++) {
        assert.ok(round < 20, 'every instance acknowledged eventually');
        await Promise.all(series.map((s) => pushUnacked(s, dicomPort)));
      }
      const spool = new Spool(config.spool_dir);
      const deadline = Date.now() + 150_000;
      for (;;) {
        const tasks = (await spool.listTasks()).map((t) => t.record);
        const open = tasks.filter((t) => !['done', 'failed', 'aborted'].includes(t.state));
        const done = tasks.filter((t) => t.state === 'done');
        if (open.length === 0 && done.length >= series.filter((x) => x.complete).length) break;
        assert.ok(Date.now() < deadline, `flow did not finish:\n${tasks.map((t) => `${t.id} ${t.state} ${t.reason ?? ''}`).join('\n')}\n${appliance.log().slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      appliance.child.kill('SIGTERM');
      await appliance.exited;
      t.diagnostic(`task states seen at the kills: ${[...statesAtKill].join(', ')}`);
      const working = ['collecting', 'compiled', 'validated', 'packed', 'processing', 'downloaded', 'unpacking_sending', 'unpacked', 'sending'];
      assert.ok(working.filter((s) => statesAtKill.has(s)).length >= 4, `kills landed in several stages: ${[...statesAtKill].join(', ')}`);

      const tasks = await spool.listTasks();
      const failed = tasks.filter((t) => t.record.state === 'failed');
      assert.deepEqual(failed.map((t) => `${t.record.id}: ${t.record.reason}`), [], 'no task failed');
      // Delivered exactly once: per complete series, one task done, two output series of N distinct instances, no duplicates.
      const received = new Map<string, Map<string, string[]>>();
      let resentAfterKill = 0;
      for (const name of await readdir(destinationDir)) {
        const h = readInstanceHeader(path.join(destinationDir, name));
        const bySeries = received.get(h.studyInstanceUid) ?? new Map<string, string[]>();
        bySeries.set(h.seriesInstanceUid, [...(bySeries.get(h.seriesInstanceUid) ?? []), h.sopInstanceUid]);
        received.set(h.studyInstanceUid, bySeries);
      }
      for (const s of series) {
        const mine = tasks.filter((t) => t.record.study_instance_uid === s.studyUid);
        const instancesOf = async (dir: string) => (await readdir(path.join(dir, 'instances')).catch(() => [] as string[]))
          .map((n) => n.replace(/^.*_/, '').replace(/\.dcm$/, ''));
        const kept = new Set<string>();
        for (const t of mine) for (const uid of await instancesOf(t.dir)) kept.add(uid);
        for (const uid of s.acked) assert.ok(kept.has(uid), `series ${s.name}: acknowledged instance ${uid} lost`);
        if (s.complete) {
          const done = mine.filter((t) => t.record.state === 'done');
          assert.equal(done.length, 1, `series ${s.name}: one delivered task (${mine.map((t) => `${t.record.state}:${t.record.images}`).join(', ')})`);
          assert.equal(done[0].record.images, s.files.length);
          const outputs = received.get(s.studyUid);
          assert.ok(outputs, `series ${s.name} reached the destination`);
          assert.equal(outputs.size, 2, `series ${s.name}: one output series per filter, no second delivery`);
          for (const [uid, sops] of outputs) {
            assert.equal(new Set(sops).size, s.files.length, `output ${uid} of ${s.name}: every slice's SOPInstanceUID arrived`);
            // Each association journals its Success before sending its next instance; only a kill between
            // a Success and its journal line can make the destination receive that one instance again.
            resentAfterKill += sops.length - new Set(sops).size;
          }
        } else {
          assert.equal(received.get(s.studyUid), undefined, `incomplete series ${s.name} delivered nothing`);
        }
        // Anything else made of this series (a re-send of one unacknowledged instance) was aborted with a reason.
        for (const t of mine.filter((x) => x.record.state !== 'done')) {
          assert.equal(t.record.state, 'aborted');
          assert.ok(t.record.reason, `task ${t.record.id} aborted with a reason`);
        }
      }
      // At most one instance per association in flight at a kill: the one answered but not yet journalled
      // (the sender runs a task's series side by side, so that is two per task caught in sending/).
      assert.ok(resentAfterKill <= associationsAtKills,
        `${resentAfterKill} instances received twice (same SOPInstanceUID); up to ${associationsAtKills} associations were in flight at the kills`);
      t.diagnostic(`${resentAfterKill} instances received twice after kills (bound ${associationsAtKills})`);
      const incomplete = series.find((x) => !x.complete)!;
      const d = tasks.filter((t) => t.record.study_instance_uid === incomplete.studyUid && t.record.images >= 10);
      assert.ok(d.length >= 1 && d.every((t) => /19 of 20 slices/.test(t.record.reason ?? '')), `D aborted for its missing slice: ${d.map((t) => t.record.reason).join('; ')}`);
      // Nothing half-written or orphaned left anywhere.
      const leftovers: string[] = [];
      const walk = async (dir: string) => {
        for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
          const p = path.join(dir, e.name);
          // received/.tmp is the Store SCP's staging folder: it may exist, but must be empty.
          const temporary = e.name.startsWith('.tmp-') || e.name.endsWith('.part') || TEMPORARY_NAME.test(e.name) || e.name.startsWith('.partial');
          if (temporary) leftovers.push(p);
          if (e.isDirectory()) await walk(p);
        }
      };
      await walk(config.spool_dir);
      await walk(path.dirname(config.share.outbox));
      assert.deepEqual(leftovers, [], 'no temporary entries');
      for (const ae of await readdir(path.join(config.spool_dir, 'received'))) {
        if (ae.startsWith('.')) continue;
        assert.deepEqual(await readdir(path.join(config.spool_dir, 'received', ae)), [], `received/${ae} drained`);
      }
      assert.deepEqual(await readdir(config.share.outbox), [], 'outbox empty');
      assert.deepEqual(await readdir(config.share.inbox), [], 'inbox empty');
    } finally {
      appliance.child.kill('SIGKILL');
      await pacs.stop();
    }
  });
