import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Spool } from '../spool/spool.js';
import { REASON_FILE } from '../spool/layout.js';
import { newTaskId, newTaskRecord, type TaskRecord } from '../spool/task-record.js';
import type { InstanceHeader } from '../dicom/instance-header.js';

/**
 * Put a file that cannot enter the flow into failed/ as a task of its own, with the file and a
 * reason.json, so an operator sees it in `tasks list` and `ls spool/failed`. The task folder is
 * made first and the file renamed into it after, so a crash in between never loses the file (it
 * stays where it was and is quarantined again).
 */
export async function quarantineFile(spool: Spool, file: string, opts: { sender: string; reason: string;
  header?: Partial<InstanceHeader> }): Promise<TaskRecord> {
  const id = newTaskId();
  const at = new Date().toISOString();
  const record: TaskRecord = {
    ...newTaskRecord({
      id, sender: opts.sender, series_instance_uid: opts.header?.seriesInstanceUid ?? '',
      study_instance_uid: opts.header?.studyInstanceUid ?? '',
    }),
    modality: opts.header?.modality, images: 1, failed_stage: 'receiver', reason: opts.reason,
    facts: { original_name: path.basename(file) },
  };
  const dir = await spool.createTask('failed', record, async (tmp) => {
    await writeFile(path.join(tmp, REASON_FILE), JSON.stringify({
      stage: 'receiver', from: null, reason: opts.reason, at, attempts: 0, file: path.basename(file),
    }, null, 2) + '\n');
  }, `receiver: ${opts.reason}`);
  await rename(file, path.join(dir, path.basename(file)));
  return { ...record, state: 'failed' };
}
