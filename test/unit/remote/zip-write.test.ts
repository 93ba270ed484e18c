import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import yauzl, { type Entry } from 'yauzl';
import { npyHeader } from '../../../src/imaging/npy.js';
import { deflateInMemory, writeZip, type WrittenZip, type ZipEntry } from '../../../src/remote/zip-write.js';
import { mountTmpfs } from '../../fixtures/tmpfs.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
/** Debian's python, which has numpy (the pyenv python3 on PATH may not). */
const DEBIAN_PYTHON = '/usr/bin/python3';

/** 20 MiB of float32 in a PET-like pattern: a zero background, then a smooth ramp with noise. */
function patternVolume(shape: [number, number, number]): Float32Array {
  const data = new Float32Array(new SharedArrayBuffer(shape[0] * shape[1] * shape[2] * 4));
  let seed = 12345;
  for (let i = data.length / 4; i < data.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    data[i] = (i % 4099) * 0.25 + (seed >>> 20) * 0.001;
  }
  return data;
}

/** Every entry of the zip, inflated by yauzl (an independent reader). */
function readWithYauzl(zipPath: string): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.open(zipPath, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const found = new Map<string, Buffer>();
      zip.on('error', reject);
      zip.on('end', () => resolve(found));
      zip.on('entry', (entry: Entry) => {
        zip.openReadStream(entry, (streamErr, stream) => {
          if (streamErr) return reject(streamErr);
          const parts: Buffer[] = [];
          stream.on('data', (part: Buffer) => parts.push(part));
          stream.on('error', reject);
          stream.on('end', () => {
            found.set(entry.fileName, Buffer.concat(parts));
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith('.tmp'));
}

describe('writeZip', () => {
  let tmp: string;
  let zipPath: string;
  let written: WrittenZip;
  const shape: [number, number, number] = [20, 256, 256];
  const volume = patternVolume(shape);
  // An odd length, so the last chunk is a short one ending mid-float.
  const odd = Buffer.from(Array.from({ length: 3 * MiB + 5 }, (_, i) => (i * 7919) % 251));
  const json = Buffer.from(JSON.stringify({ task_id: 'task1', note: 'größe µ' }, null, 2) + '\n');

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'petspool-zip-write-'));
    zipPath = path.join(tmp, 'task1_site-01.zip');
    await writeFile(path.join(tmp, 'expected.f32'), volume);
    await writeFile(path.join(tmp, 'expected.odd'), odd);
    // An odd chunk size makes 20 chunks whose boundaries fall mid-float.
    written = await writeZip(zipPath, [
      { name: 'task1.npy', content: [npyHeader(shape), volume] },
      { name: 'empty.bin', content: [] },
      { name: 'odd/bytes.bin', content: Promise.resolve([odd]) },
      { name: 'metadata.json', content: [json] },
      // Compressed beforehand (as the packer's pack-ahead does), from two pieces.
      { name: 'ahead.bin', deflated: await deflateInMemory([odd, json], { chunkBytes: MiB + 7 }) },
    ], { chunkBytes: MiB + 7 });
  });
  after(() => rm(tmp, { recursive: true, force: true }));

  it('reports what it wrote and leaves no temporary file', async () => {
    assert.equal(written.bytes, (await stat(zipPath)).size);
    assert.deepEqual(written.entries.map((e) => [e.name, e.size]), [
      ['task1.npy', 128 + volume.byteLength],
      ['empty.bin', 0],
      ['odd/bytes.bin', odd.length],
      ['metadata.json', json.length],
      ['ahead.bin', odd.length + json.length],
    ]);
    assert.ok(written.bytes < 0.8 * (volume.byteLength + odd.length), `deflated: ${written.bytes} bytes`);
    assert.deepEqual(await leftovers(tmp), []);
  });

  it('passes unzip -t and 7z t', async () => {
    const unzip = await run('unzip', ['-t', zipPath]);
    assert.match(unzip.stdout, /No errors detected in compressed data/);
    const sevenZip = await run('7z', ['t', zipPath]);
    assert.match(sevenZip.stdout, /Everything is Ok/);
    assert.match(sevenZip.stdout, /Files: 5/);
  });

  it("reads back in Python's zipfile, the .npy equal to the data under numpy.load", async () => {
    const script = [
      'import io, json, sys, zipfile, numpy as np',
      'folder, archive = sys.argv[1], sys.argv[2]',
      'z = zipfile.ZipFile(archive)',
      'assert z.testzip() is None',
      "arr = np.load(io.BytesIO(z.read('task1.npy')))",
      "expected = np.fromfile(folder + '/expected.f32', dtype='<f4').reshape(arr.shape)",
      "assert arr.dtype == np.dtype('<f4'), arr.dtype",
      'assert np.array_equal(arr, expected)',
      "assert z.read('empty.bin') == b''",
      "assert z.read('odd/bytes.bin') == open(folder + '/expected.odd', 'rb').read()",
      "assert z.read('ahead.bin') == open(folder + '/expected.odd', 'rb').read() + z.read('metadata.json')",
      "print(list(arr.shape), json.loads(z.read('metadata.json'))['note'])",
    ].join('\n');
    const { stdout } = await run(DEBIAN_PYTHON, ['-c', script, tmp, zipPath]);
    assert.equal(stdout.trim(), `[${shape.join(', ')}] größe µ`);
  });

  it('reads back in yauzl byte for byte', async () => {
    const entries = await readWithYauzl(zipPath);
    assert.deepEqual([...entries.keys()], ['task1.npy', 'empty.bin', 'odd/bytes.bin', 'metadata.json', 'ahead.bin']);
    const npy = entries.get('task1.npy')!;
    assert.ok(npy.subarray(0, 128).equals(npyHeader(shape)));
    assert.ok(npy.subarray(128).equals(Buffer.from(volume.buffer)));
    assert.equal(entries.get('empty.bin')!.length, 0);
    assert.ok(entries.get('odd/bytes.bin')!.equals(odd));
    assert.ok(entries.get('metadata.json')!.equals(json));
    assert.ok(entries.get('ahead.bin')!.equals(Buffer.concat([odd, json])), 'an entry compressed beforehand');
  });

  it('refuses entries and archives at the zip32 limit instead of writing a broken file', async () => {
    const target = path.join(tmp, 'too-big.zip');
    const limit = 1000;
    await assert.rejects(writeZip(target, [{ name: 'big.bin', content: [Buffer.alloc(limit)] }], { sizeLimit: limit }),
      /entry big\.bin is 1000 bytes; this writer makes no zip64 archives/);
    // Each entry fits, the archive does not (random bytes do not compress).
    const noise = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 2654435761) >>> 24));
    await assert.rejects(writeZip(target, [
      { name: 'a.bin', content: [noise] },
      { name: 'b.bin', content: [noise] },
    ], { sizeLimit: limit }), /the archive would .* this writer makes no zip64 archives/);
    await assert.rejects(stat(target));
    assert.deepEqual(await leftovers(tmp), []);
  });

  it('refuses names that would leave the archive folder', async () => {
    for (const name of ['../x', '/etc/x', 'a//b', '', 'a\\b']) {
      await assert.rejects(writeZip(path.join(tmp, 'names.zip'), [{ name, content: [json] }]), /is not a relative file path/);
    }
  });

  it('leaves no temporary file when a later entry fails, or the rename does', async () => {
    const failing: ZipEntry[] = [
      { name: 'task1.npy', content: [npyHeader(shape), volume] },
      { name: 'metadata.json', content: Promise.reject(new Error('checksum went wrong')) },
    ];
    await assert.rejects(writeZip(path.join(tmp, 'failing.zip'), failing), /checksum went wrong/);
    // A folder in the way of the final name: the rename fails after the whole archive was written.
    const blocked = path.join(tmp, 'blocked.zip');
    await mkdir(path.join(blocked, 'inside'), { recursive: true });
    await assert.rejects(writeZip(blocked, [{ name: 'metadata.json', content: [json] }]), { code: /^(EISDIR|ENOTEMPTY|EEXIST)$/ });
    assert.deepEqual(await leftovers(tmp), []);
    await assert.rejects(writeZip(path.join(tmp, 'no-such-folder', 'x.zip'), [{ name: 'm.json', content: [json] }]), { code: 'ENOENT' });
  });

  it('fails cleanly when the disk fills up mid-archive: the error says so and no temporary file is left', async (t) => {
    const small = path.join(tmp, 'small-disk');
    await mkdir(small);
    const mounted = await mountTmpfs(small, 1024 * 1024);
    if ('unavailable' in mounted) return t.skip(mounted.unavailable);
    try {
      // Random bytes do not compress: 4 MiB cannot fit on a 1 MiB disk.
      const incompressible = randomBytes(4 * 1024 * 1024);
      await assert.rejects(writeZip(path.join(small, 'x.zip'), [{ name: 'big.bin', content: [incompressible] }]), { code: 'ENOSPC' });
      assert.deepEqual(await readdir(small), []);
    } finally {
      await mounted.unmount();
    }
  });
});
