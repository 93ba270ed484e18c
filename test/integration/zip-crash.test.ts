import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { readInstanceHeader } from '../../src/dicom/read-header.js';
import { loadConfig } from '../../src/config/load.js';
import { Spool } from '../../src/spool/spool.js';
import { EXTRACTIONS_DIR } from '../../src/stages/zip-intake.js';
import { freePort } from '../fixtures/dcmtk.js';
import { placeAsCdFiles, zipWithInfoZip } from '../fixtures/zip-archives.js';
import { startApplianceProcess } from '../helpers/appliance-process.js';
import { tempConfig } from '../helpers/cli.js';

const SLICES = 150;

async function filesBelow(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).length;
}

test('an appliance killed while it hands a zip\'s files over resumes at restart: every instance once, one task per series, the zip removed', { timeout: 300_000 }, async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'petspool-zip-crash-'));
  const a = await synthesizePetSeries(path.join(work, 'a'), { slices: SLICES, size: 128, seed: 1 });
  const b = await synthesizePetSeries(path.join(work, 'b'), { slices: SLICES, size: 128, seed: 2 });
  const root = path.join(work, 'root');
  await placeAsCdFiles(a, path.join(root, 'A'));
  await placeAsCdFiles(b, path.join(root, 'B'));
  await zipWithInfoZip(root, path.join(work, 'study.zip'));

  const { file } = await tempConfig({
    dicom: { host: '127.0.0.1', port: await freePort(), min_free_mb: 1 },
    api: { port: await freePort() },
    destinations: [],
    compilator: { quiet_seconds: 1, min_images: 10, max_gap_ratio: 0.025, abort_incomplete_after_seconds: 120 },
  });
  const config = loadConfig(file);
  const incoming = path.join(config.spool_dir, 'incoming');
  const extractions = path.join(incoming, EXTRACTIONS_DIR);
  const collecting = path.join(config.spool_dir, 'collecting');

  const first = await startApplianceProcess(file);
  await copyFile(path.join(work, 'study.zip'), path.join(incoming, '.copying'));
  await rename(path.join(incoming, '.copying'), path.join(incoming, 'study.zip'));
  // Killed as soon as the first instances reached a task, while the rest still wait in the extraction.
  const deadline = Date.now() + 60_000;
  while (await filesBelow(collecting) === 0) {
    assert.ok(Date.now() < deadline, `no instance collected: ${first.log()}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  first.child.kill('SIGKILL');
  await first.stop();
  const left = await filesBelow(extractions);
  const collected = await filesBelow(collecting);
  assert.ok(left > 0 && collected < 2 * SLICES, `killed in the middle: ${collected} collected, ${left} files still extracted`);
  assert.deepEqual(await readdir(incoming).then((n) => n.filter((x) => x.endsWith('.zip'))), ['study.zip'], 'the zip is kept until all is handed over');

  const second = await startApplianceProcess(file);
  try {
    const spool = new Spool(config.spool_dir);
    const end = Date.now() + 120_000;
    for (;;) {
      const tasks = (await spool.listTasks()).map((t) => t.record);
      const compiled = tasks.filter((t) => t.history.some((h) => h.state === 'compiled'));
      if (compiled.length >= 2) {
        const bySeries = new Map<string, number[]>();
        for (const t of tasks) bySeries.set(t.series_instance_uid, [...(bySeries.get(t.series_instance_uid) ?? []), t.images]);
        assert.deepEqual(Object.fromEntries(bySeries), {
          [readInstanceHeader(a[0]!).seriesInstanceUid]: [SLICES], [readInstanceHeader(b[0]!).seriesInstanceUid]: [SLICES],
        }, 'one task per series, every instance once');
        break;
      }
      assert.ok(Date.now() < end, `not compiled after the restart: ${JSON.stringify(tasks.map((t) => [t.state, t.images, t.reason]))}\n${second.log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual((await readdir(incoming)).filter((n) => n.endsWith('.zip')), [], 'the zip is removed');
    assert.deepEqual(await readdir(extractions).catch(() => []), [], 'the extraction is removed');
  } finally {
    await second.stop();
  }
});
