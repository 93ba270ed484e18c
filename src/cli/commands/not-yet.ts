import type { Argv, CommandModule } from 'yargs';
import type { GlobalArgs } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';

/** A command of the CLI contract whose work lands in a later issue: listed in --help, exits non-zero. */
export function notImplementedYet(command: string, describe: string,
  builder: (y: Argv<GlobalArgs>) => Argv<GlobalArgs> = (y) => y): CommandModule<GlobalArgs, GlobalArgs> {
  return {
    command, describe, builder,
    handler: () => {
      throw new CliError(`"${command.split(' ')[0]}" is not implemented yet`, EXIT.FAILED);
    },
  };
}
