import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { readInstanceHeader } from '../../src/dicom/read-header.js';
import { getNumber, getString, readPart10File } from '../../src/dicom/write-part10.js';
import { freePort, runDcmtk, startStorescp } from '../fixtures/dcmtk.js';
import {
  BITS_NEEDED, compressPetSeries, decompressWithDcmtk, requantisePetFile, storescuProposing, NEAR_LOSSLESS_ERROR, TS, type CompressionKind,
} from '../fixtures/compressed-pet.js';
import { startTestAppliance } from '../helpers/appliance.js';
import type { TaskRecord } from '../../src/spool/task-record.js';

const SLICES = 12;
const SIZE = 32;
const SEED = 21;

interface Delivered { lossy?: string; methods: string[]; values: Map<number, Float64Array>; slope: number }

/** A delivered series' physical values per InstanceNumber, and its lossy marking. */
async function readDelivered(files: string[]): Promise<Delivered> {
  const values = new Map<number, Float64Array>();
  let lossy: string | undefined;
  let methods: string[] = [];
  let slope = 0;
  for (const file of files) {
    const { dataset } = await readPart10File(file);
    const stored = new Int16Array(dataset['7FE00010']!.Value![0] as ArrayBuffer);
    const s = getNumber(dataset, 'RescaleSlope')!;
    const intercept = getNumber(dataset, 'RescaleIntercept') ?? 0;
    values.set(getNumber(dataset, 'InstanceNumber')!, Float64Array.from(stored, (v) => v * s + intercept));
    slope = Math.max(slope, s);
    lossy = getString(dataset, 'LossyImageCompression');
    methods = (dataset['00282114']?.Value ?? []).map(String);
  }
  return { lossy, methods, values, slope };
}

/** The largest and the root-mean-square difference between two deliveries of the same slices. */
function differences(a: Delivered, b: Delivered): { max: number; rms: number } {
  assert.deepEqual([...a.values.keys()].sort(), [...b.values.keys()].sort(), 'the same slices');
  let max = 0;
  let squares = 0;
  let count = 0;
  for (const [n, va] of a.values) {
    const vb = b.values.get(n)!;
    for (let i = 0; i < va.length; i++) {
      const d = Math.abs(va[i]! - vb[i]!);
      max = Math.max(max, d);
      squares += d * d;
      count++;
    }
  }
  return { max, rms: Math.sqrt(squares / count) };
}

const peakOf = (d: Delivered) => Math.max(...[...d.values.values()].map((v) => Math.max(...v)));

test('PET series in JPEG, JPEG-LS and JPEG 2000 (lossless and lossy) pushed with storescu flow to the PACS; lossless ones exactly as the uncompressed series, lossy ones within the codec\'s error and marked lossy', { timeout: 600_000 }, async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'petspool-codecs-e2e-'));
  const pacsDir = path.join(work, 'pacs');
  await mkdir(pacsDir);
  const pacs = await startStorescp(pacsDir, ['+uf'], await freePort());
  const app = await startTestAppliance({
    destinations: [{ name: 'pacs', ae_title: 'STORESCP', host: '127.0.0.1', port: pacs.port, mirror: false }],
    compilator: { quiet_seconds: 0.5, min_images: 10, max_gap_ratio: 0.025, abort_incomplete_after_seconds: 60 },
    filters: [{ name: 'raw', fwhm_mm: 0 }],
    share: { poll_seconds: 0.5 },
  });
  try {
    // The same phantom (same seed) in several series: each compressed one has an uncompressed twin to compare with.
    const series = async (name: string) => synthesizePetSeries(path.join(work, name), { slices: SLICES, size: SIZE, seed: SEED });
    const requantised = async (name: string, bits: 8 | 12 | undefined) => {
      const files = await series(name);
      if (bits) for (const f of files) await requantisePetFile(f, bits);
      return files;
    };
    const compressed = async (kind: CompressionKind) => {
      const files = await requantised(`in-${kind}`, BITS_NEEDED[kind]);
      await mkdir(path.join(work, `${kind}-encoded`));
      return compressPetSeries(files, path.join(work, `${kind}-encoded`), kind);
    };
    /** The twin of a JPEG lossy series: the same compression, decompressed by DCMTK. */
    const dcmtkTwin = async (kind: CompressionKind) => {
      const files = await requantised(`twin-${kind}`, BITS_NEEDED[kind]);
      await mkdir(path.join(work, `twin-${kind}-encoded`));
      await mkdir(path.join(work, `twin-${kind}-decoded`));
      const encoded = await compressPetSeries(files, path.join(work, `twin-${kind}-encoded`), kind);
      const decoded = encoded.map((f) => path.join(work, `twin-${kind}-decoded`, path.basename(f)));
      for (let i = 0; i < encoded.length; i++) await decompressWithDcmtk(encoded[i]!, decoded[i]!);
      return decoded;
    };
    const inputs: Record<string, string[]> = {
      uncompressed: await series('uncompressed'),
      'jpeg-lossless': await compressed('jpeg-lossless'),
      'jpeg-ls-lossless': await compressed('jpeg-ls-lossless'),
      'j2k-lossless': await compressed('j2k-lossless'),
      'j2k-reversible': await compressed('j2k-reversible'),
      'j2k-irreversible': await compressed('j2k-irreversible'),
      'jpeg-ls-near-lossless': await compressed('jpeg-ls-near-lossless'),
      'jpeg-baseline': await compressed('jpeg-baseline'),
      'jpeg-extended': await compressed('jpeg-extended'),
      'twin-jpeg-baseline': await dcmtkTwin('jpeg-baseline'),
      'twin-jpeg-extended': await dcmtkTwin('jpeg-extended'),
      'uncompressed-12-bit': await requantised('uncompressed-12-bit', 12),
    };
    assert.equal(readInstanceHeader(inputs['j2k-irreversible']![0]!).transferSyntaxUid, TS.j2k);
    assert.equal(readInstanceHeader(inputs['jpeg-extended']![0]!).transferSyntaxUid, TS.jpegExtended);
    // Every file's own transfer syntax proposed, so the files go as they are (storescu would otherwise
    // try to convert them to the uncompressed syntaxes it proposes by default, and fail).
    const syntaxes = [...new Set(Object.values(inputs).map((files) => readInstanceHeader(files[0]!).transferSyntaxUid))];
    const r = await runDcmtk('storescu', [...await storescuProposing(work, syntaxes), '-aec', app.config.ae_title, '-aet', 'SCANNER', '127.0.0.1', String(app.config.dicom.port),
      ...Object.values(inputs).flat()]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /0006:020E|No presentation context/i);

    const seriesOf = (name: string) => readInstanceHeader(inputs[name]![0]!).seriesInstanceUid;
    const tasks = await app.waitFor('every series delivered', async () => {
      const all = await app.tasks();
      const failed = all.filter((t) => t.state === 'failed');
      assert.deepEqual(failed.map((t) => `${t.id}: ${t.reason}`), [], 'no task failed');
      const done = Object.keys(inputs).map((name) => all.find((t) => t.series_instance_uid === seriesOf(name) && t.state === 'done'));
      return done.every((t) => t !== undefined) ? all : undefined;
    }, 480_000);
    for (const name of Object.keys(inputs)) {
      assert.equal(tasks.filter((t) => t.series_instance_uid === seriesOf(name)).length, 1, `${name}: one task`);
    }
    const taskOf = (name: string): TaskRecord => tasks.find((t) => t.series_instance_uid === seriesOf(name))!;

    const bySeries = new Map<string, string[]>();
    for (const name of await readdir(pacsDir)) {
      const file = path.join(pacsDir, name);
      const uid = readInstanceHeader(file).seriesInstanceUid;
      bySeries.set(uid, [...(bySeries.get(uid) ?? []), file]);
    }
    const delivered = async (name: string) => {
      const task = taskOf(name);
      assert.equal(task.images, SLICES, name);
      const files = bySeries.get(task.outputs[0]!) ?? [];
      assert.equal(files.length, SLICES, `${name}: every slice delivered`);
      return readDelivered(files);
    };

    const reference = await delivered('uncompressed');
    assert.notEqual(reference.lossy, '01');
    for (const name of ['jpeg-lossless', 'jpeg-ls-lossless', 'j2k-lossless', 'j2k-reversible']) {
      const out = await delivered(name);
      assert.equal(differences(out, reference).max, 0, `${name}: the same values as the uncompressed series`);
      assert.notEqual(out.lossy, '01', `${name}: not marked lossy`);
      assert.equal(taskOf(name).facts.source_lossy_compression, undefined, `${name}: no lossy fact`);
    }
    /** The largest stored-value step of a series' slices (each slice has its own RescaleSlope). */
    const step = (name: string) => Math.max(...inputs[name]!.map((f) => readInstanceHeader(f).rescaleSlope ?? 1));
    /** [series, compression method, twin to compare with, largest difference the codec allows (none: JPEG 2000's rate only bounds the mean)] */
    const lossyCases: [string, string, Delivered, number | undefined][] = [
      // The median filter moves no value further than its input moved: JPEG-LS's bound holds after it.
      ['jpeg-ls-near-lossless', 'ISO_14495_1', await delivered('uncompressed-12-bit'), NEAR_LOSSLESS_ERROR * step('uncompressed-12-bit')],
      ['j2k-irreversible', 'ISO_15444_1', reference, undefined],
      // Against DCMTK's decoding of the same codestream: within a stored step of the source.
      ['jpeg-baseline', 'ISO_10918_1', await delivered('twin-jpeg-baseline'), step('jpeg-baseline')],
      ['jpeg-extended', 'ISO_10918_1', await delivered('twin-jpeg-extended'), step('jpeg-extended')],
    ];
    for (const [name, method, twin, codecError] of lossyCases) {
      const out = await delivered(name);
      const { max, rms } = differences(out, twin);
      if (codecError === undefined) {
        assert.ok(rms <= 0.03 * peakOf(twin), `${name}: root-mean-square difference ${rms} within 3% of the peak ${peakOf(twin)}`);
      } else {
        // Each side was quantised into int16 once more on output: half a step each.
        const bound = codecError + out.slope / 2 + twin.slope / 2;
        assert.ok(max <= bound, `${name}: max difference ${max} within ${bound}`);
      }
      assert.equal(out.lossy, '01', `${name}: the results are marked lossy`);
      assert.ok(out.methods.includes(method), `${name}: method ${method} in ${out.methods}`);
      const fact = taskOf(name).facts.source_lossy_compression as { slices: number; methods: string[] } | undefined;
      assert.equal(fact?.slices, SLICES, `${name}: lossy fact ${JSON.stringify(fact)}`);
      assert.ok(fact.methods.includes(method));
    }
  } finally {
    await app.stop();
    await pacs.stop();
  }
});
