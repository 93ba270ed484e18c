import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { npyHeader, npyView, parseNpy, readNpy, readNpyShared, writeNpy } from '../../../src/imaging/npy.js';

describe('npy', () => {
  let tmp: string;
  const shape = [3, 4, 5];
  const data = Float32Array.from({ length: 60 }, (_, i) => i * 0.25 - 3);

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'petspool-npy-'));
  });
  after(() => rm(tmp, { recursive: true, force: true }));

  it('readNpyShared reads what writeNpy wrote into a SharedArrayBuffer, as readNpy does into plain memory', async () => {
    const file = path.join(tmp, 'v.npy');
    await writeNpy(file, data, shape);
    const shared = await readNpyShared(file);
    assert.ok(shared.data.buffer instanceof SharedArrayBuffer, 'worker threads can use it without a copy');
    assert.equal(shared.data.byteOffset, 0);
    assert.deepEqual(shared.shape, shape);
    assert.deepEqual(Array.from(shared.data), Array.from(data));
    const plain = await readNpy(file);
    assert.ok(!(plain.data.buffer instanceof SharedArrayBuffer));
    assert.deepEqual(Array.from(plain.data), Array.from(data));
  });

  it('npyView sees the array in place in shared memory, and copies it only when it is not aligned', () => {
    const good = Buffer.concat([npyHeader(shape), Buffer.from(data.buffer)]);
    const shared = new Uint8Array(new SharedArrayBuffer(good.length + 1));
    shared.set(good);
    const view = npyView(shared.subarray(0, good.length));
    assert.equal(view.data.buffer, shared.buffer, 'no copy');
    assert.deepEqual(view.shape, shape);
    assert.deepEqual(Array.from(view.data), Array.from(data));
    shared.copyWithin(1, 0, good.length);
    const copied = npyView(shared.subarray(1));
    assert.notEqual(copied.data.buffer, shared.buffer, 'copied: float32 needs 4-byte alignment');
    assert.ok(copied.data.buffer instanceof SharedArrayBuffer);
    assert.deepEqual(Array.from(copied.data), Array.from(data));
  });

  it('readNpyShared refuses what parseNpy refuses, with the same reasons', async () => {
    const good = Buffer.concat([npyHeader(shape), Buffer.from(data.buffer)]);
    const header = npyHeader(shape).toString('latin1');
    const cases: [string, Buffer, RegExp][] = [
      ['magic', Buffer.concat([Buffer.from('NOTNPY....'), good.subarray(10)]), /not an \.npy file \(bad magic\)/],
      ['dtype', Buffer.from(good.toString('latin1').replace("'<f4'", "'<f8'"), 'latin1'), /dtype is not little-endian float32/],
      ['fortran', Buffer.from(header.replace('False', 'True ') + Buffer.from(data.buffer).toString('latin1'), 'latin1'), /Fortran order/],
      ['short', good.subarray(0, good.length - 4), /\.npy data is 236 bytes, shape 3x4x5 needs 240/],
      ['long', Buffer.concat([good, Buffer.alloc(4)]), /\.npy data is 244 bytes, shape 3x4x5 needs 240/],
    ];
    for (const [name, bytes, reason] of cases) {
      const file = path.join(tmp, `${name}.npy`);
      await writeFile(file, bytes);
      assert.throws(() => parseNpy(bytes), reason, `parseNpy ${name}`);
      assert.throws(() => npyView(bytes), reason, `npyView ${name}`);
      await assert.rejects(readNpyShared(file), reason, `readNpyShared ${name}`);
    }
  });

  it('readNpyShared refuses a file cut inside its header', async () => {
    const file = path.join(tmp, 'cut.npy');
    await writeNpy(file, data, shape);
    await truncate(file, 8);
    await assert.rejects(readNpyShared(file), /bad magic|cut short/);
    assert.equal((await readFile(file)).length, 8);
  });
});
