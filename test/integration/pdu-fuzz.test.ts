import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { echo, sendFiles } from '../../src/dicom/scu.js';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { associateRequest, pdu } from '../fixtures/raw-association.js';
import { seededBytes } from '../fixtures/hostile-corpus.js';
import { uniformGenerator } from '../../src/util/prng.js';

/**
 * Issue 8, hostile input on the wire: a bounded, seeded fuzz run of malformed PDUs against the
 * Store SCP (run in a child process so its memory can be read from /proc), while a well-formed
 * sender keeps storing a series; plus a slowloris connection that must be dropped.
 */
const IDLE_TIMEOUT_MS = 1500;
const FUZZ_CASES = 2000;
const FUZZ_BUDGET_MS = 15_000;
const CONCURRENCY = 48;
const AE = 'PETSPOOL';

let dir: string;
let scp: ChildProcess;
let port: number;
let stderr = '';

const scpModule = fileURLToPath(new URL('../../src/dicom/scp.js', import.meta.url));
const loggerModule = fileURLToPath(new URL('../../src/log/logger.js', import.meta.url));

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-fuzz-'));
  // The SCP alone in a child: its peak RSS (VmHWM) is then the SCP's, not the fuzzer's.
  const script = `
    import { startStoreScp } from ${JSON.stringify(scpModule)};
    import { silentLogger } from ${JSON.stringify(loggerModule)};
    const scp = await startStoreScp({ host: '127.0.0.1', port: 0, aeTitle: '${AE}', allowedCallingAeTitles: [],
      maxAssociations: 64, minFreeMb: 0, receivedDir: process.argv[1], logger: silentLogger, onStored: () => undefined,
      idleTimeoutMs: ${IDLE_TIMEOUT_MS} });
    console.log(JSON.stringify({ port: scp.port }));`;
  // Without npm test's coverage collection: V8's counters would add to the memory bound measured here.
  const { NODE_V8_COVERAGE: _coverage, ...env } = process.env;
  scp = spawn(process.execPath, ['--input-type=module', '-e', script, path.join(dir, 'received')], { stdio: ['ignore', 'pipe', 'pipe'], env });
  scp.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  port = await new Promise<number>((resolve, reject) => {
    scp.stdout!.once('data', (d: Buffer) => resolve((JSON.parse(d.toString()) as { port: number }).port));
    scp.once('exit', (code) => reject(new Error(`SCP exited (${code}): ${stderr}`)));
  });
});
after(async () => {
  if (scp.exitCode === null) {
    const exited = new Promise((r) => scp.once('exit', r));
    scp.kill('SIGTERM');
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
});

async function procStatusKb(field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${scp.pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]);
}

type Outcome = 'abort' | 'reject' | 'closed' | 'held';
interface FuzzCase { kind: string; bytes: Buffer; /** more bytes after the first PDU, e.g. after an A-ASSOCIATE-AC */ then?: Buffer }

function pdv(pcId: number, control: number, value: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt32BE(2 + value.length, 0);
  head.writeUInt8(pcId, 4);
  head.writeUInt8(control, 5);
  return Buffer.concat([head, value]);
}

function withLength(type: number, declared: number, body: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(declared >>> 0, 2);
  return Buffer.concat([head, body]);
}

function fuzzCase(random: () => number, n: number): FuzzCase {
  const int = (max: number) => Math.floor(random() * max);
  const junk = (max: number) => seededBytes(int(max), n * 7919 + 1);
  const rq = associateRequest(AE, `FUZZ${n % 1000}`);
  switch (n % 8) {
    case 0: return { kind: 'random type', bytes: pdu(int(256), junk(300)) };
    case 1: { // declared length larger than the data sent (the SCP waits, then its idle timeout ends it)
      const body = junk(100);
      return { kind: 'length > data', bytes: withLength(1 + int(7), body.length + 1 + int(64 * 1024), body) };
    }
    case 2: { // A-ASSOCIATE-RQ cut short, its length field saying so
      const cut = rq.subarray(6, 6 + int(rq.length - 6));
      return { kind: 'truncated A-ASSOCIATE-RQ', bytes: pdu(1, cut) };
    }
    case 3: { // a valid fixed part followed by garbage items
      return { kind: 'garbage items', bytes: pdu(1, Buffer.concat([rq.subarray(6, 74), junk(400)])) };
    }
    case 4: return { kind: 'P-DATA before association', bytes: pdu(4, pdv(1, int(4), junk(200))) };
    case 5: return { kind: 'huge length', bytes: withLength(int(8), 0x7fffffff + int(0x80000000), junk(64)) };
    case 6: { // an association, then malformed DIMSE traffic on it
      const variants = [
        pdu(4, pdv(1, 3, junk(120))), // garbage command set
        pdu(4, pdv(1 + 2 * int(100), 3, junk(40))), // unknown presentation context
        pdu(4, Buffer.concat([pdv(1, 0, junk(50)).subarray(0, 20)])), // PDV longer than its PDU
        pdu(4, pdv(1, 0, junk(500))), // dataset fragment without a C-STORE request
        pdu(int(256), junk(100)),
      ];
      return { kind: 'garbage after association', bytes: rq, then: variants[int(variants.length)] };
    }
    default: return { kind: 'random bytes', bytes: junk(2000) };
  }
}

/** Sends one case and reports how the SCP ended it (a connection still open after `waitMs` is "held"). */
function runCase(c: FuzzCase, waitMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(c.bytes));
    let outcome: Outcome | undefined;
    let sentThen = false;
    const finish = (o: Outcome) => {
      if (outcome) return;
      outcome = o;
      clearTimeout(timer);
      socket.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => finish('held'), waitMs);
    socket.on('data', (d: Buffer) => {
      if (d[0] === 0x07) finish('abort');
      else if (d[0] === 0x03) finish('reject');
      else if (d[0] === 0x02 && c.then && !sentThen) {
        sentThen = true;
        socket.write(c.then);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => finish('closed'));
  });
}

test('malformed PDUs are aborted cleanly while a well-formed sender keeps storing; memory stays bounded', async (t) => {
  const series = await synthesizePetSeries(path.join(dir, 'series'), { slices: 10, size: 64 });
  // One whole series first, so the SCP's write and header-reading threads (fixed costs, ~20 MB
  // each) already run when the baseline is taken: what is measured is what the fuzz adds.
  const warmUp = await sendFiles({ host: '127.0.0.1', port, calledAeTitle: AE, callingAeTitle: 'WARMUP', files: series });
  assert.deepEqual(warmUp.failed, []);
  const rssBeforeKb = await procStatusKb('VmRSS');

  // The well-formed sender: whole series, again and again, for as long as the fuzz runs.
  let fuzzing = true;
  const rounds: number[] = [];
  const sender = (async () => {
    while (fuzzing) {
      const r = await sendFiles({ host: '127.0.0.1', port, calledAeTitle: AE, callingAeTitle: 'GOODSCU', files: series });
      assert.deepEqual(r.failed, [], 'the good sender never fails');
      rounds.push(r.sent);
    }
  })();

  // One case streams 400 MB behind a header announcing 2 GB: the SCP must refuse at the header.
  // Kept, it would grow the SCP by 400 MB; the bound below leaves room for the fuzz's own churn
  // (its write and header-read threads at work, the garbage of 2000 connections: ~50-100 MB).
  const FLOOD_MB = 400;
  const flood = new Promise<void>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunk = Buffer.alloc(1024 * 1024, 0x41);
    let sent = 0;
    const pump = () => {
      while (sent < FLOOD_MB) {
        const ok = socket.write(sent === 0 ? Buffer.concat([withLength(4, 0x7ffffff0, Buffer.alloc(0)), chunk]) : chunk);
        sent++;
        if (!ok) return;
      }
    };
    socket.on('connect', pump);
    socket.on('drain', pump);
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
  });

  const random = uniformGenerator(0x8f17);
  const started = Date.now();
  const outcomes = new Map<string, Map<Outcome, number>>();
  let next = 0;
  const worker = async () => {
    while (next < FUZZ_CASES && Date.now() - started < FUZZ_BUDGET_MS) {
      const c = fuzzCase(random, next++);
      // Anything still open after the idle timeout (and some slack) was held, not ended.
      const o = await runCase(c, IDLE_TIMEOUT_MS + 1500);
      const byKind = outcomes.get(c.kind) ?? new Map<Outcome, number>();
      byKind.set(o, (byKind.get(o) ?? 0) + 1);
      outcomes.set(c.kind, byKind);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await flood;
  fuzzing = false;
  await sender;

  const summary = [...outcomes].map(([kind, m]) => `${kind}: ${[...m].map(([o, k]) => `${o} ${k}`).join(', ')}`);
  t.diagnostic(`${next} cases in ${Date.now() - started} ms; good sender rounds: ${rounds.length}`);
  for (const line of summary) t.diagnostic(line);
  for (const [kind, m] of outcomes) assert.equal(m.get('held') ?? 0, 0, `${kind}: no connection held open`);
  assert.ok(next >= 500, `a real number of cases ran (${next})`);
  assert.ok(rounds.length >= 1 && rounds.every((n) => n === series.length), `good series stored during the fuzz: ${rounds.join(',')}`);

  assert.equal(scp.exitCode, null, `the SCP process is alive; stderr: ${stderr}`);
  assert.equal(stderr, '', 'no uncaught exception or warning from the SCP');
  await echo({ host: '127.0.0.1', port, calledAeTitle: AE, callingAeTitle: 'AFTERFUZZ' });
  const hwmKb = await procStatusKb('VmHWM');
  t.diagnostic(`SCP RSS before ${Math.round(rssBeforeKb / 1024)} MB, peak ${Math.round(hwmKb / 1024)} MB`);
  assert.ok(hwmKb - rssBeforeKb < 150 * 1024, `peak RSS grew by ${Math.round((hwmKb - rssBeforeKb) / 1024)} MB (${FLOOD_MB} MB were announced and streamed)`);
});

test('a connection trickling one byte at a time is dropped by the idle timeout', async () => {
  const bytes = associateRequest(AE, 'SLOWLORIS');
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const connectedAt = await new Promise<number>((resolve) => socket.once('connect', () => resolve(Date.now())));
  let sent = 0;
  const trickle = setInterval(() => {
    if (!socket.destroyed) socket.write(bytes.subarray(sent % bytes.length, (sent % bytes.length) + 1));
    sent++;
  }, 250);
  const closedAfter = await new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - connectedAt)));
  clearInterval(trickle);
  assert.ok(sent >= 4, `bytes kept coming (${sent}) and still the connection was dropped`);
  assert.ok(closedAfter < IDLE_TIMEOUT_MS + 1000, `dropped after ${closedAfter} ms`);
  await echo({ host: '127.0.0.1', port, calledAeTitle: AE, callingAeTitle: 'AFTERSLOW' });
});
