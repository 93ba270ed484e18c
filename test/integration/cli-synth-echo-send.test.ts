import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../helpers/cli.js';
import { DCMTK_ENV, freePort, startStorescp } from '../fixtures/dcmtk.js';
import { readInstanceHeader } from '../../src/dicom/read-header.js';

const PET_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.128';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'petspool-cli-scu-'));
}

test('synth writes N PET slices that readInstanceHeader parses, one series, and reports it', async (t) => {
  const dir = await tempDir();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'series');
  const r = await runCli(['synth', out, '--slices', '12', '--size', '32', '--tracer', 'psma-11', '--seed', '7', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { files: number; series_instance_uid: string; tracer: string };
  assert.equal(summary.files, 12);
  const files = (await readdir(out)).sort();
  assert.equal(files.length, 12);
  const headers = files.map((f) => readInstanceHeader(path.join(out, f)));
  assert.ok(headers.every((h) => h.sopClassUid === PET_IMAGE_STORAGE && h.modality === 'PT'));
  assert.deepEqual(new Set(headers.map((h) => h.seriesInstanceUid)), new Set([summary.series_instance_uid]));
  assert.equal(new Set(headers.map((h) => h.sopInstanceUid)).size, 12);
  assert.match(summary.tracer, /PSMA/);

  const text = await runCli(['synth', path.join(dir, 'text'), '--slices', '3', '--size', '16']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /wrote 3 PET slices 16×16 \(Fluorodeoxyglucose/);

  const bad = await runCli(['synth', path.join(dir, 'bad'), '--tracer', 'unobtainium']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown tracer "unobtainium"; choose one of FDG/);
});

test('echo: ok against DCMTK storescp, refused on a closed port, rejected by a refusing peer, timeout on a silent one', async (t) => {
  const dir = await tempDir();
  const storescp = await startStorescp(dir);
  t.after(async () => {
    await storescp.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const ok = await runCli(['echo', `STORESCP@127.0.0.1:${storescp.port}`, '--calling-aet', 'TESTER']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /STORESCP@127\.0\.0\.1:\d+: ok/);
  const okJson = JSON.parse((await runCli(['echo', `STORESCP@127.0.0.1:${storescp.port}`, '--calling-aet', 'TESTER', '--json'])).stdout);
  assert.equal(okJson.ok, true);
  assert.equal(okJson.calling_ae_title, 'TESTER');

  const closed = await runCli(['echo', `PACS@127.0.0.1:${await freePort()}`, '--calling-aet', 'TESTER']);
  assert.equal(closed.code, 1);
  assert.match(closed.stderr, /refused: cannot reach 127\.0\.0\.1:\d+: connection refused/);

  // storescp --refuse rejects every association.
  const refusingPort = await freePort();
  const refusing = spawn('storescp', ['--refuse', String(refusingPort)], { env: DCMTK_ENV, stdio: 'ignore' });
  t.after(() => { refusing.kill('SIGTERM'); });
  let rejected;
  for (let i = 0; i < 100; i++) {
    rejected = await runCli(['echo', `ANY@127.0.0.1:${refusingPort}`, '--calling-aet', 'TESTER', '--json']);
    if (JSON.parse(rejected.stdout).outcome !== 'refused') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(rejected!.code, 1);
  assert.equal(JSON.parse(rejected!.stdout).outcome, 'rejected', rejected!.stdout);

  // A peer that accepts the TCP connection and never answers.
  const silent = net.createServer(() => undefined);
  const silentPort = await new Promise<number>((resolve) => silent.listen(0, '127.0.0.1', () => resolve((silent.address() as net.AddressInfo).port)));
  t.after(() => { silent.close(); });
  const timeout = await runCli(['echo', `ANY@127.0.0.1:${silentPort}`, '--calling-aet', 'TESTER', '--timeout', '1']);
  assert.equal(timeout.code, 1);
  assert.match(timeout.stderr, /timeout: no answer from ANY@127\.0\.0\.1:\d+ within 1000 ms/);

  const badTarget = await runCli(['echo', 'PACS-127.0.0.1-104']);
  assert.equal(badTarget.code, 2);
  assert.match(badTarget.stderr, /is not AET@HOST:PORT/);
});

test('send: a synthetic series arrives complete at DCMTK storescp; a non-DICOM file fails the run and is listed', async (t) => {
  const dir = await tempDir();
  const received = path.join(dir, 'received');
  await mkdir(received);
  const storescp = await startStorescp(received);
  t.after(async () => {
    await storescp.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const series = path.join(dir, 'series');
  // Nested folders: send walks DIR recursively.
  assert.equal((await runCli(['synth', path.join(series, 'a'), '--slices', '10', '--size', '32'])).code, 0);
  assert.equal((await runCli(['synth', path.join(series, 'b', 'c'), '--slices', '5', '--size', '32'])).code, 0);

  const ok = await runCli(['send', series, '--to', `STORESCP@127.0.0.1:${storescp.port}`, '--calling-aet', 'TESTER', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const okResult = JSON.parse(ok.stdout) as { files: number; sent: number; failed: unknown[] };
  assert.deepEqual([okResult.files, okResult.sent, okResult.failed.length], [15, 15, 0]);
  assert.equal((await readdir(received)).length, 15);

  await writeFile(path.join(series, 'notes.txt'), 'not an image\n');
  const partial = await runCli(['send', series, '--to', `STORESCP@127.0.0.1:${storescp.port}`, '--calling-aet', 'TESTER']);
  assert.equal(partial.code, 1);
  assert.match(partial.stdout, /sent 15 of 16 files to STORESCP@127\.0\.0\.1:\d+ .*; 1 failed:/);
  assert.match(partial.stdout, /notes\.txt: not a DICOM file: no DICM prefix/);

  const nowhere = await runCli(['send', series, '--to', `STORESCP@127.0.0.1:${await freePort()}`, '--calling-aet', 'TESTER']);
  assert.equal(nowhere.code, 1);
  assert.match(nowhere.stderr, /nothing sent to STORESCP@127\.0\.0\.1:\d+: cannot reach .* connection refused/);
});
