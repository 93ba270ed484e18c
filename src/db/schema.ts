import type { FilterConfig, DestinationConfig } from '../config/schema.js';
import type { TaskHistoryEntry } from '../spool/task-record.js';
import type { TaskState } from '../spool/layout.js';
import type { RadiopharmaceuticalEntry } from '../rules/radiopharmaceuticals.js';

/**
 * The database (one JSON file, lowdb). It indexes what the folders hold and keeps what operators
 * edit. Per-instance detail stays out of it (the task folders list the instances): a busy intake
 * only bumps counters, so a flush stays small however long the history.
 */
export interface PatientRow {
  patient_id: string;
  name: string;
  birth_date?: string;
  sex?: string;
  first_seen: string;
  last_seen: string;
}

export interface StudyRow {
  study_instance_uid: string;
  patient_id: string;
  study_date?: string;
  description?: string;
  accession_number?: string;
  first_seen: string;
}

export interface SeriesRow {
  series_instance_uid: string;
  study_instance_uid: string;
  modality?: string;
  series_number?: number;
  description?: string;
  /** Instances received (every arrival, including re-sends). */
  instances_received: number;
  /** Non-PET series are kept out of the flow and counted here. */
  ignored: boolean;
  first_seen: string;
  last_seen: string;
}

export interface TaskRow {
  id: string;
  state: TaskState;
  sender: string;
  series_instance_uid: string;
  study_instance_uid: string;
  images: number;
  reason: string | null;
  outputs: string[];
  created_at: string;
  updated_at: string;
  history: TaskHistoryEntry[];
}

/** A tracer added by an operator: the same shape as the seed tracers that live in code. */
export type AddedRadiopharmaceutical = RadiopharmaceuticalEntry;

export interface DbData {
  version: 1;
  patients: Record<string, PatientRow>;
  studies: Record<string, StudyRow>;
  series: Record<string, SeriesRow>;
  tasks: Record<string, TaskRow>;
  /** Operator edits, layered over config.yaml (see README: operator edits win). */
  filters: { added: FilterConfig[]; removed: string[] };
  destinations: { added: DestinationConfig[]; removed: string[] };
  qc_required: boolean | null;
  radiopharmaceuticals: AddedRadiopharmaceutical[];
  counters: Record<string, number>;
}

export function emptyDb(): DbData {
  return {
    version: 1, patients: {}, studies: {}, series: {}, tasks: {},
    filters: { added: [], removed: [] }, destinations: { added: [], removed: [] }, qc_required: null,
    radiopharmaceuticals: [], counters: {},
  };
}
