import type { Argv, CommandModule } from 'yargs';
import { configFrom, operatorContext, printJson, type GlobalArgs } from '../context.js';
import { readTasks, reportingRefusals, withOperatorChanges } from '../appliance-access.js';
import { parseStateFilter, type TaskDetail, type TaskSummary } from '../../operations/task-operations.js';

interface ListArgs extends GlobalArgs { state?: string; json?: boolean }
interface IdArgs extends GlobalArgs { id: string; json?: boolean; reason?: string }

const withId = <T extends GlobalArgs>(y: Argv<T>) => y.positional('id', { type: 'string', demandOption: true, describe: 'task id (see tasks list)' });

const list: CommandModule<GlobalArgs, ListArgs> = {
  command: 'list',
  describe: 'every task with its state, images and reason (read from the spool folders)',
  builder: (y) => y
    .option('state', { type: 'string', describe: 'only tasks in this state (e.g. failed, compiled, done)' })
    .option('json', { type: 'boolean', describe: 'print a JSON array' }),
  handler: (args) => reportingRefusals(async () => {
    const config = configFrom(args);
    const tasks = await readTasks(config).list(args.state ? { state: parseStateFilter(args.state) } : {});
    if (args.json) return printJson(tasks);
    process.stdout.write(taskTable(tasks, config.spool_dir));
  }),
};

const show: CommandModule<GlobalArgs, IdArgs> = {
  command: 'show <id>',
  describe: 'one task: state, history, reason, files',
  builder: (y) => withId(y).option('json', { type: 'boolean', describe: 'print JSON (record, folder, reason.json, files)' }),
  handler: (args) => reportingRefusals(async () => {
    const detail = await readTasks(configFrom(args)).show(args.id);
    if (args.json) return printJson(detail);
    process.stdout.write(taskText(detail));
  }),
};

const retry: CommandModule<GlobalArgs, IdArgs> = {
  command: 'retry <id>',
  describe: 'put a failed task back into the folder of the stage that failed',
  builder: withId,
  handler: (args) => reportingRefusals(async () => {
    const after = await withOperatorChanges(operatorContext(args), (changes) => changes.retryTask(args.id));
    process.stdout.write(`task ${after.id} is ${after.state} again (${after.history.at(-1)?.detail ?? 'retried'})\n`);
  }),
};

const abort: CommandModule<GlobalArgs, IdArgs> = {
  command: 'abort <id>',
  describe: 'abandon a task that is not finished',
  builder: (y) => withId(y).option('reason', { type: 'string', describe: 'why (default "aborted by operator")' }),
  handler: (args) => reportingRefusals(async () => {
    const after = await withOperatorChanges(operatorContext(args), (changes) => changes.abortTask(args.id, args.reason));
    process.stdout.write(`task ${after.id} aborted: ${after.reason ?? ''}\n`);
  }),
};

export const tasksCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'tasks',
  describe: 'list|show|retry|abort tasks',
  builder: (y) => y.command([list, show, retry, abort] as CommandModule<GlobalArgs, GlobalArgs>[])
    .demandCommand(1, 'Name an action: list, show, retry or abort.'),
  handler: () => undefined,
};

function taskTable(tasks: TaskSummary[], spoolDir: string): string {
  if (tasks.length === 0) return `no tasks in ${spoolDir}\n`;
  const rows = tasks.map((t) => [t.id, t.state, String(t.images), t.sender, t.updated_at.slice(0, 19).replace('T', ' '),
    t.series_description ?? '', t.reason ?? '']);
  const header = ['ID', 'STATE', 'IMAGES', 'SENDER', 'UPDATED (UTC)', 'SERIES', 'REASON'];
  // Every column but the last (reason, free text) is padded to its widest cell.
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i]!) : c)).join('  ').trimEnd();
  return [line(header), ...rows.map(line), '', `${tasks.length} task${tasks.length === 1 ? '' : 's'}`].join('\n') + '\n';
}

function taskText({ record: r, folder, dir, reason_json: reasonJson, files }: TaskDetail): string {
  const lines = [
    `task     ${r.id}`,
    `state    ${r.state} (${dir})`,
    `series   ${r.series_instance_uid}${r.series_description ? ` "${r.series_description}"` : ''}`,
    `study    ${r.study_instance_uid}`,
    `sender   ${r.sender}`,
    `images   ${r.images}`,
  ];
  if (r.reason) lines.push(`reason   ${r.reason}`);
  if (r.outputs.length) lines.push(`outputs  ${r.outputs.join(', ')}`);
  lines.push('', 'history');
  for (const h of r.history) lines.push(`  ${h.at}  ${h.state.padEnd(11)}  ${h.detail ?? ''}${h.by ? ` (by ${h.by})` : ''}`.trimEnd());
  if (reasonJson) {
    lines.push('', 'reason.json', ...JSON.stringify(reasonJson, null, 2).split('\n').map((l) => `  ${l}`));
  }
  const facts = Object.entries(r.facts).filter(([, v]) => v !== undefined && v !== null);
  if (facts.length) lines.push('', 'facts', ...facts.map(([k, v]) => `  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`));
  const instances = files.filter((f) => f.startsWith('instances/')).length;
  lines.push('', `files in ${folder}/${r.id}/: ${files.length} (${instances} instances)`,
    ...files.filter((f) => !f.startsWith('instances/')).map((f) => `  ${f}`));
  return lines.join('\n') + '\n';
}
