/** Package entry: `import { PetspoolClient } from 'petspool'`. */
export {
  PetspoolClient, PetspoolApiError, PetspoolTimeoutError, NoDicomFilesError, TASK_STAGES, progressOf,
} from './client/petspool-client.js';
export type {
  PetspoolClientOptions, TaskState, UploadResult, ImportResult, TaskSummary, TaskProgress, ResultsOutcome, ResultSeries,
  DownloadedSeries,
} from './client/petspool-client.js';
