import type { CommandModule } from 'yargs';
import { printJson, type GlobalArgs } from '../context.js';
import { runDoctor } from '../../operations/doctor.js';
import { EXIT } from '../exit-codes.js';

interface Args extends GlobalArgs { json?: boolean }

export const doctorCommand: CommandModule<GlobalArgs, Args> = {
  command: 'doctor',
  describe: 'check the config, spool and share folders, 7z, DCMTK, sync -f, free disk and ports; each problem with its fix',
  builder: (y) => y.option('json', { type: 'boolean', describe: 'print JSON' }),
  handler: async (args) => {
    const checks = await runDoctor(args.config);
    if (args.json) printJson(checks);
    else {
      for (const c of checks) {
        process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}\n${c.fix ? `     fix: ${c.fix}\n` : ''}`);
      }
    }
    if (checks.some((c) => !c.ok)) process.exitCode = EXIT.FAILED;
  },
};
