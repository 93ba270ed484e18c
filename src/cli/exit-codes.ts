/** Exit codes of every petspool command (README "Commands"). */
export const EXIT = {
  OK: 0,
  /** The command ran and something failed (a task failed, an instance was refused, a check failed). */
  FAILED: 1,
  /** Bad configuration or usage: nothing was done. */
  CONFIG: 2,
  /** The spool is held by another process, or the appliance could not be reached. */
  UNAVAILABLE: 3,
  /** Timed out waiting (submit --wait --timeout). */
  TIMEOUT: 4,
} as const;

/** An error a command reports as one clear line and an exit code, without a stack trace. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.FAILED) {
    super(message);
    this.name = 'CliError';
  }
}
