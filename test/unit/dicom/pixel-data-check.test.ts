import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { synthesizePetSeries } from '../../../src/series/synth.js';
import { readInstanceHeader } from '../../../src/dicom/read-header.js';
import { pixelDataProblem } from '../../../src/dicom/pixel-data-check.js';

test('whole files pass; truncation anywhere in or before the pixel data is named', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-pix-'));
  for (const transferSyntaxUid of ['1.2.840.10008.1.2.1', '1.2.840.10008.1.2', '1.2.840.10008.1.2.2']) {
    const [file] = await synthesizePetSeries(path.join(dir, transferSyntaxUid), { slices: 1, size: 16, transferSyntaxUid });
    const bytes = await readFile(file);
    const header = readInstanceHeader(bytes);
    assert.equal(pixelDataProblem(bytes, header), undefined, `${transferSyntaxUid} whole`);
    assert.match(pixelDataProblem(bytes.subarray(0, bytes.length - 10), header) ?? '', /truncated: pixel data claims 512 bytes/);
    const beforePixels = bytes.subarray(0, bytes.length - 520);
    assert.match(pixelDataProblem(beforePixels, readInstanceHeader(beforePixels)) ?? '', /no pixel data|truncated/);
    assert.match(pixelDataProblem(bytes, { ...header, rows: 32 }) ?? '', /pixel data is 512 bytes, 32×16×16 bit needs 1024/);
  }
});
