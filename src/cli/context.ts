import { loadConfig, type LoadedConfig } from '../config/load.js';

/** Options every command takes. */
export interface GlobalArgs {
  config?: string;
}

export function configFrom(args: GlobalArgs): LoadedConfig {
  return loadConfig(args.config);
}

/** Print a value as JSON on stdout (for `--json`). */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
