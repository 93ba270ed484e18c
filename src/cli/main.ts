import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ConfigError } from '../config/load.js';
import { SpoolLockedError } from '../spool/lock.js';
import { CliError, EXIT } from './exit-codes.js';
import { commands } from './commands/index.js';

/** The only place that reads argv. Errors become one clear message and a documented exit code. */
async function main(): Promise<void> {
  const parser = yargs(hideBin(process.argv))
    .scriptName('petspool')
    .usage('$0 <command> [options]\n\nHot-folder appliance between PET scanners/PACS and a remote PET-processing service.')
    .option('config', { type: 'string', describe: 'config file (default: config.yaml at the install root, or $PETSPOOL_CONFIG)', global: true })
    .option('operator', { type: 'string', describe: 'act as this operator of api.operators (default: $PETSPOOL_OPERATOR, or the only one)', global: true })
    .command(commands)
    .demandCommand(1, 'Name a command; petspool --help lists them.')
    .strict()
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .epilogue('Exit codes: 0 ok, 1 failed, 2 bad configuration or usage, 3 spool busy or appliance unreachable, 4 timed out.')
    .fail((msg, err, y) => {
      if (err) throw err;
      process.stderr.write(`${y.help()}\n\n${msg}\n`);
      process.exit(EXIT.CONFIG);
    });
  try {
    await parser.parseAsync();
  } catch (err) {
    process.exitCode = report(err);
  }
}

function report(err: unknown): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`petspool: ${err.message}\n`);
    return EXIT.CONFIG;
  }
  if (err instanceof SpoolLockedError) {
    process.stderr.write(`petspool: ${err.message}\n`);
    return EXIT.UNAVAILABLE;
  }
  if (err instanceof CliError) {
    process.stderr.write(`petspool: ${err.message}\n`);
    return err.exitCode;
  }
  process.stderr.write(`petspool: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return EXIT.FAILED;
}

await main();
