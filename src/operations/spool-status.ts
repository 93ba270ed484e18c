import { Spool } from '../spool/spool.js';
import { TASK_FOLDERS, FINISHED_FOLDERS, type TaskFolder } from '../spool/layout.js';
import type { LoadedConfig } from '../config/load.js';

export interface FolderStatus {
  folder: TaskFolder;
  count: number;
  oldest_age_seconds: number | null;
}

export interface SpoolStatus {
  spool_dir: string;
  folders: FolderStatus[];
  /** Stages whose oldest job waits longer than alerts.stage_age_seconds. */
  alerts: string[];
}

/** Per-folder counts and oldest ages, read from the folders themselves (works with or without a running appliance). */
export async function spoolStatus(config: LoadedConfig, now = Date.now()): Promise<SpoolStatus> {
  const spool = new Spool(config.spool_dir);
  const folders: FolderStatus[] = [];
  const alerts: string[] = [];
  for (const folder of TASK_FOLDERS) {
    const count = (await spool.taskIds(folder)).length;
    const age = await spool.oldestAgeMs(folder, now);
    const seconds = age === null ? null : Math.round(age / 1000);
    folders.push({ folder, count, oldest_age_seconds: seconds });
    const waits = !FINISHED_FOLDERS.includes(folder) && folder !== 'awaiting_qc';
    if (waits && seconds !== null && seconds > config.alerts.stage_age_seconds) {
      alerts.push(`${folder}/ has a task waiting ${formatAge(seconds)} (alert after ${formatAge(config.alerts.stage_age_seconds)})`);
    }
  }
  return { spool_dir: spool.root, folders, alerts };
}

export function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}
