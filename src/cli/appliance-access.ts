/**
 * How a CLI command reaches the appliance's state.
 *  - Reading: straight from the spool folders (and the database file), with or without a running
 *    appliance: the folders are the truth and reading them disturbs nobody.
 *  - Changing: when `petspool start` holds the spool, through its HTTP API (it is the only writer);
 *    otherwise the CLI takes the spool lock itself, does the same operation directly, writes the
 *    database and lets go. The operation itself is the same code either way (TaskOperations,
 *    addRadiopharmaceutical): the API routes call it too.
 * Either way the change is made as the CLI's operator (operator-credentials.ts): the API audits it,
 * and a change made directly is appended to the same audit log here.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadedConfig } from '../config/load.js';
import { Store } from '../db/store.js';
import { Spool } from '../spool/spool.js';
import { SpoolLockedError, acquireSpoolLock, isSpoolLocked } from '../spool/lock.js';
import type { TaskRecord } from '../spool/task-record.js';
import { TaskOperationError, TaskOperations, type TaskOperationProblem } from '../operations/task-operations.js';
import {
  addRadiopharmaceutical, listRadiopharmaceuticals, type AddRadiopharmaceuticalResult, type ListedRadiopharmaceutical,
} from '../settings/effective-settings.js';
import type { RadiopharmaceuticalEntry } from '../rules/radiopharmaceuticals.js';
import { ApiClient, ApplianceUnreachableError, errorOf, type ApiAnswer } from './api-client.js';
import { CliError, EXIT } from './exit-codes.js';
import type { OperatorContext } from './operator-credentials.js';
import { AuditLog } from '../audit/audit-log.js';

/** What the audit log says about a change the CLI made itself (the API audits its own). */
export interface DirectAudit<T> {
  action: string;
  task?: string;
  details?: unknown;
  /** Record it only for these results (e.g. not for an edit refused as invalid). */
  when?: (result: T) => boolean;
}

/** The changes an operator command can make, wherever they are carried out. */
export interface OperatorChanges {
  /** 'api': the running appliance did it; 'direct': this process did, holding the spool lock. */
  readonly via: 'api' | 'direct';
  retryTask(id: string): Promise<TaskRecord>;
  abortTask(id: string, reason?: string): Promise<TaskRecord>;
  addRadiopharmaceutical(entry: RadiopharmaceuticalEntry): Promise<AddRadiopharmaceuticalResult>;
}

/** Read-only task operations on the folders (no lock: nothing is written). */
export function readTasks(config: LoadedConfig): TaskOperations {
  return new TaskOperations(new Spool(config.spool_dir));
}

/** The tracer table as stored on disk (the appliance flushes after every change made through its API). */
export async function readRadiopharmaceuticals(config: LoadedConfig): Promise<ListedRadiopharmaceutical[]> {
  const store = await Store.open(config.database);
  return listRadiopharmaceuticals(store.data);
}

/** How long a change waits for another CLI command that holds the spool for its own change. */
const OTHER_COMMAND_WAIT_MS = 5000;

/** Run `work` with the changes reachable right now: the appliance's API, or the spool itself. */
export async function withOperatorChanges<T>(ctx: OperatorContext, work: (changes: OperatorChanges) => Promise<T>): Promise<T> {
  return viaApplianceOrSpool(ctx, (api) => work(apiChanges(api)), (spool, store) => work(directChanges(spool, store, ctx)));
}

/**
 * The two ways of one change: `viaApi` when `petspool start` holds the spool, otherwise `direct`
 * with the spool lock held and the database open (written on return). For commands of other parts
 * (qc, filters) whose operations are not in OperatorChanges.
 */
export async function viaApplianceOrSpool<T>(ctx: OperatorContext, viaApi: (api: ApiClient) => Promise<T>,
  direct: (spool: Spool, store: Store) => Promise<T>, audit?: DirectAudit<T>): Promise<T> {
  const { config, operator } = ctx;
  const deadline = Date.now() + OTHER_COMMAND_WAIT_MS;
  for (;;) {
    if (await isSpoolLocked(config.spool_dir)) {
      try {
        return await viaApi(ApiClient.forConfig(config, operator));
      } catch (err) {
        // Nobody listens, so nothing was done: the lock may be another CLI command's short hold
        // rather than the appliance's. Look again until that command is done (or give the error).
        if (!(err instanceof ApplianceUnreachableError && err.refused) || Date.now() > deadline) throw err;
        await sleep(200);
        continue;
      }
    }
    const spool = new Spool(config.spool_dir);
    await spool.init();
    let release: () => Promise<void>;
    try {
      release = await acquireSpoolLock(spool.root, () => undefined);
    } catch (err) {
      // Taken between the check and the lock (the appliance starting, another command): look again.
      if (err instanceof SpoolLockedError && Date.now() <= deadline) continue;
      throw err;
    }
    const store = await Store.open(config.database);
    try {
      const result = await direct(spool, store);
      if (audit && (audit.when?.(result) ?? true)) await auditDirect(ctx, audit.action, audit.task, audit.details);
      return result;
    } finally {
      await store.close();
      await release();
    }
  }
}

/** One audit line for a change this process made itself, holding the spool lock. */
export async function auditDirect(ctx: OperatorContext, action: string, task?: string, details?: unknown): Promise<void> {
  await AuditLog.inSpool(ctx.config.spool_dir).append({ who: ctx.operator.name, role: 'operator', action, task, details, client: 'cli' });
}

function directChanges(spool: Spool, store: Store, ctx: OperatorContext): OperatorChanges {
  const tasks = new TaskOperations(spool, { store });
  const by = ctx.operator.name;
  return {
    via: 'direct',
    retryTask: async (id) => {
      const after = await tasks.retry(id, by);
      await auditDirect(ctx, 'task.retry', id);
      return after;
    },
    abortTask: async (id, reason) => {
      const after = await tasks.abort(id, reason, by);
      await auditDirect(ctx, 'task.abort', id, reason === undefined ? undefined : { reason });
      return after;
    },
    addRadiopharmaceutical: async (entry) => {
      const result = addRadiopharmaceutical(store, entry);
      if (result.ok) await auditDirect(ctx, 'radiopharmaceuticals.add', undefined, entry);
      return result;
    },
  };
}

const PROBLEM_OF_STATUS: Record<number, TaskOperationProblem> = { 404: 'not_found', 409: 'conflict', 400: 'invalid' };

function apiChanges(api: ApiClient): OperatorChanges {
  const taskAnswer = (answer: ApiAnswer): TaskRecord => {
    if (answer.status >= 200 && answer.status < 300) return answer.body as TaskRecord;
    throw new TaskOperationError(PROBLEM_OF_STATUS[answer.status] ?? 'invalid', errorOf(answer));
  };
  return {
    via: 'api',
    retryTask: async (id) => taskAnswer(await api.request('POST', `/tasks/${encodeURIComponent(id)}/retry`)),
    abortTask: async (id, reason) => taskAnswer(await api.request('POST', `/tasks/${encodeURIComponent(id)}/abort`,
      reason === undefined ? {} : { reason })),
    addRadiopharmaceutical: async (entry) => {
      const answer = await api.request('POST', '/radiopharmaceuticals', entry);
      const body = answer.body as { entry?: RadiopharmaceuticalEntry; replaced?: boolean; problems?: string[] };
      if (answer.status === 201 && body.entry) return { ok: true, entry: body.entry, replaced: body.replaced ?? false };
      return { ok: false, problems: body?.problems ?? [errorOf(answer)] };
    },
  };
}

/** An operation's refusal as the CLI reports it: one line, exit 1 (exit 2 for a bad argument). */
export async function reportingRefusals<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof TaskOperationError) throw new CliError(err.message, err.problem === 'invalid' ? EXIT.CONFIG : EXIT.FAILED);
    throw err;
  }
}
