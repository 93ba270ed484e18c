import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DeliveryProgress } from '../../../src/delivery/progress.js';
import { DELIVERY_FILE } from '../../../src/delivery/journal.js';
import { silentLogger } from '../../../src/log/logger.js';
import { Spool } from '../../../src/spool/spool.js';
import { newTaskId, newTaskRecord, readTaskRecord } from '../../../src/spool/task-record.js';
import type { OutputSeries } from '../../../src/spool/output-series.js';

function series(filter: string, uid: string, sops: string[]): OutputSeries {
  return {
    dir: `/nowhere/${filter}`,
    manifest: { filter, fwhm_mm: 4, blend: 0, series_instance_uid: uid, instances: sops.map((sop, i) => ({ file: `IM${i}.dcm`, sop_instance_uid: sop })) },
  };
}

test('two deliveries of one task at once (the unpacker\'s, one per series) keep each other\'s counts in task.json', async () => {
  const spool = new Spool(await mkdtemp(path.join(os.tmpdir(), 'petspool-progress-')));
  await spool.init();
  const record = newTaskRecord({ id: newTaskId(), sender: 'ae:SCANNER', series_instance_uid: '1.2.3', study_instance_uid: '1.2' });
  const dir = await spool.createTask('unpacking_sending', record);
  const job = { id: record.id, dir, record, log: silentLogger };
  const empty = { state: {}, torn: false };
  const fwhm4 = series('fwhm4', '1.9.4', ['1.9.4.1', '1.9.4.2']);
  const fwhm6 = series('fwhm6', '1.9.6', ['1.9.6.1', '1.9.6.2']);
  const first = new DeliveryProgress(job, spool, 'unpacking_sending', empty, [fwhm4], undefined);
  const second = new DeliveryProgress(job, spool, 'unpacking_sending', empty, [fwhm6], undefined);

  first.accept('pacs', '1.9.4', '1.9.4.1');
  second.accept('pacs', '1.9.6', '1.9.6.1');
  first.accept('pacs', '1.9.4', '1.9.4.2');
  await Promise.all([first.saveSummary(), second.saveSummary()]);
  await Promise.all([first.close(), second.close()]);

  assert.deepEqual((await readTaskRecord(dir)).facts.delivery, { pacs: { fwhm4: '2/2', fwhm6: '1/2' } });
  assert.deepEqual((await readFile(path.join(dir, DELIVERY_FILE), 'utf8')).split('\n'),
    ['pacs\t1.9.4\t1.9.4.1', 'pacs\t1.9.6\t1.9.6.1', 'pacs\t1.9.4\t1.9.4.2', ''], 'both journal into the one file, line by line');
});
