/**
 * The downloader's verified result, held in memory for the unpacker: without it the unpacker
 * would read result.zip again (inflate and sha256 of the whole volume; about 0.2-0.4 s for
 * 400×256²). It holds the latest task's only: a volume is hundreds of megabytes, and one the
 * unpacker does not take soon is better read again than kept. Process-local: after a restart the
 * unpacker reads result.zip.
 */
import type { VerifiedResult } from '../remote/result-archive.js';

export class ResultHandoff {
  private held: { taskId: string; result: VerifiedResult } | undefined;

  /** Hold `result` for the task, letting go of any other task's. */
  put(taskId: string, result: VerifiedResult): void {
    this.held = { taskId, result };
  }

  /** The task's result, if held; it is no longer held after this. */
  take(taskId: string): VerifiedResult | undefined {
    if (this.held?.taskId !== taskId) return undefined;
    const { result } = this.held;
    this.held = undefined;
    return result;
  }
}
