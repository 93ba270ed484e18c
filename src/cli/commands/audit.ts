/**
 * petspool audit [--task ID] [--who NAME] [--since ISO] [--json]: the audit log
 * (spool/logs/audit.jsonl), oldest first: who did what, when, to which task, from where.
 */
import type { CommandModule } from 'yargs';
import { configFrom, printJson, type GlobalArgs } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { AuditLog, readAuditLog, type AuditEntry } from '../../audit/audit-log.js';

interface Args extends GlobalArgs { task?: string; who?: string; since?: string; json?: boolean }

export const auditCommand: CommandModule<GlobalArgs, Args> = {
  command: 'audit',
  describe: 'show the audit log: logins, QC decisions, retries, aborts, settings changes (who, when, from where)',
  builder: (y) => y
    .option('task', { type: 'string', describe: 'only entries about this task' })
    .option('who', { type: 'string', describe: 'only entries of this operator (or submitter)' })
    .option('since', { type: 'string', describe: 'only entries at or after this time (ISO 8601, e.g. 2026-12-01 or 2026-12-01T08:00Z)' })
    .option('json', { type: 'boolean', describe: 'print a JSON array' }),
  handler: async (args) => {
    const config = configFrom(args);
    const since = args.since === undefined ? undefined : Date.parse(args.since);
    if (Number.isNaN(since)) throw new CliError(`--since ${args.since}: not a date; write it as 2026-12-01 or 2026-12-01T08:00Z`, EXIT.CONFIG);
    const file = AuditLog.inSpool(config.spool_dir).file;
    const entries = (await readAuditLog(file)).filter((e) => (args.task === undefined || e.task === args.task)
      && (args.who === undefined || e.who === args.who) && (since === undefined || Date.parse(e.at) >= since));
    if (args.json) return printJson(entries);
    if (entries.length === 0) {
      process.stdout.write(`no audit entries${args.task || args.who || args.since ? ' match' : ` in ${file}`}\n`);
      return;
    }
    process.stdout.write(entries.map(auditLine).join('\n') + '\n');
  },
};

function auditLine(e: AuditEntry): string {
  const details = e.details === undefined ? '' : ` ${JSON.stringify(e.details)}`;
  return `${e.at}  ${e.who} (${e.role}, ${e.client})  ${e.action}${e.task ? ` ${e.task}` : ''}${details}`;
}
