/**
 * Who the CLI acts as. On the appliance machine the CLI is an operator named in api.operators:
 * --operator NAME (or $PETSPOOL_OPERATOR), or the only operator when there is one. Through the
 * running appliance's API it sends that operator's token; with the appliance stopped it makes the
 * change itself. Either way the task history and the audit log name the operator.
 */
import type { LoadedConfig } from '../config/load.js';
import { CliError, EXIT } from './exit-codes.js';

export interface CliOperator {
  name: string;
  /** The operator's API token; absent when only a dashboard password is configured. */
  token?: string;
}

/** A CLI command's config and the operator it acts as. */
export interface OperatorContext {
  config: LoadedConfig;
  operator: CliOperator;
}

export function cliOperator(config: Pick<LoadedConfig, 'api' | 'configPath'>, requested = process.env.PETSPOOL_OPERATOR): CliOperator {
  const operators = config.api.operators;
  const names = operators.map((o) => o.name).join(', ');
  if (requested) {
    const found = operators.find((o) => o.name === requested);
    if (!found) throw new CliError(`no operator ${requested} in api.operators of ${config.configPath} (there: ${names})`, EXIT.CONFIG);
    return { name: found.name, token: found.token };
  }
  if (operators.length === 1) return { name: operators[0]!.name, token: operators[0]!.token };
  throw new CliError(`several operators in api.operators of ${config.configPath} (${names}): say which one you are with --operator NAME `
    + 'or $PETSPOOL_OPERATOR', EXIT.CONFIG);
}
