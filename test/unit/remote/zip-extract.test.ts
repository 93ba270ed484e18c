import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { corruptZipInPlace, writeCraftedZip, writeZipBomb, ZIP_BOMB_BYTES } from '../../../src/reference-service/reference-faults.js';
import { checkZip, extractZipInto, extractZipSafely, readZipIntoMemory, type ExtractLimits } from '../../../src/remote/zip-extract.js';
import { packZip } from '../../../src/remote/zip-pack.js';

const MiB = 1024 * 1024;
const roomy: ExtractLimits = { maxEntries: 8, maxTotalBytes: 64 * MiB, maxEntryBytes: 64 * MiB };

describe('zip pack and safe extraction', () => {
  let tmp: string;
  let sources: string;
  let packed: string;

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'petspool-zip-'));
    sources = path.join(tmp, 'src');
    await mkdir(sources);
    await writeFile(path.join(sources, 'task1.npy'), randomBytes(300_000));
    await writeFile(path.join(sources, 'metadata.json'), JSON.stringify({ task_id: 'task1' }));
    packed = path.join(tmp, 'task1_site.zip');
    await packZip(packed, [path.join(sources, 'task1.npy'), path.join(sources, 'metadata.json')]);
  });
  after(() => rm(tmp, { recursive: true, force: true }));

  /** Everything under a folder, relative, to prove nothing was left behind. */
  async function listing(dir: string): Promise<string[]> {
    return (await readdir(dir, { recursive: true })).sort();
  }

  it('packZip writes a sound zip with the files under their base names, no temporary left', async () => {
    const entries = (await checkZip(packed)).sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(entries, [
      { name: 'metadata.json', size: JSON.stringify({ task_id: 'task1' }).length },
      { name: 'task1.npy', size: 300_000 },
    ]);
    assert.deepEqual((await readdir(tmp)).filter((n) => n.endsWith('.tmp')), []);
  });

  it('packZip says clearly when 7z is missing', async () => {
    await assert.rejects(packZip(path.join(tmp, 'x.zip'), [path.join(sources, 'task1.npy')], { sevenZipBin: path.join(tmp, 'no-7z') }),
      /7z not found .*install p7zip-full/);
    await assert.rejects(stat(path.join(tmp, 'x.zip')));
  });

  it('packZip goes by 7z exit status: a failing or killed 7z is an error and leaves no archive', async () => {
    const failing = path.join(tmp, 'failing-7z');
    await writeFile(failing, '#!/bin/sh\necho "ERROR: disk full" >&2\nexit 2\n', { mode: 0o755 });
    const killed = path.join(tmp, 'killed-7z');
    await writeFile(killed, '#!/bin/sh\nkill -9 $$\n', { mode: 0o755 });
    const target = path.join(tmp, 'never.zip');
    await assert.rejects(packZip(target, [path.join(sources, 'task1.npy')], { sevenZipBin: failing }),
      /7z failed with exit code 2 writing never\.zip: ERROR: disk full/);
    await assert.rejects(packZip(target, [path.join(sources, 'task1.npy')], { sevenZipBin: killed }), /7z was killed by SIGKILL/);
    await assert.rejects(stat(target));
  });

  it('round-trips a packed archive byte for byte', async () => {
    const dest = path.join(tmp, 'roundtrip');
    const files = await extractZipSafely(packed, dest, { ...roomy, allowedNames: /^[\w.-]+$/ });
    assert.deepEqual(files.map((f) => path.basename(f)).sort(), ['metadata.json', 'task1.npy']);
    for (const name of ['task1.npy', 'metadata.json']) {
      assert.ok((await readFile(path.join(dest, name))).equals(await readFile(path.join(sources, name))), name);
    }
    assert.deepEqual(await listing(dest), ['metadata.json', 'task1.npy']);
  });

  it('extractZipInto writes every entry in one pass', async () => {
    const dest = path.join(tmp, 'into');
    await mkdir(dest);
    const entries = await extractZipInto(packed, dest, roomy);
    assert.deepEqual(entries.map((e) => e.name).sort(), ['metadata.json', 'task1.npy']);
    const source = await readFile(path.join(sources, 'task1.npy'));
    assert.ok((await readFile(path.join(dest, 'task1.npy'))).equals(source));
    assert.deepEqual(await listing(dest), ['metadata.json', 'task1.npy']);
    // Never over an existing file: a second pass into the same folder is an error, not an overwrite.
    await assert.rejects(extractZipInto(packed, dest, roomy), /EEXIST/);
  });

  it('extractZipInto refuses what checkZip refuses, with the same reasons', async () => {
    const zip = path.join(tmp, 'into-slip.zip');
    await writeCraftedZip(zip, [{ name: '../x', data: Buffer.from('escaped') }]);
    const dest = path.join(tmp, 'into-slip');
    await mkdir(dest);
    await assert.rejects(extractZipInto(zip, dest, roomy), { message: 'entry ../x escapes the folder' });
    await assert.rejects(stat(path.join(tmp, 'x')));
    const corrupt = path.join(tmp, 'into-corrupt.zip');
    await writeFile(corrupt, await readFile(packed));
    await corruptZipInPlace(corrupt);
    const dest2 = path.join(tmp, 'into-corrupt');
    await mkdir(dest2);
    await assert.rejects(extractZipInto(corrupt, dest2, roomy), /entry task1\.npy is corrupt/);
  });

  it('refuses an entry that escapes the folder and writes nothing, inside or outside', async () => {
    const zip = path.join(tmp, 'slip.zip');
    await writeCraftedZip(zip, [
      { name: 'harmless.txt', data: Buffer.from('ok') },
      { name: '../x', data: Buffer.from('escaped') },
    ]);
    const area = path.join(tmp, 'slip-area');
    const dest = path.join(area, 'dest');
    await assert.rejects(extractZipSafely(zip, dest, roomy), { message: 'entry ../x escapes the folder' });
    await assert.rejects(stat(path.join(area, 'x')));
    await assert.rejects(stat(dest)); // created by the attempt, removed again
    await assert.rejects(checkZip(zip), /escapes the folder/);
  });

  it('extracts stored entries, and refuses a compression method it cannot read', async () => {
    const zip = path.join(tmp, 'stored.zip');
    const data = randomBytes(5000);
    await writeCraftedZip(zip, [{ name: 'plain.bin', data }]);
    const dest = path.join(tmp, 'stored-dest');
    await extractZipSafely(zip, dest, roomy);
    assert.deepEqual(await readFile(path.join(dest, 'plain.bin')), data);

    // The same archive claiming method 12 (bzip2) in its local and central headers.
    const bytes = await readFile(zip);
    bytes.writeUInt16LE(12, 8);
    bytes.writeUInt16LE(12, bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 10);
    const bzip2 = path.join(tmp, 'bzip2.zip');
    await writeFile(bzip2, bytes);
    const refusedDest = path.join(tmp, 'bzip2-dest');
    await assert.rejects(extractZipSafely(bzip2, refusedDest, roomy), { message: 'entry plain.bin uses compression method 12; only stored (0) and deflate (8) are read' });
    await assert.rejects(stat(refusedDest));
  });

  it('refuses absolute paths, backslashes and symbolic links', async () => {
    const cases: [string, { name: string; data: Buffer; mode?: number }, RegExp][] = [
      ['abs', { name: '/tmp/petspool-abs-x', data: Buffer.from('x') }, /entry \/tmp\/petspool-abs-x has an absolute path/],
      ['backslash', { name: '..\\x', data: Buffer.from('x') }, /has a backslash/],
      ['link', { name: 'link', data: Buffer.from('/etc/passwd'), mode: 0o120777 }, /entry link is a symbolic link/],
    ];
    for (const [label, entry, expected] of cases) {
      const zip = path.join(tmp, `${label}.zip`);
      await writeCraftedZip(zip, [entry]);
      const dest = path.join(tmp, `${label}-dest`);
      await assert.rejects(extractZipSafely(zip, dest, roomy), expected);
      await assert.rejects(stat(dest));
    }
    await assert.rejects(stat('/tmp/petspool-abs-x'));
  });

  it('refuses names outside allowedNames, and more entries than allowed', async () => {
    await assert.rejects(extractZipSafely(packed, path.join(tmp, 'names'), { ...roomy, allowedNames: /^[\w-]+\.npy$/ }),
      /entry metadata\.json is not an expected file name/);
    await assert.rejects(extractZipSafely(packed, path.join(tmp, 'count'), { ...roomy, maxEntries: 1 }),
      /archive has 2 entries, more than the limit of 1/);
  });

  it('refuses the 3 GiB zip bomb from its declared size without inflating it', async () => {
    const zip = path.join(tmp, 'bomb.zip');
    await writeZipBomb(zip, 'task1.npy', ZIP_BOMB_BYTES, { otherEntries: [{ name: 'metadata.json', data: Buffer.from('{}') }] });
    assert.ok((await stat(zip)).size < 8 * MiB, 'the bomb file itself is small');
    const started = Date.now();
    await assert.rejects(checkZip(zip), /entry task1\.npy expands to 3 GiB, past the 2 GiB per-entry limit/);
    await assert.rejects(extractZipSafely(zip, path.join(tmp, 'bomb-dest'), roomy), /expands to 3 GiB/);
    assert.ok(Date.now() - started < 2000);
    await assert.rejects(stat(path.join(tmp, 'bomb-dest')));
  });

  it('readZipIntoMemory leaves the CRC-32 of an entry the caller checks itself to that check', async () => {
    const zip = path.join(tmp, 'memory-flipped.zip');
    const data = Buffer.from('the volume, stored as it is, so that one byte can be flipped in the archive');
    await writeCraftedZip(zip, [{ name: 'task1.npy', data }, { name: 'metadata.json', data: Buffer.from('{"a":1}') }]);
    const bytes = await readFile(zip);
    bytes[bytes.indexOf(data) + 4]! ^= 0x20;
    await writeFile(zip, bytes);
    await assert.rejects(readZipIntoMemory(zip, roomy), { message: 'entry task1.npy is corrupt (CRC-32 mismatch)' });
    const seen: Buffer[] = [];
    const entries = await readZipIntoMemory(zip, roomy, (name) => (name === 'task1.npy' ? (chunk) => seen.push(chunk) : undefined));
    // The caller's check sees the damaged bytes, and it is what refuses them (result-archive.ts: the sha256).
    assert.ok(Buffer.concat(seen).equals(Buffer.from(entries.get('task1.npy')!)));
    assert.ok(!Buffer.concat(seen).equals(data));
    // The entries it does not check itself still get the CRC-32.
    await assert.rejects(readZipIntoMemory(zip, roomy, (name) => (name === 'metadata.json' ? () => {} : undefined)), /CRC-32 mismatch/);
  });

  it('readZipIntoMemory gives every entry in shared memory, checked by the caller on the way, with the same refusals', async () => {
    const hash = createHash('sha256');
    const entries = await readZipIntoMemory(packed, roomy, (name) => (name === 'task1.npy' ? (chunk) => hash.update(chunk) : undefined));
    assert.deepEqual([...entries.keys()].sort(), ['metadata.json', 'task1.npy']);
    const source = await readFile(path.join(sources, 'task1.npy'));
    const npy = entries.get('task1.npy')!;
    assert.ok(npy.buffer instanceof SharedArrayBuffer, 'in shared memory, for the worker threads');
    assert.ok(Buffer.from(npy.buffer, npy.byteOffset, npy.byteLength).equals(source));
    assert.equal(hash.digest('hex'), createHash('sha256').update(source).digest('hex'));
    assert.equal(Buffer.from(entries.get('metadata.json')!).toString(), JSON.stringify({ task_id: 'task1' }));

    const corrupt = path.join(tmp, 'memory-corrupt.zip');
    await writeFile(corrupt, await readFile(packed));
    await corruptZipInPlace(corrupt);
    await assert.rejects(readZipIntoMemory(corrupt, roomy), /entry task1\.npy is corrupt/);
    const liar = path.join(tmp, 'memory-liar.zip');
    await writeZipBomb(liar, 'task1.npy', 16 * MiB, { declaredSize: 1000 });
    await assert.rejects(readZipIntoMemory(liar, roomy), /entry task1\.npy expands past the 1000 bytes its header declares/);
    // Declared sizes are allocated up front, so their sum is held to the total limit before any inflating.
    const pair = path.join(tmp, 'memory-pair.zip');
    await writeCraftedZip(pair, [{ name: 'a.bin', data: Buffer.alloc(40 * MiB) }, { name: 'b.bin', data: Buffer.alloc(40 * MiB) }]);
    await assert.rejects(readZipIntoMemory(pair, roomy), { message: 'archive expands past 64 MiB limit' });
  });

  it('stops a bomb that lies about its size on the real bytes, with little memory', async () => {
    const liar = path.join(tmp, 'liar.zip');
    await writeZipBomb(liar, 'task1.npy', 1024 * MiB, { declaredSize: 1000 });
    let peakRss = process.memoryUsage.rss();
    const baseline = peakRss;
    const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage.rss()); }, 2);
    try {
      await assert.rejects(extractZipSafely(liar, path.join(tmp, 'liar-dest'), roomy),
        /entry task1\.npy expands past the 1000 bytes its header declares/);
      // Two honest 40 MiB entries against an 64 MiB total: caught while streaming the second one.
      const pair = path.join(tmp, 'pair.zip');
      const forty = Buffer.alloc(40 * MiB);
      await writeCraftedZip(pair, [{ name: 'a.bin', data: forty }, { name: 'b.bin', data: forty }]);
      await assert.rejects(extractZipSafely(pair, path.join(tmp, 'pair-dest'), roomy), { message: 'archive expands past 64 MiB limit' });
      await assert.rejects(stat(path.join(tmp, 'pair-dest')));
    } finally {
      clearInterval(sampler);
    }
    assert.ok(peakRss - baseline < 200 * MiB, `memory grew by ${Math.round((peakRss - baseline) / MiB)} MiB`);
  });

  it('refuses truncated and corrupted archives, and extraction leaves nothing', async () => {
    const truncated = path.join(tmp, 'truncated.zip');
    await writeFile(truncated, await readFile(packed));
    await truncate(truncated, Math.floor((await stat(truncated)).size / 2));
    await assert.rejects(checkZip(truncated), /truncated\.zip is not a readable zip archive/);

    const corrupt = path.join(tmp, 'corrupt.zip');
    await writeFile(corrupt, await readFile(packed));
    await corruptZipInPlace(corrupt);
    await assert.rejects(checkZip(corrupt), /entry task1\.npy is corrupt/);
    const dest = path.join(tmp, 'existing');
    await mkdir(dest);
    await assert.rejects(extractZipSafely(corrupt, dest, roomy), /is corrupt/);
    assert.deepEqual(await listing(dest), [], 'no partial folder or file left in an existing destination');
  });
});
