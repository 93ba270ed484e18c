/** Words and numbers as an operator reads them. */
export const STAGE_LABELS = {
  collecting: 'Collecting', compiled: 'Compiled', validated: 'Validated', packed: 'Packed', processing: 'Processing',
  downloaded: 'Downloaded', unpacking_sending: 'Unpacking, sending', unpacked: 'Unpacked', awaiting_qc: 'Awaiting QC',
  sending: 'Sending', sent: 'Done',
  done: 'Done', failed: 'Failed', aborted: 'Aborted',
};

export function stateLabel(state) {
  return STAGE_LABELS[state] ?? state;
}

export function age(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

export function since(iso, now = Date.now()) {
  return age(Math.max(0, (now - Date.parse(iso)) / 1000));
}

/** Local date and time, to the second: what the wall clock in the department says. */
export function when(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return today ? time : `${d.toLocaleDateString()} ${time}`;
}
