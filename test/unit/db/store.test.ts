import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../../../src/db/store.js';
import { newTaskRecord } from '../../../src/spool/task-record.js';
import type { InstanceHeader } from '../../../src/dicom/instance-header.js';

const header = (sop: string): InstanceHeader => ({
  transferSyntaxUid: '1.2.840.10008.1.2.1', sopClassUid: '1.2.840.10008.5.1.4.1.1.128', sopInstanceUid: sop,
  studyInstanceUid: '1.2.3', seriesInstanceUid: '1.2.3.4', modality: 'PT', patientId: 'P1', patientName: 'Doe^Jane',
});

test('instances are batched: many arrivals, one write, counters and rows right', async () => {
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'petspool-db-')), 'db.json');
  const store = await Store.open(file, 50);
  for (let i = 0; i < 500; i++) store.recordInstance(header(`1.2.3.4.${i}`), false);
  store.recordInstance({ ...header('9'), seriesInstanceUid: '5.6', modality: 'CT' }, true);
  await assert.rejects(readFile(file), 'nothing written before the flush interval');
  await new Promise((r) => setTimeout(r, 120));
  const onDisk = JSON.parse(await readFile(file, 'utf8'));
  assert.equal(onDisk.series['1.2.3.4'].instances_received, 500);
  assert.equal(onDisk.series['5.6'].ignored, true);
  assert.equal(onDisk.counters.instances_received, 500);
  assert.equal(onDisk.counters.instances_ignored, 1);
  assert.equal(onDisk.patients.P1.name, 'Doe^Jane');
  assert.equal(Object.keys(onDisk.studies).length, 1);
  await store.close();
});

test('reconcile: the folders win over the database', async () => {
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'petspool-db-')), 'db.json');
  const store = await Store.open(file);
  const a = newTaskRecord({ id: '20260101-000000-aaaaaa', sender: 'x', series_instance_uid: '1', study_instance_uid: '2' });
  const b = newTaskRecord({ id: '20260101-000000-bbbbbb', sender: 'x', series_instance_uid: '1', study_instance_uid: '2' });
  store.recordTask({ ...a, state: 'packed' });
  store.recordTask(b);
  const result = store.reconcileTasks([{ ...a, state: 'processing', updated_at: 'later' }]);
  assert.deepEqual(result, { added: 0, updated: 1, dropped: 1 });
  await store.close();
  const reopened = await Store.open(file);
  assert.deepEqual(Object.keys(reopened.data.tasks), [a.id]);
  assert.equal(reopened.data.tasks[a.id].state, 'processing');
});

test('a corrupt database file is refused with what to do', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-db-'));
  const file = path.join(dir, 'db.json');
  await (await import('node:fs/promises')).writeFile(file, '{ not json');
  await assert.rejects(Store.open(file), /move it aside and restart/);
});
