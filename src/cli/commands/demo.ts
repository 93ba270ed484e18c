import type { CommandModule } from 'yargs';
import { configFrom, printJson, type GlobalArgs } from '../context.js';
import { createLogger } from '../../log/logger.js';
import { runDemo, type DemoSummary } from '../../app/demo.js';

interface Args extends GlobalArgs { slices: number; size: number; tracer: string; keep?: string; timeout: number; json?: boolean }

export const demoCommand: CommandModule<GlobalArgs, Args> = {
  command: 'demo',
  describe: 'run the whole flow end to end: synthetic series → C-STORE → embedded processing → filtered series at a local destination',
  builder: (y) => y
    .option('slices', { type: 'number', default: 81, describe: 'slices of the synthetic series' })
    .option('size', { type: 'number', default: 128, describe: 'rows and columns of each slice' })
    .option('tracer', { type: 'string', default: 'FDG', describe: 'FDG, PSMA-11, DOTATATE or NaF' })
    .option('keep', { type: 'string', describe: 'work in this folder and keep it (spool, share, destination) instead of a temporary one' })
    .option('timeout', { type: 'number', default: 120, describe: 'seconds to wait for the results' })
    .option('json', { type: 'boolean', describe: 'print the summary as JSON' }),
  handler: async (args) => {
    const base = configFrom(args);
    const log = createLogger({ quiet: true });
    const say = args.json ? () => undefined : (line: string) => process.stdout.write(`  ${line}\n`);
    const summary = await runDemo({
      base, log, workDir: args.keep, slices: args.slices, size: args.size, tracer: args.tracer,
      timeoutMs: args.timeout * 1000, say,
    });
    if (args.json) printJson(summary);
    else process.stdout.write(formatSummary(summary));
  },
};

function formatSummary(s: DemoSummary): string {
  const lines = ['', `petspool demo: task ${s.taskId} done in ${s.totalSeconds.toFixed(1)} s`, '', 'time per stage'];
  const stateWidth = Math.max(...s.stages.map((st) => st.state.length));
  for (const st of s.stages) lines.push(`  ${st.state.padEnd(stateWidth)} ${st.seconds.toFixed(2).padStart(7)} s`);
  lines.push('', 'series delivered to DEMO-PACS                          slices   background noise (std, CV)');
  lines.push(`  ${'original (input)'.padEnd(52)} ${String(s.inputInstances).padStart(6)}   ${noise(s.inputNoise)}`);
  for (const o of s.outputs) lines.push(`  ${(o.description || o.seriesInstanceUid).slice(0, 52).padEnd(52)} ${String(o.instances).padStart(6)}   ${noise(o.noise)}`);
  if (s.workDir) lines.push('', `work folder: ${s.workDir}`);
  return lines.join('\n') + '\n';
}

function noise(n: { std: number; cvPercent: number }): string {
  return `${n.std.toFixed(0)} Bq/ml, ${n.cvPercent.toFixed(1)} %`;
}
