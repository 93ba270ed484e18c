/**
 * A full garbage collection now, when the process runs with --expose-gc (bin/petspool starts it
 * so; otherwise nothing happens). For the few places that leave volume-sized buffers behind in a
 * heap that would otherwise not collect for a long while: an idle imaging thread (it keeps the
 * shared memory of its last jobs until it collects, and an idle thread never does), and the
 * embedded reference service after a task. Without it the appliance's peak memory depends on when
 * V8 happens to collect.
 */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
