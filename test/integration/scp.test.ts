import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/log/logger.js';
import { startStoreScp, type StoredInstance, type StoreScp, type StoreScpOptions } from '../../src/dicom/scp.js';
import { echo, sendFiles } from '../../src/dicom/scu.js';
import { datasetBytes, runDcmtk } from '../fixtures/dcmtk.js';
import { LONG_RESCALE_SLOPE, makePetSeries } from '../fixtures/make-pet.js';
import { encapsulatedFragments } from '../../src/dicom/encapsulated-pixels.js';
import { walkStructure } from '../../src/dicom/structure-check.js';
import { BITS_NEEDED, compressPetFile, requantisePetFile, type CompressionKind } from '../fixtures/compressed-pet.js';
import { handedOn } from '../helpers/handed-on.js';

let root: string;
let explicitLe: string[];

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'petspool-scp-'));
  explicitLe = await makePetSeries(path.join(root, 'in-le'), { slices: 6, size: 32 });
});
after(() => fs.rm(root, { recursive: true, force: true }));

async function withScp(
  overrides: Partial<StoreScpOptions>,
  body: (scp: StoreScp, stored: StoredInstance[], receivedDir: string) => Promise<void>,
): Promise<void> {
  const receivedDir = await fs.mkdtemp(path.join(root, 'received-'));
  const stored: StoredInstance[] = [];
  const scp = await startStoreScp({
    host: '127.0.0.1', port: 0, aeTitle: 'PETSPOOL', allowedCallingAeTitles: [], maxAssociations: 8,
    minFreeMb: 1, receivedDir, logger: silentLogger, onStored: (i) => stored.push(i), ...overrides,
  });
  try {
    await body(scp, stored, receivedDir);
  } finally {
    await scp.close();
  }
}

function storescu(port: number, files: string[], extra: string[] = []): ReturnType<typeof runDcmtk> {
  return runDcmtk('storescu', [...extra, '-aec', 'PETSPOOL', '127.0.0.1', String(port), ...files]);
}

for (const [dcmconvOption, storescuOption, syntax] of [
  ['+te', '-xe', '1.2.840.10008.1.2.1'],
  ['+ti', '-xi', '1.2.840.10008.1.2'],
  ['+tb', '-xb', '1.2.840.10008.1.2.2'],
] as const) {
  test(`storescu ${storescuOption}: stored datasets are byte-identical to what was sent`, async () => {
    const inputs: string[] = [];
    for (const file of explicitLe) {
      const converted = path.join(root, `${path.basename(file, '.dcm')}${dcmconvOption}.dcm`);
      assert.equal((await runDcmtk('dcmconv', [dcmconvOption, file, converted])).code, 0);
      inputs.push(converted);
    }
    await withScp({}, async (scp, stored, receivedDir) => {
      const run = await storescu(scp.port, inputs, [storescuOption, '-aet', 'MODALITY']);
      assert.equal(run.code, 0, run.stderr);
      await handedOn(stored, inputs.length);
      assert.equal(stored.length, inputs.length);
      for (const [i, input] of inputs.entries()) {
        const sent = await fs.readFile(input);
        const instance = stored[i];
        assert.equal(instance.transferSyntaxUid, syntax);
        assert.equal(instance.callingAeTitle, 'MODALITY');
        assert.equal(path.dirname(instance.path), path.join(receivedDir, 'MODALITY'));
        assert.ok(path.basename(instance.path).endsWith(`_${instance.sopInstanceUid}.dcm`));
        const written = await fs.readFile(instance.path);
        assert.ok(datasetBytes(written).equals(datasetBytes(sent)), `dataset of ${input} changed`);
        assert.ok(written.includes(Buffer.from(LONG_RESCALE_SLOPE)), 'long DS value truncated');
        assert.equal(instance.header?.rescaleSlope, Number.parseFloat(LONG_RESCALE_SLOPE));
      }
      // Arrival order is the name order.
      const names = stored.map((s) => path.basename(s.path));
      assert.deepEqual([...names].sort(), names);
      assert.deepEqual(await fs.readdir(path.join(receivedDir, '.tmp')), []);
    });
  });
}

test('three associations at once; the same instance twice keeps both copies', async () => {
  await withScp({}, async (scp, stored) => {
    const runs = await Promise.all([0, 1, 2].map(() => storescu(scp.port, explicitLe)));
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    await handedOn(stored, 3 * explicitLe.length);
    assert.equal(stored.length, 3 * explicitLe.length);
    assert.equal(new Set(stored.map((s) => s.path)).size, stored.length);
    assert.equal(scp.stats().associationsAccepted, 3);
    assert.equal(scp.stats().activeAssociations, 0);
  });
});

test('an unknown calling AE title is refused at association', async () => {
  await withScp({ allowedCallingAeTitles: ['MODALITY'] }, async (scp, stored) => {
    await assert.rejects(
      echo({ host: '127.0.0.1', port: scp.port, calledAeTitle: 'PETSPOOL', callingAeTitle: 'INTRUDER' }),
      /rejected.*calling AE title not recognized/,
    );
    const run = await storescu(scp.port, explicitLe.slice(0, 1), ['-aet', 'INTRUDER']);
    assert.notEqual(run.code, 0);
    assert.equal(stored.length, 0);
    await echo({ host: '127.0.0.1', port: scp.port, calledAeTitle: 'PETSPOOL', callingAeTitle: 'MODALITY' });
    assert.equal(scp.stats().associationsRejected, 2);
  });
});

test('answers A700 when free disk is below min_free_mb', async () => {
  await withScp({ minFreeMb: Number.MAX_SAFE_INTEGER }, async (scp, stored, receivedDir) => {
    const result = await sendFiles({ host: '127.0.0.1', port: scp.port, calledAeTitle: 'PETSPOOL', callingAeTitle: 'SCU', files: explicitLe.slice(0, 2) });
    assert.equal(result.sent, 0);
    assert.deepEqual(result.failed.map((f) => f.status), [0xa700, 0xa700]);
    assert.equal(stored.length, 0);
    assert.deepEqual((await fs.readdir(receivedDir)).sort(), ['.journal', '.tmp']);
    assert.deepEqual(await fs.readdir(path.join(receivedDir, '.journal')), [], 'nothing journaled');
  });
});

test('a garbage dataset gets C210, nothing is kept, and the SCP keeps working', async () => {
  const garbage = path.join(root, 'garbage.dcm');
  const good = await fs.readFile(explicitLe[0]);
  const metaEnd = 144 + good.readUInt32LE(140);
  await fs.writeFile(garbage, Buffer.concat([good.subarray(0, metaEnd), Buffer.from([0x08, 0x00, 0x18, 0x00, 0x55, 0x49, 0xff, 0xff, 1, 2, 3])]));
  await withScp({}, async (scp, stored, receivedDir) => {
    const result = await sendFiles({ host: '127.0.0.1', port: scp.port, calledAeTitle: 'PETSPOOL', callingAeTitle: 'SCU', files: [garbage, explicitLe[1]] });
    assert.equal(result.failed.length, 1);
    assert.equal(result.failed[0].status, 0xc210);
    assert.equal(result.sent, 1);
    await handedOn(stored, 1);
    assert.equal(stored.length, 1);
    assert.deepEqual(await fs.readdir(path.join(receivedDir, '.tmp')), []);
    await echo({ host: '127.0.0.1', port: scp.port, calledAeTitle: 'PETSPOOL', callingAeTitle: 'SCU' });
  });
});

test('every instance that arrived whole counts as pending until it is refused or handed on, so no series looks quiet too early', async () => {
  const garbage = path.join(root, 'garbage-pending.dcm');
  const good = await fs.readFile(explicitLe[0]);
  await fs.writeFile(garbage, Buffer.concat([good.subarray(0, 144 + good.readUInt32LE(140)), Buffer.from([0x08, 0x00, 0x18, 0x00, 0x55, 0x49, 0xff, 0xff])]));
  await withScp({}, async (scp, stored) => {
    const pendingSeen: number[] = [];
    const result = await sendFiles({
      host: '127.0.0.1', port: scp.port, calledAeTitle: 'PETSPOOL', callingAeTitle: 'SCU', files: [garbage, ...explicitLe],
      // Each answered instance is pending or already handed on; the refused one is neither.
      onAccepted: () => { pendingSeen.push(scp.handOnsPending() + stored.length); },
    });
    assert.equal(result.failed.length, 1);
    assert.deepEqual(pendingSeen, explicitLe.map((_, i) => i + 1), 'pending + handed on after each Success');
    assert.equal(scp.handOnsPending() + stored.length, explicitLe.length);
    await handedOn(stored, explicitLe.length);
    assert.equal(scp.handOnsPending(), 0);
  });
});

test('an instance too large for a journal segment is written on its own, durably, and handed on like the others', async () => {
  // 2900 × 2900 16-bit pixels: 16.8 MB, past the journal's 16 MB segments.
  const [large] = await makePetSeries(path.join(root, 'large'), { slices: 1, size: 2900 });
  await withScp({}, async (scp, stored, receivedDir) => {
    const result = await sendFiles({ host: '127.0.0.1', port: scp.port, calledAeTitle: 'PETSPOOL', callingAeTitle: 'SCU', files: [large!] });
    assert.equal(result.sent, 1);
    await handedOn(stored, 1);
    assert.equal(stored.length, 1);
    assert.ok(datasetBytes(await fs.readFile(stored[0]!.path)).equals(datasetBytes(await fs.readFile(large!))));
    assert.deepEqual(await fs.readdir(path.join(receivedDir, '.journal')), [], 'not journaled');
  });
});

test('a well-formed dataset whose header values are unreadable is stored, answered Success and handed on with the reason', async () => {
  // A structurally sound dataset (one UI element) without SOPInstanceUID: only reading the header finds that out.
  const noUid = path.join(root, 'no-sop-instance-uid.dcm');
  const good = await fs.readFile(explicitLe[0]);
  const metaEnd = 144 + good.readUInt32LE(140);
  const sopClass = Buffer.from('1.2.840.10008.5.1.4.1.1.128\0', 'latin1');
  const element = Buffer.alloc(8);
  element.writeUInt16LE(0x0008, 0);
  element.writeUInt16LE(0x0016, 2);
  element.write('UI', 4, 'latin1');
  element.writeUInt16LE(sopClass.length, 6);
  await fs.writeFile(noUid, Buffer.concat([good.subarray(0, metaEnd), element, sopClass]));
  await withScp({}, async (scp, stored) => {
    const result = await sendFiles({ host: '127.0.0.1', port: scp.port, calledAeTitle: 'PETSPOOL', callingAeTitle: 'SCU', files: [noUid] });
    assert.equal(result.sent, 1);
    await handedOn(stored, 1);
    assert.equal(stored.length, 1);
    assert.equal(stored[0].header, undefined);
    assert.match(stored[0].unreadable ?? '', /missing SOPInstanceUID/);
    const kept = await fs.readFile(stored[0].path);
    assert.ok(datasetBytes(kept).equals(Buffer.concat([element, sopClass])), 'the bytes are on disk as sent');
  });
});

test('the pixel data is checked with the header after Success: an instance whose pixel data does not match its Rows is handed on with the problem', async () => {
  const wrongRows = path.join(root, 'wrong-rows.dcm');
  await fs.copyFile(explicitLe[1], wrongRows);
  assert.equal((await runDcmtk('dcmodify', ['-nb', '-m', '(0028,0010)=16', wrongRows])).code, 0);
  await withScp({}, async (scp, stored) => {
    const result = await sendFiles({ host: '127.0.0.1', port: scp.port, calledAeTitle: 'PETSPOOL', callingAeTitle: 'SCU', files: [explicitLe[0], wrongRows] });
    assert.equal(result.sent, 2);
    await handedOn(stored, 2);
    const byRows = new Map(stored.map((i) => [i.header?.rows, i]));
    assert.equal(byRows.get(32)?.pixelProblem, undefined, 'a whole instance has no pixel problem');
    assert.equal(byRows.get(16)?.pixelProblem, 'pixel data is 2048 bytes, 16×32×16 bit needs 1024');
  });
});

test('leftovers in .tmp are removed at start', async () => {
  const receivedDir = await fs.mkdtemp(path.join(root, 'leftover-'));
  await fs.mkdir(path.join(receivedDir, '.tmp'));
  await fs.writeFile(path.join(receivedDir, '.tmp', 'crash.part'), 'half');
  const scp = await startStoreScp({
    host: '127.0.0.1', port: 0, aeTitle: 'PETSPOOL', allowedCallingAeTitles: [], maxAssociations: 1,
    minFreeMb: 1, receivedDir, logger: silentLogger, onStored: () => {},
  });
  await scp.close();
  assert.deepEqual(await fs.readdir(path.join(receivedDir, '.tmp')), []);
});

function fragmentsOf(file: Buffer): Buffer[] {
  const walk = encapsulatedFragments(file, walkStructure(file).pixelDataAt! + 12);
  assert.ok(walk.fragments, walk.problem);
  return walk.fragments;
}

test('compressed files proposed in their own syntax (storescu -xw, -xv, -xu, -xy, -xx, -xs) are accepted as they are, never as 0006:020E', async () => {
  const cases: [CompressionKind, string, string][] = [
    ['j2k-irreversible', '-xw', '1.2.840.10008.1.2.4.91'], ['j2k-lossless', '-xv', '1.2.840.10008.1.2.4.90'],
    ['jpeg-ls-near-lossless', '-xu', '1.2.840.10008.1.2.4.81'], ['jpeg-baseline', '-xy', '1.2.840.10008.1.2.4.50'],
    ['jpeg-extended', '-xx', '1.2.840.10008.1.2.4.51'], ['jpeg-lossless-sv1', '-xs', '1.2.840.10008.1.2.4.70'],
  ];
  await withScp({}, async (scp, stored) => {
    for (const [n, [kind, option, syntax]] of cases.entries()) {
      const source = path.join(root, `scanner-${kind}-source.dcm`);
      await fs.copyFile(explicitLe[0]!, source);
      const bits = BITS_NEEDED[kind];
      if (bits) await requantisePetFile(source, bits);
      const file = path.join(root, `scanner-${kind}.dcm`);
      await compressPetFile(source, file, kind);
      const run = await storescu(scp.port, [file], [option, '-aet', 'SCANNER']);
      assert.equal(run.code, 0, `${kind}: ${run.stderr}`);
      await handedOn(stored, n + 1);
      const instance = stored.at(-1)!;
      assert.equal(instance.transferSyntaxUid, syntax, kind);
      // storescu re-serializes the header (group lengths, padding); the codestream must arrive untouched.
      assert.deepEqual(fragmentsOf(await fs.readFile(instance.path)), fragmentsOf(await fs.readFile(file)), `${kind}: compressed pixels kept as sent`);
    }
    assert.equal(stored.length, cases.length);
  });
});
