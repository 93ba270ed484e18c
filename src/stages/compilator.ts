import type { Stage, StageOutcome } from '../runner/stage.js';
import type { ApplianceParts } from '../runner/appliance-parts.js';
import { checkCompleteness } from '../rules/completeness.js';
import type { CollectingIndex } from './collecting-index.js';
import { writeTaskHeaders } from './task-headers.js';
import type { PackAhead } from './pack-ahead.js';

/** How often a task that is not complete yet is looked at again (a new instance may have come). */
const RECHECK_MS = 1000;

/**
 * A complete-looking series quiet for this part of `quiet_seconds` is packed ahead (pack-ahead.ts):
 * senders send a series in one go, so a pause that long almost always means it is whole, and the
 * rest of the wait hides the packer's work.
 */
const PACK_AHEAD_AFTER_QUIET = 0.5;

/**
 * collecting/ → compiled/: a task is complete after `quiet_seconds` without new instances when
 * the completeness rules say so. The decision and closing the task to new instances happen in one
 * synchronous step, so no instance slips into a task that is being moved on. A task that cannot
 * complete (mixed geometry, duplicates) fails; one that stays incomplete past
 * `abort_incomplete_after_seconds` of idleness is aborted with what was missing. Half-way through
 * the quiet time a complete-looking series is handed to `packAhead`.
 */
/**
 * `handOnsPending`: the Store SCP has instances it has not handed on yet (waiting their turn,
 * being stored, or waiting for the intake journal's checkpoint and their header): one of them
 * may belong to a task that looks quiet.
 */
export function compilatorStage(parts: Pick<ApplianceParts, 'config'>, index: CollectingIndex, packAhead?: PackAhead, handOnsPending?: () => boolean): Stage {
  const rules = parts.config.compilator;
  return {
    name: 'compilator', from: 'collecting', to: 'compiled', concurrency: 16,
    process: async (job): Promise<StageOutcome> => {
      const task = index.get(job.id) ?? await index.adopt(job.record, job.dir, job.log);
      if (task.pending > 0) return { kind: 'wait', afterMs: 100 };
      const idleMs = Date.now() - task.lastArrival;
      const quietMs = rules.quiet_seconds * 1000;
      const completeness = () => checkCompleteness(task.headers, { minImages: rules.min_images, maxGapRatio: rules.max_gap_ratio });
      if (idleMs < quietMs) {
        const packAheadMs = quietMs * PACK_AHEAD_AFTER_QUIET;
        const packing = packAhead && idleMs >= packAheadMs && !packAhead.has(task);
        if (packing && completeness().ready) packAhead.start(task);
        // Instances the Store SCP has yet to hand on may complete the series: look again soon, so
        // the pack ahead starts as soon as they are placed, not only at the end of the quiet time.
        else if (packing && handOnsPending?.()) return { kind: 'wait', afterMs: 100 };
        const nextLookMs = idleMs < packAheadMs ? packAheadMs : quietMs;
        return { kind: 'wait', afterMs: Math.min(RECHECK_MS, nextLookMs - idleMs) + 10 };
      }
      // Quiet here may only mean that the Store SCP fell behind (a loaded machine, a slow disk): look again.
      if (handOnsPending?.()) return { kind: 'wait', afterMs: 100 };
      const result = completeness();
      if (result.ready) {
        index.forget(task.id);
        await packAhead?.filesRead(task.id);
        // The later stages take the headers from here instead of parsing every file again.
        await writeTaskHeaders(job.dir, task.headers.map((header) => ({ file: task.files.get(header.sopInstanceUid)!, header })));
        return {
          kind: 'done', detail: `${task.headers.length} slices, complete`,
          patch: { images: task.headers.length, series_description: task.headers[0]?.seriesDescription },
          facts: { slice_spacing_mm: Number(result.spacing.toFixed(4)) },
        };
      }
      if (!result.canStillComplete) {
        index.forget(task.id);
        return { kind: 'fail', reason: `${result.reason} (${task.headers.length} images)`, patch: { images: task.headers.length } };
      }
      const abortMs = rules.abort_incomplete_after_seconds * 1000;
      if (idleMs >= abortMs) {
        index.forget(task.id);
        return {
          kind: 'abort', reason: `incomplete after ${Math.round(idleMs / 1000)} s without new images: ${result.reason}`,
          patch: { images: task.headers.length },
        };
      }
      return { kind: 'wait', afterMs: Math.min(RECHECK_MS, abortMs - idleMs) + 10 };
    },
  };
}
