/**
 * Names of received instances: `<ms since epoch, 14 digits>-<sequence, 6 digits>_<name>`. `ls`
 * order is arrival order, two arrivals of one SOP Instance UID never share a name, and the
 * compilator's quiet time counts from the arrival the name records (arrivedAt), not from the
 * moment the receiver got to the file.
 */
export const ARRIVAL_NAME = /^(\d{14})-\d{6}_.+\.dcm$/;

let sequence = 0;
let lastStampMs = 0;

/** The next stamp: never repeats within a process, never goes back when the clock does. */
export function arrivalStamp(): string {
  lastStampMs = Math.max(lastStampMs, Date.now());
  sequence = (sequence + 1) % 1_000_000;
  return `${String(lastStampMs).padStart(14, '0')}-${String(sequence).padStart(6, '0')}`;
}

/** When an instance named by arrivalStamp arrived (ms since epoch); undefined for other names. */
export function arrivedAt(fileName: string): number | undefined {
  const stamp = ARRIVAL_NAME.exec(fileName)?.[1];
  return stamp === undefined ? undefined : Number(stamp);
}

/** AE titles and UIDs become path components: keep them to a safe alphabet. */
export function safeName(text: string): string {
  // A leading dot would hide the folder (or hit `.tmp`).
  const cleaned = text.trim().replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\./, '_');
  return cleaned === '' ? '_' : cleaned;
}
