import { readdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { synthesizePetSeries, type SynthOptions } from '../../src/series/synth.js';
import { getValue, readPart10File, removeElements, setElement, tagOf, writePart10File } from '../../src/dicom/write-part10.js';
import type { DicomDataset } from '../../src/dicom/dataset.js';
import { INSTANCES_DIR } from '../../src/spool/layout.js';
import type { Spool } from '../../src/spool/spool.js';
import { newTaskId, newTaskRecord } from '../../src/spool/task-record.js';
import { BITS_NEEDED, compressPetFile, requantisePetFile, type CompressionKind } from '../fixtures/compressed-pet.js';

export interface CompiledTaskOptions extends SynthOptions {
  /** Write this Radiopharmaceutical (0018,0031) and drop the code sequence: a tracer the seed table does not know. */
  tracerName?: string;
  /** Compress every slice so (test/fixtures/compressed-pet.ts). */
  compression?: CompressionKind;
}

/** A small synthetic PET series placed as a task in compiled/, as the compilator would leave it. */
export async function placeCompiledTask(spool: Spool, opts: CompiledTaskOptions = {}): Promise<string> {
  const id = newTaskId();
  let seriesUid = '';
  let studyUid = '';
  await spool.createTask('compiled', newTaskRecord({ id, sender: 'ae:TEST', series_instance_uid: '', study_instance_uid: '' }),
    async (dir) => {
      const instances = path.join(dir, INSTANCES_DIR);
      const files = await synthesizePetSeries(instances, { slices: 6, size: 16, ...opts });
      if (opts.tracerName) for (const f of files) await renameTracer(f, opts.tracerName);
      if (opts.compression) for (const f of files) await compressInPlace(f, opts.compression);
      const first = (await readPart10File(files[0]!, { headerOnly: true })).dataset;
      seriesUid = String(getValue(first, 'SeriesInstanceUID'));
      studyUid = String(getValue(first, 'StudyInstanceUID'));
    });
  const images = (await readdir(path.join(spool.layout.taskDir('compiled', id), INSTANCES_DIR))).length;
  await spool.updateTask(id, 'compiled', (r) => ({ ...r, series_instance_uid: seriesUid, study_instance_uid: studyUid, images }));
  return id;
}

async function compressInPlace(file: string, kind: CompressionKind): Promise<void> {
  const bits = BITS_NEEDED[kind];
  if (bits) await requantisePetFile(file, bits);
  await compressPetFile(file, `${file}.compressed`, kind);
  await rename(`${file}.compressed`, file);
}

async function renameTracer(file: string, name: string): Promise<void> {
  const { meta, dataset } = await readPart10File(file);
  const items = (dataset[tagOf('RadiopharmaceuticalInformationSequence')]?.Value ?? []) as DicomDataset[];
  for (const item of items) {
    setElement(item, 'Radiopharmaceutical', name);
    removeElements(item, ['RadiopharmaceuticalCodeSequence']);
  }
  await writePart10File(file, dataset, { transferSyntaxUid: String(getValue(meta, 'TransferSyntaxUID')) });
}
