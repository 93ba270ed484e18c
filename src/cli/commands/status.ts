import type { CommandModule } from 'yargs';
import { configFrom, printJson, type GlobalArgs } from '../context.js';
import { formatAge, spoolStatus } from '../../operations/spool-status.js';

interface Args extends GlobalArgs { json?: boolean }

export const statusCommand: CommandModule<GlobalArgs, Args> = {
  command: 'status',
  describe: 'per-folder task counts, the age of the oldest task in each, and backlog alerts',
  builder: (y) => y.option('json', { type: 'boolean', describe: 'print JSON' }),
  handler: async (args) => {
    const status = await spoolStatus(configFrom(args));
    if (args.json) return printJson(status);
    const lines = [`spool: ${status.spool_dir}`, '', 'folder        tasks  oldest'];
    for (const f of status.folders) {
      lines.push(`${f.folder.padEnd(13)} ${String(f.count).padStart(5)}  ${f.oldest_age_seconds === null ? '-' : formatAge(f.oldest_age_seconds)}`);
    }
    lines.push('', ...(status.alerts.length ? status.alerts.map((a) => `ALERT: ${a}`) : ['no alerts']));
    process.stdout.write(lines.join('\n') + '\n');
  },
};
