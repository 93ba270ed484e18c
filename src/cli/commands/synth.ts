import path from 'node:path';
import { stat } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import { printJson, type GlobalArgs } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { SYNTH_TRACERS, synthTracer, synthesizePetSeries } from '../../series/synth.js';
import { newUid } from '../../dicom/uid.js';

interface Args extends GlobalArgs {
  outdir: string;
  slices: number;
  size: number;
  tracer: string;
  seed: number;
  json?: boolean;
}

export const synthCommand: CommandModule<GlobalArgs, Args> = {
  command: 'synth <outdir>',
  describe: 'write a synthetic PET series (body phantom with hot spheres and noise) into OUTDIR',
  builder: (y) => y
    .positional('outdir', { type: 'string', demandOption: true, describe: 'folder to write the series into (created if missing)' })
    .option('slices', { type: 'number', default: 81, describe: 'number of slices' })
    .option('size', { type: 'number', default: 128, describe: 'rows = columns' })
    .option('tracer', { type: 'string', default: 'FDG', describe: `radiopharmaceutical: ${Object.keys(SYNTH_TRACERS).join(', ')}` })
    .option('seed', { type: 'number', default: 1, describe: 'noise seed: the same seed gives the same pixels' })
    .option('json', { type: 'boolean', describe: 'print JSON' }),
  handler: async (args) => {
    if (!Number.isInteger(args.slices) || args.slices < 1 || args.slices > 5000) throw new CliError('--slices must be an integer 1-5000', EXIT.CONFIG);
    if (!Number.isInteger(args.size) || args.size < 8 || args.size > 1024) throw new CliError('--size must be an integer 8-1024', EXIT.CONFIG);
    if (!Number.isInteger(args.seed)) throw new CliError('--seed must be an integer', EXIT.CONFIG);
    let tracer: string;
    try {
      tracer = synthTracer(args.tracer).radiopharmaceutical;
    } catch {
      throw new CliError(`unknown tracer "${args.tracer}"; choose one of ${Object.keys(SYNTH_TRACERS).join(', ')}`, EXIT.CONFIG);
    }
    const outDir = path.resolve(args.outdir);
    const seriesInstanceUid = newUid();
    const studyInstanceUid = newUid();
    const files = await synthesizePetSeries(outDir, {
      slices: args.slices, size: args.size, tracer: args.tracer, seed: args.seed, seriesInstanceUid, studyInstanceUid,
    });
    let bytes = 0;
    for (const f of files) bytes += (await stat(f)).size;
    const summary = {
      out_dir: outDir, files: files.length, bytes, slices: args.slices, size: args.size, tracer,
      series_instance_uid: seriesInstanceUid, study_instance_uid: studyInstanceUid,
    };
    if (args.json) return printJson(summary);
    process.stdout.write(`wrote ${files.length} PET slices ${args.size}×${args.size} (${tracer}, ${bytes < 1e6 ? `${Math.ceil(bytes / 1e3)} kB` : `${(bytes / 1e6).toFixed(1)} MB`}) to ${outDir}\n`
      + `series ${seriesInstanceUid}\n`);
  },
};
