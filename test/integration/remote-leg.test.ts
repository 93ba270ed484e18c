import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { assembleVolume } from '../../src/imaging/assemble-volume.js';
import { mipPng } from '../../src/imaging/mip.js';
import { sha256File, type TaskMetadata } from '../../src/remote/metadata.js';
import { readResultArchive } from '../../src/remote/result-archive.js';
import { extractZipSafely } from '../../src/remote/zip-extract.js';
import { INSTANCES_DIR } from '../../src/spool/layout.js';
import { API_TOKEN, startLeg, type Leg } from '../helpers/remote-leg.js';

const run = promisify(execFile);
const PATIENT_NAME = 'SECRETNAME^JANE';
const PATIENT_ID = 'PID-SECRET-7734';
const limits = { maxEntries: 4, maxTotalBytes: 256 * 1024 ** 2, maxEntryBytes: 256 * 1024 ** 2 };

async function postReady(leg: Leg, body: unknown, token?: string): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${leg.api.url}/process_ready`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

describe('remote leg round trip on loopback', () => {
  let leg: Leg;
  let id: string;
  before(async () => {
    leg = await startLeg();
    id = await leg.addValidatedTask({ slices: 14, size: 32, patientName: PATIENT_NAME, patientId: PATIENT_ID });
    await leg.waitFor(id, 'downloaded', 30_000);
  });
  after(() => leg.close());

  it('packs, uploads, is processed, called back and downloaded', async () => {
    const dir = leg.parts.spool.layout.taskDir('downloaded', id);
    const { record } = await leg.parts.spool.locateTask(id);
    for (const fact of ['packed_at', 'uploaded_at', 'callback_at', 'downloaded_at']) assert.ok(record.facts[fact], `${fact} recorded`);
    assert.deepEqual(record.history.map((h) => h.state), ['validated', 'packed', 'processing', 'downloaded']);
    const archive = `${id}_${leg.config.remote.client_id}.zip`;
    const files = await readdir(dir);
    for (const f of ['result.zip', 'metadata.json', archive, 'previews', INSTANCES_DIR]) assert.ok(files.includes(f), `${f} in the task folder`);
    assert.ok(!files.some((f) => f.endsWith('.npy') || f.startsWith('.tmp-') || f === 'result'),
      `no loose .npy, temporaries or extracted result: ${files.join(', ')}`);
    const png = await readFile(path.join(dir, 'previews', 'original.png'));
    const instances = (await readdir(path.join(dir, INSTANCES_DIR))).map((n) => path.join(dir, INSTANCES_DIR, n));
    assert.ok(png.equals(mipPng(await assembleVolume(instances))), 'the preview is the coronal MIP of the volume');
    // The result and the upload it answers are off the share.
    assert.deepEqual(await readdir(leg.config.share.inbox), []);
    assert.deepEqual(await readdir(leg.config.share.outbox), []);
    // result.zip holds the processed volume and its checksum matches (readResultArchive checks it).
    const { metadata: resultMeta, volume } = await readResultArchive(path.join(dir, 'result.zip'), id, limits);
    assert.deepEqual(volume.shape, record.facts.volume_shape);
    assert.equal(resultMeta.processing?.method, 'median-3x3x3');
    assert.equal(record.facts.result_sha256, resultMeta.npy_sha256);
  });

  it('uploads a NumPy file numpy.load reads with the volume\'s shape and values, and metadata without patient name or ID', async () => {
    const dir = leg.parts.spool.layout.taskDir('downloaded', id);
    const out = await mkdtemp(path.join(os.tmpdir(), 'petspool-upload-'));
    try {
      // The task folder keeps the archive that was uploaded.
      const archive = path.join(dir, `${id}_${leg.config.remote.client_id}.zip`);
      const names = (await extractZipSafely(archive, out, limits)).map((p) => path.basename(p)).sort();
      assert.deepEqual(names, [`${id}.npy`, 'metadata.json']);
      const npy = path.join(out, `${id}.npy`);

      const instances = (await readdir(path.join(dir, INSTANCES_DIR))).map((n) => path.join(dir, INSTANCES_DIR, n));
      const volume = await assembleVolume(instances);
      const [S, R, C] = volume.shape;
      const probes: [number, number, number][] = [[0, 0, 0], [Math.floor(S / 2), Math.floor(R / 2), Math.floor(C / 2)],
        [S - 1, R - 1, C - 1], [3, 10, 20], [Math.floor(S / 2), 16, 9]];
      const script = `import json, sys, numpy
a = numpy.load(sys.argv[1])
probes = json.loads(sys.argv[2])
print(json.dumps({"shape": list(a.shape), "dtype": str(a.dtype), "values": [float(a[s, r, c]) for s, r, c in probes], "sum": float(a.astype("float64").sum())}))`;
      const { stdout } = await run('/usr/bin/python3', ['-c', script, npy, JSON.stringify(probes)]);
      const loaded = JSON.parse(stdout) as { shape: number[]; dtype: string; values: number[]; sum: number };
      assert.deepEqual(loaded.shape, [S, R, C]);
      assert.equal(loaded.dtype, 'float32');
      probes.forEach(([s, r, c], i) => assert.equal(loaded.values[i], volume.data[(s * R + r) * C + c], `voxel ${s},${r},${c}`));
      const sum = volume.data.reduce((a, b) => a + b, 0);
      assert.ok(sum > 0 && Math.abs(loaded.sum - sum) / sum < 1e-5, 'same total activity');

      const uploadedMeta = await readFile(path.join(out, 'metadata.json'), 'utf8');
      const keptMeta = await readFile(path.join(dir, 'metadata.json'), 'utf8');
      assert.equal(uploadedMeta, keptMeta);
      for (const secret of ['SECRETNAME', 'JANE', PATIENT_ID, 'SECRET']) assert.ok(!uploadedMeta.includes(secret), `${secret} must not leave the site`);
      const meta = JSON.parse(uploadedMeta) as TaskMetadata;
      assert.equal(meta.task_id, id);
      assert.deepEqual(meta.shape, [S, R, C]);
      assert.equal(meta.axis_order, 'slice,row,column');
      assert.deepEqual(meta.spacing_mm, volume.spacing);
      assert.equal(meta.npy_sha256, await sha256File(npy));
      assert.equal(meta.radiopharmaceutical.name, 'FDG');
      assert.ok(meta.dose_bq > 0 && meta.patient.weight_kg > 0 && meta.half_life_s > 6000);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it('process_ready: 401 without the token, 400 without a task id, 404 for an unknown task, 200 again for a downloaded task', async () => {
    assert.equal((await postReady(leg, { task_id: id })).status, 401);
    assert.equal((await postReady(leg, { task_id: id }, 'wrong-token')).status, 401);
    assert.equal((await postReady(leg, {}, API_TOKEN)).status, 400);
    assert.equal((await postReady(leg, { task_id: '20200101-000000-abcdef' }, API_TOKEN)).status, 404);
    assert.equal((await postReady(leg, { task_id: '../../etc' }, API_TOKEN)).status, 404);
    for (let i = 0; i < 2; i++) {
      const again = await postReady(leg, { task_id: id }, API_TOKEN);
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, { task_id: id, state: 'downloaded', response: 'already downloaded' });
    }
    assert.ok((await stat(leg.parts.spool.layout.taskDir('downloaded', id))).isDirectory());
  });
});
