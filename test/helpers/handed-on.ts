import type { StoredInstance } from '../../src/dicom/scp.js';

/**
 * The Store SCP hands an instance on (onStored) a moment after its Success, once the intake
 * journal's checkpoint has put its file in place and the header thread has read it: wait (10 s
 * at most) until `count` instances were handed on, then let the caller's assertions count them.
 */
export async function handedOn(stored: StoredInstance[], count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (stored.length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}
