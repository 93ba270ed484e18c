import type { Argv, CommandModule } from 'yargs';
import { configFrom, operatorContext, printJson, type GlobalArgs } from '../context.js';
import { reportingRefusals, viaApplianceOrSpool } from '../appliance-access.js';
import { errorOf, type ApiAnswer } from '../api-client.js';
import { CliError, EXIT } from '../exit-codes.js';
import { Spool } from '../../spool/spool.js';
import { Store } from '../../db/store.js';
import type { TaskRecord } from '../../spool/task-record.js';
import { QcOperations, type HeldTask } from '../../operations/qc-operations.js';
import { TaskOperationError, type TaskOperationProblem } from '../../operations/task-operations.js';
import { effectiveQcRequired, setQcRequired, type SettingSource } from '../../settings/effective-settings.js';

interface ListArgs extends GlobalArgs { json?: boolean }
interface IdArgs extends GlobalArgs { id: string; reason?: string }
interface RequiredArgs extends GlobalArgs { value?: string }

const PROBLEM_OF_STATUS: Record<number, TaskOperationProblem> = { 404: 'not_found', 409: 'conflict', 400: 'invalid' };

function taskAnswer(answer: ApiAnswer): TaskRecord {
  if (answer.status >= 200 && answer.status < 300) return answer.body as TaskRecord;
  throw new TaskOperationError(PROBLEM_OF_STATUS[answer.status] ?? 'invalid', errorOf(answer));
}

const withId = <T extends GlobalArgs>(y: Argv<T>) => y.positional('id', { type: 'string', demandOption: true, describe: 'task id (see qc list)' });

const list: CommandModule<GlobalArgs, ListArgs> = {
  command: 'list',
  describe: 'tasks held for quality control, with their output series and folder (previews/*.png)',
  builder: (y) => y.option('json', { type: 'boolean', describe: 'print a JSON array' }),
  handler: async (args) => {
    const config = configFrom(args);
    const held = await new QcOperations(new Spool(config.spool_dir)).list();
    if (args.json) return printJson(held);
    process.stdout.write(heldTable(held));
  },
};

const approve: CommandModule<GlobalArgs, IdArgs> = {
  command: 'approve <id>',
  describe: 'release a held task to the sender',
  builder: withId,
  handler: (args) => reportingRefusals(async () => {
    const ctx = operatorContext(args);
    const after = await viaApplianceOrSpool(ctx,
      async (api) => taskAnswer(await api.request('POST', `/qc/${encodeURIComponent(args.id)}/approve`)),
      (spool, store) => new QcOperations(spool, { store }).approve(args.id, ctx.operator.name), { action: 'qc.approve', task: args.id });
    process.stdout.write(`task ${after.id} approved: ${after.state}\n`);
  }),
};

const reject: CommandModule<GlobalArgs, IdArgs> = {
  command: 'reject <id>',
  describe: 'fail a held task with the reason (tasks retry puts it back into awaiting_qc)',
  builder: (y) => withId(y).option('reason', { type: 'string', demandOption: true, describe: 'why the result is not fit to send' }),
  handler: (args) => reportingRefusals(async () => {
    const reason = args.reason ?? '';
    const ctx = operatorContext(args);
    const after = await viaApplianceOrSpool(ctx,
      async (api) => taskAnswer(await api.request('POST', `/qc/${encodeURIComponent(args.id)}/reject`, { reason })),
      (spool, store) => new QcOperations(spool, { store }).reject(args.id, reason, ctx.operator.name),
      { action: 'qc.reject', task: args.id, details: { reason } });
    process.stdout.write(`task ${after.id} rejected: ${after.reason ?? ''}\n`);
  }),
};

const VALUES: Record<string, boolean | null> = { on: true, true: true, off: false, false: false, config: null };

const required: CommandModule<GlobalArgs, RequiredArgs> = {
  command: 'required [value]',
  describe: 'show whether results are held for QC, or set it: on, off, or config (follow config.yaml again)',
  builder: (y) => y.positional('value', { type: 'string', describe: 'on | off | config' }),
  handler: async (args) => {
    const config = configFrom(args);
    let shown: { required: boolean; source: SettingSource };
    if (args.value === undefined) {
      shown = effectiveQcRequired(config, (await Store.open(config.database)).data);
    } else {
      const value = VALUES[args.value.toLowerCase()];
      if (value === undefined) throw new CliError(`qc required ${args.value}: say on, off or config`, EXIT.CONFIG);
      shown = await viaApplianceOrSpool(operatorContext(args),
        async (api) => {
          const answer = await api.request('POST', '/settings/qc', { required: value });
          if (answer.status !== 200) throw new CliError(errorOf(answer));
          return answer.body as { required: boolean; source: SettingSource };
        },
        async (_spool, store) => {
          setQcRequired(store, value);
          return effectiveQcRequired(config, store.data);
        }, { action: 'settings.qc_required', details: { required: value } });
    }
    process.stdout.write(`quality control is ${shown.required ? 'required' : 'not required'} (${shown.source === 'operator' ? 'operator setting' : 'config.yaml'})\n`);
  },
};

export const qcCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'qc',
  describe: 'list|approve|reject tasks held for quality control; qc required [on|off|config]',
  builder: (y) => y.command([list, approve, reject, required] as CommandModule<GlobalArgs, GlobalArgs>[])
    .demandCommand(1, 'Name an action: list, approve, reject or required.'),
  handler: () => undefined,
};

function heldTable(held: HeldTask[]): string {
  if (held.length === 0) return 'no task is waiting for quality control\n';
  const rows = held.map((t) => [t.id, t.held_since.slice(0, 19).replace('T', ' '), String(t.images), t.series_description ?? '', t.dir]);
  const header = ['ID', 'HELD SINCE (UTC)', 'IMAGES', 'SERIES', 'FOLDER (previews/*.png)'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line), '', `${held.length} task${held.length === 1 ? '' : 's'} waiting: petspool qc approve ID | qc reject ID --reason TEXT`].join('\n') + '\n';
}
