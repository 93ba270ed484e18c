import { loadConfig, type LoadedConfig } from '../config/load.js';
import { cliOperator, type OperatorContext } from './operator-credentials.js';

/** Options every command takes. */
export interface GlobalArgs {
  config?: string;
  /** The operator (api.operators) a changing command acts as. */
  operator?: string;
}

export function configFrom(args: GlobalArgs): LoadedConfig {
  return loadConfig(args.config);
}

/** The config and the operator of a command that changes something. */
export function operatorContext(args: GlobalArgs): OperatorContext {
  const config = configFrom(args);
  return { config, operator: cliOperator(config, args.operator ?? process.env.PETSPOOL_OPERATOR) };
}

/** Print a value as JSON on stdout (for `--json`). */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
