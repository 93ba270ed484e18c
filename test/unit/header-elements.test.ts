import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { readHeaderElements, type HeaderDict } from '../../src/dicom/header-elements.js';
import { SYNTH_TRACERS, synthesizePetSeries } from '../../src/dicom/synth.js';
import { makePetSeries } from '../fixtures/make-pet.js';

/** The reference: what dcmjs reads, reduced to the tags the walk's reader kept. */
interface DcmjsModule {
  data: { DicomMessage: { readFile(buffer: ArrayBuffer, options: Record<string, unknown>): { meta: HeaderDict; dict: HeaderDict } } };
}
const dcmjs = createRequire(import.meta.url)('dcmjs') as DcmjsModule;

function dcmjsRead(bytes: Buffer): { meta: HeaderDict; dict: HeaderDict } {
  const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return dcmjs.data.DicomMessage.readFile(copy, { ignoreErrors: false, untilTag: '7FE00010', includeUntilTagValue: false, noCopy: true });
}

/** Plain data only (dcmjs attaches accessors and _rawValue), restricted to the keys `ours` has. */
function comparable(reference: HeaderDict, ours: HeaderDict): unknown {
  const out: Record<string, unknown> = {};
  for (const [key, element] of Object.entries(ours)) {
    const ref = reference[key];
    out[key] = ref && {
      vr: ref.vr,
      Value: ref.vr === 'SQ'
        ? (ref.Value ?? []).map((item, i) => comparable(item as HeaderDict, (element.Value?.[i] ?? {}) as HeaderDict))
        : JSON.parse(JSON.stringify(ref.Value ?? [])),
    };
  }
  return out;
}

let dir: string;
const files: string[] = [];
const TRANSFER_SYNTAXES = ['1.2.840.10008.1.2.1', '1.2.840.10008.1.2', '1.2.840.10008.1.2.2'];

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'petspool-header-elements-'));
  let n = 0;
  const series = async (options: Parameters<typeof synthesizePetSeries>[1]) => {
    files.push(...await synthesizePetSeries(path.join(dir, String(n++)), { slices: 2, size: 8, ...options }));
  };
  for (const tracer of Object.keys(SYNTH_TRACERS)) {
    for (const transferSyntaxUid of TRANSFER_SYNTAXES) await series({ tracer, transferSyntaxUid });
  }
  for (const transferSyntaxUid of TRANSFER_SYNTAXES) {
    await series({ transferSyntaxUid, orientation: [0.866, 0.5, 0, -0.5, 0.866, 0] });
    await series({ transferSyntaxUid, omit: ['PatientWeight', 'RadionuclideCodeSequence', 'Units'], numberOfSlicesTag: false });
    await series({ transferSyntaxUid, ct: true });
  }
  files.push(...await makePetSeries(path.join(dir, 'fixture'), { slices: 2, size: 8 }));
});
after(() => fs.rm(dir, { recursive: true, force: true }));

test('the walk reads the same values as dcmjs for synthetic and fixture files', async () => {
  let read = 0;
  for (const file of files) {
    const bytes = await fs.readFile(file);
    const { elements } = readHeaderElements(bytes);
    if (!elements) continue;
    read++;
    const reference = dcmjsRead(bytes);
    const ours = JSON.parse(JSON.stringify(elements));
    assert.deepEqual(ours.meta, comparable(reference.meta, elements.meta), file);
    assert.deepEqual(ours.dict, comparable(reference.dict, elements.dict), file);
  }
  // Every transfer syntax the synthesizer writes takes the fast path (none needs dcmjs).
  assert.equal(read, files.length);
});
