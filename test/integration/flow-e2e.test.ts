import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { readInstanceHeader } from '../../src/dicom/read-header.js';
import { freePort, runDcmtk, startStorescp } from '../fixtures/dcmtk.js';
import { TEST_METRICS_TOKEN, startTestAppliance } from '../helpers/appliance.js';

/** dciodvfy's error lines for a file (it names the IOD it checked first, which proves it ran). */
async function dciodvfyErrors(file: string): Promise<Set<string>> {
  const r = await runDcmtk('dciodvfy', [file]);
  const text = r.stdout + r.stderr;
  assert.match(text, /PETImage/, `dciodvfy checked ${file} as a PET image`);
  return new Set(text.split('\n').filter((l) => l.startsWith('Error')).map((l) => l.trim()));
}

test('storescu in, reference service, two filters out to a storescp that is down at first: every slice once', { timeout: 120_000 }, async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'petspool-e2e-'));
  const pacsDir = path.join(work, 'pacs');
  await mkdir(pacsDir);
  const pacsPort = await freePort();
  const app = await startTestAppliance({
    destinations: [{ name: 'pacs', ae_title: 'STORESCP', host: '127.0.0.1', port: pacsPort, mirror: false }],
    compilator: { quiet_seconds: 0.5, min_images: 10, max_gap_ratio: 0.025, abort_incomplete_after_seconds: 30 },
    filters: [{ name: 'fwhm4', fwhm_mm: 4 }, { name: 'fwhm8', fwhm_mm: 8 }],
    share: { poll_seconds: 0.5 },
  });
  try {
    const input = await synthesizePetSeries(path.join(work, 'in'), { slices: 24, size: 48, seed: 11 });
    const r = await runDcmtk('storescu', ['-aec', app.config.ae_title, '-aet', 'SCANNER', '127.0.0.1', String(app.config.dicom.port), ...input]);
    assert.equal(r.code, 0, r.stderr);
    // The destination is down: the sender retries with backoff.
    const task = await app.waitFor('a failed delivery attempt', async () => {
      const [t] = await app.tasks(['sending']);
      return t && t.attempts >= 1 ? t : undefined;
    }, 60_000);
    assert.match(String(task.facts.last_error), /pacs/);
    const pacs = await startStorescp(pacsDir, ['+uf'], pacsPort);
    try {
      const done = await app.waitFor('delivery once the destination is up', async () => {
        const [t] = await app.tasks(['sent']);
        return t;
      }, 60_000);
      assert.equal(done.outputs.length, 2);
      const bySeries = new Map<string, string[]>();
      const files = await readdir(pacsDir);
      for (const name of files) {
        const h = readInstanceHeader(path.join(pacsDir, name));
        bySeries.set(h.seriesInstanceUid, [...(bySeries.get(h.seriesInstanceUid) ?? []), h.sopInstanceUid]);
      }
      assert.deepEqual([...bySeries.keys()].sort(), [...done.outputs].sort(), 'the delivered series are the recorded outputs');
      for (const [uid, sops] of bySeries) {
        assert.equal(sops.length, 24, `series ${uid}: every slice`);
        assert.equal(new Set(sops).size, 24, `series ${uid}: nothing twice`);
      }
      const before = await dciodvfyErrors(input[0]);
      const after = await dciodvfyErrors(path.join(pacsDir, files[0]));
      assert.deepEqual([...after].filter((e) => !before.has(e)), [], 'dciodvfy: no error the input did not have');
      const metrics = await (await fetch(`http://127.0.0.1:${app.config.api.port}/metrics`, {
        headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}` },
      })).text();
      const sample = (name: string) => Number(metrics.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? NaN);
      assert.ok(sample('petspool_bytes_uploaded_total') > 10_000, 'the upload counted');
      assert.ok(sample('petspool_bytes_downloaded_total') > 0, 'the download counted');
      assert.ok(sample('petspool_cstore_failures_total{role="scu",destination="pacs"}') >= 24, 'the refused delivery counted');
    } finally {
      await pacs.stop();
    }
  } finally {
    await app.stop();
  }
});

test('a slice that comes after the series was packed ahead is in the upload: the series is packed again', { timeout: 120_000 }, async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'petspool-e2e-late-'));
  // Packed ahead once quiet for 1 s; closed after 2 s.
  const app = await startTestAppliance({
    compilator: { quiet_seconds: 2, min_images: 10, max_gap_ratio: 0.025, abort_incomplete_after_seconds: 30 },
    share: { poll_seconds: 0.5 },
  });
  try {
    // Without NumberOfSlices, the first twenty slices look like a whole series.
    const input = await synthesizePetSeries(path.join(work, 'in'), { slices: 21, size: 32, seed: 12, numberOfSlicesTag: false });
    const store = async (files: string[]) => {
      const r = await runDcmtk('storescu', ['-aec', app.config.ae_title, '-aet', 'SCANNER', '127.0.0.1', String(app.config.dicom.port), ...files]);
      assert.equal(r.code, 0, r.stderr);
    };
    await store(input.slice(0, 20));
    await new Promise((resolve) => setTimeout(resolve, 1600));
    await store(input.slice(20));
    const task = await app.waitFor('the task uploaded', async () => {
      const [t] = await app.tasks(['processing', 'downloaded', 'unpacked', 'sending', 'sent', 'failed']);
      return t;
    }, 60_000);
    assert.equal(task.images, 21, 'one task with every slice');
    assert.deepEqual(task.facts.volume_shape, [21, 32, 32], 'the upload has the late slice');
    assert.equal(task.facts.packed_ahead, true, 'packed ahead again once the series was quiet with it');
  } finally {
    await app.stop();
  }
});
