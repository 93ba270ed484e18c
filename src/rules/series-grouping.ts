/**
 * Which open task an arriving instance belongs to. Instances are grouped by SeriesInstanceUID and
 * sender (the calling AE title for the Store SCP, the hot folder for dropped files), so interleaved
 * series, or one series from two senders, make separate tasks. An instance already in the open task
 * means the series is being sent again: that starts a second task instead of doubling slices.
 */

/**
 * Key of the open task for a series from a sender. UIDs contain only digits and dots, so the first
 * "@" always ends the UID whatever characters the sender name has.
 */
export function taskKey(seriesInstanceUid: string, sender: string): string {
  return `${seriesInstanceUid}@${sender}`;
}

export type Assignment = 'append' | 'new-task';

/** `openTask` is the collecting task under the instance's taskKey, if there is one. */
export function assignInstance(openTask: { sopInstanceUids: ReadonlySet<string> } | undefined, sopInstanceUid: string): Assignment {
  if (!openTask || openTask.sopInstanceUids.has(sopInstanceUid)) return 'new-task';
  return 'append';
}
