import type { CommandModule } from 'yargs';
import { operatorContext, printJson, type GlobalArgs } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { ApiClient } from '../api-client.js';
import { findCleanupCandidates, parseAge, pruneTaskRows, removeCandidates, type CleanupEntry } from '../../operations/cleanup.js';
import { formatAge } from '../../operations/spool-status.js';
import type { OperatorContext } from '../operator-credentials.js';
import { auditDirect } from '../appliance-access.js';
import { Spool } from '../../spool/spool.js';
import { SpoolLockedError, acquireSpoolLock, isSpoolLocked } from '../../spool/lock.js';
import { Store } from '../../db/store.js';

interface Args extends GlobalArgs { 'older-than': string; 'dry-run'?: boolean; json?: boolean }

/** Who dropped the database rows of the removed tasks. */
interface PruneOutcome {
  /** direct: this process, holding the spool lock; api: the running appliance; deferred: left for its start-up reconcile. */
  via: 'none' | 'direct' | 'api' | 'deferred';
  pruned: number;
  note?: string;
}

/**
 * The database has one writer. With no appliance running, take the spool lock and prune here;
 * with one running, ask it (POST /maintenance/prune). If it cannot be asked (still starting, API
 * down), its start-up reconcile drops rows of tasks whose folders are gone, so nothing is lost.
 */
async function pruneRows(ctx: OperatorContext, spool: Spool, ids: string[]): Promise<PruneOutcome> {
  const { config } = ctx;
  if (ids.length === 0) return { via: 'none', pruned: 0 };
  if (!(await isSpoolLocked(spool.root))) {
    try {
      const release = await acquireSpoolLock(spool.root, () => undefined);
      try {
        const store = await Store.open(config.database);
        const pruned = await pruneTaskRows(store, spool, ids);
        await store.close();
        await auditDirect(ctx, 'maintenance.prune', undefined, { task_ids: ids });
        return { via: 'direct', pruned: pruned.length };
      } finally {
        await release();
      }
    } catch (err) {
      if (!(err instanceof SpoolLockedError)) throw err;
      // The appliance started meanwhile: ask it below.
    }
  }
  try {
    const answer = await ApiClient.forConfig(config, ctx.operator).request('POST', '/maintenance/prune', { task_ids: ids });
    if (answer.status === 200) return { via: 'api', pruned: ((answer.body as { pruned?: string[] }).pruned ?? []).length };
    return { via: 'deferred', pruned: 0, note: `the appliance answered ${answer.status}; its next start-up reconcile drops the rows` };
  } catch (err) {
    return { via: 'deferred', pruned: 0, note: `${(err as Error).message}; the appliance's next start-up reconcile drops the rows` };
  }
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function entryLines(entries: CleanupEntry[]): string[] {
  return entries.map((e) => `  ${`${e.folder}/${e.name}`.padEnd(40)} ${megabytes(e.bytes).padStart(10)}  last change ${e.last_change}`);
}

export const cleanupCommand: CommandModule<GlobalArgs, Args> = {
  command: 'cleanup',
  describe: 'remove sent/failed/aborted tasks and ignored series older than --older-than (e.g. 7d); safe from cron while the appliance runs',
  builder: (y) => y
    .option('older-than', { type: 'string', demandOption: true, describe: 'age since the last change: a number and s, m, h or d (e.g. 7d)' })
    .option('dry-run', { type: 'boolean', describe: 'list what would be removed, remove nothing' })
    .option('json', { type: 'boolean', describe: 'print JSON' }),
  handler: async (args) => {
    let seconds: number;
    try {
      seconds = parseAge(args['older-than']);
    } catch (err) {
      throw new CliError((err as Error).message, EXIT.CONFIG);
    }
    const ctx = operatorContext(args);
    const { config } = ctx;
    const spool = new Spool(config.spool_dir);
    const candidates = await findCleanupCandidates(spool, seconds);
    const age = formatAge(Math.round(seconds));

    if (args['dry-run']) {
      const bytes = candidates.reduce((n, c) => n + c.bytes, 0);
      if (args.json) return printJson({ spool_dir: spool.root, older_than_seconds: seconds, dry_run: true, removed: candidates, skipped: [], bytes_freed: bytes });
      process.stdout.write([`dry run: would remove ${count(candidates)} older than ${age} from ${spool.root}, freeing ${megabytes(bytes)}`,
        ...entryLines(candidates)].join('\n') + '\n');
      return;
    }

    const result = await removeCandidates(spool, candidates, seconds);
    const database = await pruneRows(ctx, spool, result.removed.filter((e) => e.kind === 'task').map((e) => e.name));
    if (database.note) process.stderr.write(`petspool: database rows not pruned now: ${database.note}\n`);
    if (args.json) return printJson({ spool_dir: spool.root, older_than_seconds: seconds, dry_run: false, ...result, database });
    const lines = [`removed ${count(result.removed)} older than ${age} from ${spool.root}, freed ${megabytes(result.bytes_freed)}`,
      ...entryLines(result.removed),
      ...result.skipped.map((s) => `  skipped ${s.folder}/${s.name}: ${s.why}`)];
    if (database.via === 'direct' || database.via === 'api') lines.push(`database: ${database.pruned} task rows pruned (${database.via === 'api' ? 'by the running appliance' : 'directly'})`);
    process.stdout.write(lines.join('\n') + '\n');
  },
};

function count(entries: CleanupEntry[]): string {
  const tasks = entries.filter((e) => e.kind === 'task').length;
  const series = entries.length - tasks;
  return `${tasks} finished task${tasks === 1 ? '' : 's'} and ${series} ignored series`;
}
