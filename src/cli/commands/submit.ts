/**
 * petspool submit DIR [--wait] [--out DIR] [--timeout S] [--url URL] [--json]
 * Puts a folder of DICOM files into the flow through the appliance's upload API: the local
 * appliance (the one running on this config's spool) or, with --url, one elsewhere. Everything
 * after finding the appliance is src/client/submit-flow.ts.
 * Exit: 0 all tasks done (or submitted, without --wait), 1 a task failed or nothing to import,
 * 2 wrong or not allowed token, or usage, 3 no appliance to talk to, 4 timed out.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { configFrom, operatorContext, printJson, type GlobalArgs } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { localApiAgent, localApiUrl } from '../../api/local-access.js';
import { isSpoolLocked } from '../../spool/lock.js';
import { PetspoolApiError, PetspoolClient, TASK_STAGES, type TaskProgress } from '../../client/petspool-client.js';
import { runSubmitFlow, type SubmitReporter, type SubmitVerdict } from '../../client/submit-flow.js';

interface Args extends GlobalArgs {
  dir: string;
  wait?: boolean;
  out?: string;
  timeout: number;
  url?: string;
  token?: string;
  ca?: string;
  json?: boolean;
}

const EXIT_OF: Record<SubmitVerdict, number> = { submitted: EXIT.OK, done: EXIT.OK, failed: EXIT.FAILED, no_dicom: EXIT.FAILED, timeout: EXIT.TIMEOUT };

export const submitCommand: CommandModule<GlobalArgs, Args> = {
  command: 'submit <dir>',
  describe: 'put a folder of DICOM files into the flow [--wait] [--out DIR] [--url URL]',
  builder: (y) => y
    .positional('dir', { type: 'string', demandOption: true, describe: 'folder with the DICOM files (sub-folders too)' })
    .option('wait', { type: 'boolean', describe: 'wait until every task is done or failed, showing its progress' })
    .option('out', { type: 'string', describe: 'write the delivered series under OUT/<task>/<series>/ (implies --wait)' })
    .option('timeout', { type: 'number', default: 3600, describe: 'give up waiting after this many seconds (exit 4)' })
    .option('url', { type: 'string', describe: 'appliance API to submit to (default: the appliance running on this config)' })
    .option('token', { type: 'string', describe: 'submitter token (default: $PETSPOOL_TOKEN; for the local appliance, else the operator\'s token)' })
    .option('ca', { type: 'string', describe: 'PEM file of the CA that signed --url\'s certificate (HTTPS with a hospital CA)' })
    .option('json', { type: 'boolean', describe: 'print one JSON summary instead of progress' }),
  handler: async (args) => {
    const dir = path.resolve(args.dir);
    const isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
    if (!isDir) throw new CliError(`${args.dir} is not a folder`, EXIT.CONFIG);
    if (!(args.timeout > 0)) throw new CliError('--timeout must be a number of seconds > 0', EXIT.CONFIG);
    const client = await applianceClient(args);
    const reporter = args.json ? silentReporter : consoleReporter(process.stdout);
    let outcome;
    try {
      outcome = await runSubmitFlow(client, {
        dir, wait: Boolean(args.wait), outDir: args.out ? path.resolve(args.out) : undefined, timeoutMs: args.timeout * 1000,
      }, reporter);
    } catch (err) {
      if (err instanceof PetspoolApiError) {
        throw new CliError(err.message, err.status === 0 ? EXIT.UNAVAILABLE : err.status === 401 || err.status === 403 ? EXIT.CONFIG : EXIT.FAILED);
      }
      throw err;
    }
    if (args.json) printJson(outcome);
    else if (outcome.verdict === 'done' || outcome.verdict === 'submitted') process.stdout.write(`${outcome.message}\n`);
    const code = EXIT_OF[outcome.verdict];
    if (code !== EXIT.OK && !args.json) throw new CliError(outcome.message, code);
    process.exitCode = code;
  },
};

/**
 * --url (with --token or $PETSPOOL_TOKEN, a submitter token of that appliance), else the appliance
 * running on this config's spool (--token, $PETSPOOL_TOKEN, or the CLI operator's token; its
 * certificate pinned under HTTPS).
 */
async function applianceClient(args: Args): Promise<PetspoolClient> {
  const given = args.token ?? process.env.PETSPOOL_TOKEN;
  if (args.url) {
    if (!given) throw new CliError('--url needs a submitter token of that appliance: --token TOKEN or $PETSPOOL_TOKEN', EXIT.CONFIG);
    const ca = args.ca ? await readFile(args.ca).catch((err: NodeJS.ErrnoException) => {
      throw new CliError(`--ca ${args.ca}: cannot read it (${err.code ?? err.message})`, EXIT.CONFIG);
    }) : undefined;
    return new PetspoolClient({ url: args.url, token: given, ca });
  }
  const config = configFrom(args);
  if (!(await isSpoolLocked(config.spool_dir))) {
    throw new CliError(`no appliance is running on ${config.spool_dir}: start it (petspool start --config ${config.configPath}), `
      + 'or submit to another one with --url http://HOST:PORT', EXIT.UNAVAILABLE);
  }
  const token = given ?? operatorContext(args).operator.token;
  if (!token) {
    throw new CliError('submitting to the local appliance needs a token: --token, $PETSPOOL_TOKEN, or an operator with a token in api.operators', EXIT.CONFIG);
  }
  return new PetspoolClient({ url: localApiUrl(config), token, agent: localApiAgent(config) });
}

const silentReporter: SubmitReporter = { uploaded: () => undefined, imported: () => undefined, progress: () => undefined, downloaded: () => undefined };

/** Human output: one progress line per task, redrawn in place on a terminal, appended otherwise. */
function consoleReporter(out: NodeJS.WriteStream): SubmitReporter {
  const tty = Boolean(out.isTTY);
  const order: string[] = [];
  const lines = new Map<string, string>();
  let drawn = 0;
  const redraw = () => {
    if (drawn > 0) out.write(`\x1b[${drawn}A`);
    for (const id of order) out.write(`\x1b[2K${lines.get(id)}\n`);
    drawn = order.length;
  };
  return {
    uploaded: (u) => out.write(`sent ${u.files} DICOM file${u.files === 1 ? '' : 's'} (upload ${u.uploadId})\n`),
    imported: (tasks, problems) => {
      for (const p of problems) out.write(`problem: ${p}\n`);
      out.write(`${tasks.length} task${tasks.length === 1 ? '' : 's'}:\n`);
      for (const t of tasks) {
        out.write(`  ${t.id}  ${t.series_description ?? ''}`.trimEnd() + '\n');
        order.push(t.id);
        // Until its first progress report a task is drawn as the import left it.
        lines.set(t.id, progressLine({ id: t.id, state: t.state, reason: t.reason, stage: Math.max(0, TASK_STAGES.indexOf(t.state)),
          stages: TASK_STAGES.length, finished: false }));
      }
    },
    progress: (t) => {
      lines.set(t.id, progressLine(t));
      if (tty) redraw();
      else out.write(`${lines.get(t.id)}\n`);
    },
    downloaded: (taskId, series) => {
      for (const s of series) out.write(`${taskId}: ${s.files} files of ${s.series} in ${s.dir}\n`);
    },
  };
}

const BAR_WIDTH = 20;

export function progressLine(t: TaskProgress): string {
  const reached = t.state === 'done' ? TASK_STAGES.length : t.stage + 1;
  const filled = Math.round((reached / TASK_STAGES.length) * BAR_WIDTH);
  const mark = t.state === 'failed' || t.state === 'aborted' ? 'x' : '#';
  const bar = `[${mark.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
  const tail = t.reason && !(t.state === 'done') ? `: ${t.reason}` : '';
  return `${t.id} ${bar} ${t.state}${tail}`;
}
