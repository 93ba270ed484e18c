import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { synthesizePetSeries } from '../../src/series/synth.js';
import { prepareDerivedSeries, SourceHeaders, writeDerivedSeries, writePreparedSeries } from '../../src/series/derived-series.js';
import { TransferSyntax, decodePart10, encodePart10, getNumber, getNumbers, getString, readPart10File, tagOf, writePart10File } from '../../src/dicom/write-part10.js';
import type { DicomDataset } from '../../src/dicom/dataset.js';
import type { Volume } from '../../src/imaging/volume.js';
import { mountTmpfs } from '../fixtures/tmpfs.js';

const run = promisify(execFile);

/** Rescaled pixel values of one slice (readPart10File hands pixels back little-endian). */
function slicePixels(dataset: DicomDataset): Float32Array {
  const stored = new Int16Array(dataset[tagOf('PixelData')]!.Value![0] as ArrayBuffer);
  const slope = getNumber(dataset, 'RescaleSlope') ?? 1;
  const intercept = getNumber(dataset, 'RescaleIntercept') ?? 0;
  return Float32Array.from(stored, (v) => v * slope + intercept);
}

/** The test's own volume assembly: files are already in slice order. */
async function volumeFromFiles(files: string[]): Promise<{ volume: Volume; datasets: DicomDataset[] }> {
  const datasets = await Promise.all(files.map(async (file) => (await readPart10File(file)).dataset));
  const first = datasets[0]!;
  const rows = getNumber(first, 'Rows')!;
  const columns = getNumber(first, 'Columns')!;
  const data = new Float32Array(files.length * rows * columns);
  datasets.forEach((dataset, slice) => data.set(slicePixels(dataset), slice * rows * columns));
  const [rowSpacing, columnSpacing] = getNumbers(first, 'PixelSpacing')!;
  const volume: Volume = {
    data,
    shape: [files.length, rows, columns],
    spacing: [getNumber(first, 'SliceThickness')!, rowSpacing!, columnSpacing!],
    orientation: getNumbers(first, 'ImageOrientationPatient') as Volume['orientation'],
    positions: datasets.map((dataset) => getNumbers(dataset, 'ImagePositionPatient') as [number, number, number]),
  };
  return { volume, datasets };
}

/** dciodvfy's error lines, or null when dciodvfy is not installed. */
async function dciodvfyErrors(file: string): Promise<string[] | null> {
  try {
    const { stdout, stderr } = await run('dciodvfy', [file]).catch((error: { stdout?: string; stderr?: string; code?: unknown }) => {
      if (error.code === 'ENOENT') throw error;
      return { stdout: error.stdout ?? '', stderr: error.stderr ?? '' };
    });
    return `${stdout}\n${stderr}`.split('\n').filter((line) => line.startsWith('Error'));
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return null;
    throw error;
  }
}

test('a derived series keeps patient, study and SUV attributes, gets new UIDs and reproduces the volume', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'petspool-derived-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const sourceFiles = await synthesizePetSeries(join(dir, 'in'), {
    slices: 12,
    size: 48,
    seed: 3,
    seriesNumber: 7,
    orientation: [0.9659258262890683, 0.25881904510252074, 0, 0, 0, -1],
  });
  const { volume, datasets: sources } = await volumeFromFiles(sourceFiles);

  // A processed volume: the original scaled, with a negative band to exercise signed storage.
  const processed = Float32Array.from(volume.data, (v, i) => (i % 48 < 4 ? -0.25 * v : 1.37 * v));
  const { seriesInstanceUid, files } = await writeDerivedSeries({
    geometry: volume,
    voxels: processed,
    sourceFiles,
    outDir: join(dir, 'out'),
    seriesNumberOffset: 1000,
    filterName: 'fwhm4',
    derivationDescription: 'Processed remotely; Gaussian post-filter FWHM 4 mm',
  });

  assert.equal(files.length, sourceFiles.length);
  const { volume: written, datasets: outputs } = await volumeFromFiles(files);
  const pixelsPerSlice = 48 * 48;
  for (let slice = 0; slice < files.length; slice++) {
    const expected = processed.subarray(slice * pixelsPerSlice, (slice + 1) * pixelsPerSlice);
    const actual = written.data.subarray(slice * pixelsPerSlice, (slice + 1) * pixelsPerSlice);
    const sliceMax = Math.max(...expected.map(Math.abs));
    for (let i = 0; i < pixelsPerSlice; i++) {
      assert.ok(Math.abs(actual[i]! - expected[i]!) <= 0.005 * sliceMax, `slice ${slice} voxel ${i}: ${actual[i]} vs ${expected[i]}`);
    }
  }

  const sourceUids = new Set(sources.map((ds) => getString(ds, 'SOPInstanceUID')));
  outputs.forEach((output, slice) => {
    const source = sources[slice]!;
    assert.equal(getString(output, 'SeriesInstanceUID'), seriesInstanceUid);
    assert.notEqual(seriesInstanceUid, getString(source, 'SeriesInstanceUID'));
    assert.ok(!sourceUids.has(getString(output, 'SOPInstanceUID')));
    for (const keyword of ['StudyInstanceUID', 'PatientName', 'PatientID', 'FrameOfReferenceUID', 'Units', 'DecayCorrection', 'SeriesDate', 'SeriesTime', 'PatientWeight', 'PatientSize']) {
      assert.equal(getString(output, keyword), getString(source, keyword), keyword);
    }
    const dose = (ds: DicomDataset) => getNumber(ds[tagOf('RadiopharmaceuticalInformationSequence')]!.Value![0] as DicomDataset, 'RadionuclideTotalDose');
    assert.equal(dose(output), dose(source));
    assert.equal(getNumber(output, 'SeriesNumber'), 1007);
    assert.equal(getString(output, 'SeriesDescription'), 'PET FDG WB (synthetic) fwhm4');
    // PET Image Storage allows only PRIMARY as value 2 (see derivedImageType).
    assert.deepEqual(output[tagOf('ImageType')]!.Value, ['DERIVED', 'PRIMARY']);
    assert.deepEqual(getNumbers(output, 'ImagePositionPatient'), volume.positions[slice]);
    const sourceReference = output[tagOf('SourceImageSequence')]!.Value![0] as DicomDataset;
    assert.equal(getString(sourceReference, 'ReferencedSOPInstanceUID'), getString(source, 'SOPInstanceUID'));
    const referencedSeries = output[tagOf('ReferencedSeriesSequence')]!.Value![0] as DicomDataset;
    assert.equal(getString(referencedSeries, 'SeriesInstanceUID'), getString(source, 'SeriesInstanceUID'));
  });
});

test('two series derived from the same source headers do not leak into each other', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'petspool-derived-shared-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const sourceFiles = await synthesizePetSeries(join(dir, 'in'), { slices: 6, size: 16, seed: 5, seriesNumber: 3 });
  const { volume } = await volumeFromFiles(sourceFiles);
  const sourceHeaders = new SourceHeaders();
  const derive = (filterName: string, offset: number, scale: number) => writeDerivedSeries({
    geometry: volume, voxels: Float32Array.from(volume.data, (v) => v * scale), sourceFiles, sourceHeaders,
    outDir: join(dir, filterName), seriesNumberOffset: offset, filterName, derivationDescription: `filter ${filterName}`,
  });
  const first = await derive('a', 1000, 1);
  const second = await derive('b', 1001, 2);
  const read = async (files: string[]) => Promise.all(files.map(async (f) => (await readPart10File(f)).dataset));
  const [outA, outB] = [await read(first.files), await read(second.files)];
  for (let slice = 0; slice < sourceFiles.length; slice++) {
    assert.equal(getNumber(outA[slice]!, 'SeriesNumber'), 1003);
    assert.equal(getNumber(outB[slice]!, 'SeriesNumber'), 1004, 'the offset applies to the original number, not to the first series');
    assert.equal(getString(outB[slice]!, 'SeriesDescription'), 'PET FDG WB (synthetic) b');
    assert.equal(getString(outB[slice]!, 'DerivationDescription'), 'filter b');
    assert.notEqual(getString(outA[slice]!, 'SOPInstanceUID'), getString(outB[slice]!, 'SOPInstanceUID'));
    assert.ok(Math.abs(getNumber(outB[slice]!, 'RescaleSlope')! / getNumber(outA[slice]!, 'RescaleSlope')! - 2) < 1e-6, 'each series has its own slopes');
  }
  // The sources' own headers were not touched.
  const third = await derive('c', 1000, 1);
  assert.equal(getNumber((await readPart10File(third.files[0]!)).dataset, 'SeriesNumber'), 1003);
});

test('from a big-endian source with private tags: DS values of at most 16 characters, no new dciodvfy error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'petspool-derived-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const sourceFiles = await synthesizePetSeries(join(dir, 'in'), {
    slices: 4, size: 32, tracer: 'PSMA-11', transferSyntaxUid: TransferSyntax.ExplicitVRBigEndian,
  });
  // A vendor's private block in one source file must not reach the output.
  const pixelsBefore = slicePixels((await readPart10File(sourceFiles[1]!)).dataset);
  const withPrivate = await readPart10File(sourceFiles[1]!);
  withPrivate.dataset['00090010'] = { vr: 'LO', Value: ['ACME PRIVATE'] };
  withPrivate.dataset['00091001'] = { vr: 'LO', Value: ['secret'] };
  await writePart10File(sourceFiles[1]!, withPrivate.dataset, { transferSyntaxUid: TransferSyntax.ExplicitVRBigEndian });
  const { volume } = await volumeFromFiles(sourceFiles);
  assert.deepEqual(volume.data.subarray(32 * 32, 2 * 32 * 32), pixelsBefore, 'big-endian pixels survive a read-write round trip');
  const { files } = await writeDerivedSeries({
    geometry: volume,
    voxels: volume.data.map((v) => v / 3),
    sourceFiles,
    outDir: join(dir, 'out'),
    seriesNumberOffset: 1000,
    filterName: 'a-filter-name-long-enough-to-push-the-description-over-64-characters',
    derivationDescription: 'test',
  });

  const { meta, dataset } = await readPart10File(files[1]!);
  assert.equal(getString(meta, 'TransferSyntaxUID'), TransferSyntax.ExplicitVRLittleEndian);
  assert.ok(getString(dataset, 'SeriesDescription')!.length <= 64);
  assert.deepEqual(Object.keys(dataset).filter((tag) => parseInt(tag.slice(0, 4), 16) % 2 === 1), []);
  const { stdout } = await run('dcmdump', ['+L', files[1]!]).catch(() => ({ stdout: '' }));
  if (stdout) {
    const dsValues = stdout.split('\n').filter((line) => / DS \[/.test(line)).flatMap((line) => line.replace(/^.* DS \[([^\]]*)\].*$/, '$1').split('\\'));
    assert.ok(dsValues.length > 10);
    for (const value of dsValues) assert.ok(value.length <= 16, `DS value ${value}`);
  }

  const inputErrors = await dciodvfyErrors(sourceFiles[1]!);
  if (inputErrors === null) {
    t.skip('dciodvfy (Debian package dicom3tools) is not installed');
    return;
  }
  const outputErrors = await dciodvfyErrors(files[1]!);
  assert.deepEqual(outputErrors!.filter((line) => !inputErrors.includes(line)), []);
});

test('a series prepared before its voxels exist is written byte for byte as dcmjs encodes the same data set', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'petspool-derived-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const sourceFiles = await synthesizePetSeries(join(dir, 'in'), { slices: 6, size: 16, seed: 3 });
  const { volume } = await volumeFromFiles(sourceFiles);
  const prepared = await prepareDerivedSeries({
    geometry: volume, sourceFiles, outDir: join(dir, 'out'), seriesNumberOffset: 1000, filterName: 'fwhm4', derivationDescription: 'test',
  });
  // The voxels come afterwards, with slopes that differ from slice to slice (and from the stand-in 1).
  const voxels = Float32Array.from(volume.data, (v, i) => v * (1 + Math.floor(i / 256) * 0.37) + 0.125);
  const series = await writePreparedSeries(prepared, voxels);
  const slopes = new Set<number>();
  for (const file of series.files) {
    const bytes = await readFile(file);
    const { dataset } = decodePart10(bytes);
    slopes.add(getNumber(dataset, 'RescaleSlope')!);
    assert.ok(encodePart10(dataset, TransferSyntax.ExplicitVRLittleEndian).equals(bytes), `${file} differs from dcmjs' encoding of what it holds`);
  }
  assert.equal(slopes.size, 6, 'each slice has its own slope');
});

test('a derived series that does not fit on the disk fails with the reason (the writer threads report it)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'petspool-derived-'));
  const small = join(dir, 'small-disk');
  await mkdir(small);
  // 40 files of about 10 KB each: 128 KiB holds a few of them.
  const mounted = await mountTmpfs(small, 128 * 1024);
  t.after(async () => {
    if (!('unavailable' in mounted)) await mounted.unmount();
    await rm(dir, { recursive: true, force: true });
  });
  if ('unavailable' in mounted) return t.skip(mounted.unavailable);
  const sourceFiles = await synthesizePetSeries(join(dir, 'in'), { slices: 40, size: 64, seed: 4 });
  const { volume } = await volumeFromFiles(sourceFiles);
  await assert.rejects(
    writeDerivedSeries({
      geometry: volume, voxels: volume.data, sourceFiles, outDir: join(small, 'out'),
      seriesNumberOffset: 1000, filterName: 'fwhm4', derivationDescription: 'test',
    }),
    /ENOSPC|no space left on device/,
  );
});
