import type { CommandModule } from 'yargs';
import { configFrom, operatorContext, printJson, type GlobalArgs } from '../context.js';
import { readRadiopharmaceuticals, withOperatorChanges } from '../appliance-access.js';
import { CliError, EXIT } from '../exit-codes.js';
import { parseCode, type ListedRadiopharmaceutical } from '../../settings/effective-settings.js';

interface ListArgs extends GlobalArgs { json?: boolean }
interface AddArgs extends GlobalArgs {
  id: string;
  name: string;
  synonym?: string[];
  code?: string[];
  nuclide: string;
  'half-life': number;
}

const list: CommandModule<GlobalArgs, ListArgs> = {
  command: 'list',
  describe: 'the known radiopharmaceuticals: the built-in table and those added by operators',
  builder: (y) => y.option('json', { type: 'boolean', describe: 'print a JSON array (each entry with "added")' }),
  handler: async (args) => {
    const table = await readRadiopharmaceuticals(configFrom(args));
    if (args.json) return printJson(table);
    process.stdout.write(tracerTable(table));
  },
};

const add: CommandModule<GlobalArgs, AddArgs> = {
  command: 'add',
  describe: 'add a radiopharmaceutical (or replace one with the same id)',
  builder: (y) => y
    .option('id', { type: 'string', demandOption: true, describe: 'stable key, e.g. ga68-pentixafor' })
    .option('name', { type: 'string', demandOption: true, describe: 'name shown to operators' })
    .option('synonym', { type: 'string', array: true, describe: 'another name the scanner may write (repeatable)' })
    .option('code', { type: 'string', array: true, describe: 'RadiopharmaceuticalCodeSequence code as SCHEME:VALUE (repeatable)' })
    .option('nuclide', { type: 'string', demandOption: true, describe: 'e.g. Ga-68, F-18' })
    .option('half-life', { type: 'number', demandOption: true, describe: 'half-life of the nuclide in seconds' }),
  handler: async (args) => {
    const codes = (args.code ?? []).map((text) => {
      const code = parseCode(text);
      if (!code) throw new CliError(`--code ${text}: write it as SCHEME:VALUE, e.g. SCT:35321007`, EXIT.CONFIG);
      return code;
    });
    const entry = {
      id: args.id, name: args.name, synonyms: args.synonym ?? [], codes, nuclide: args.nuclide, halfLifeSeconds: args['half-life'],
    };
    const result = await withOperatorChanges(operatorContext(args), (changes) => changes.addRadiopharmaceutical(entry));
    if (!result.ok) {
      throw new CliError(`radiopharmaceutical ${args.id} refused:\n${result.problems.map((p) => `  - ${p}`).join('\n')}`);
    }
    process.stdout.write(`${result.replaced ? 'replaced' : 'added'} ${result.entry.id}: ${result.entry.name} `
      + `(${result.entry.nuclide}, ${result.entry.halfLifeSeconds} s)\n`);
  },
};

export const radiopharmaceuticalsCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'radiopharmaceuticals',
  describe: 'list|add known radiopharmaceuticals',
  builder: (y) => y.command([list, add] as CommandModule<GlobalArgs, GlobalArgs>[])
    .demandCommand(1, 'Name an action: list or add.'),
  handler: () => undefined,
};

function tracerTable(table: ListedRadiopharmaceutical[]): string {
  const rows = table.map((e) => [e.id, e.name, e.nuclide, String(e.halfLifeSeconds),
    e.codes.map((c) => `${c.scheme}:${c.value}`).join(' '), e.added ? 'added' : 'built-in']);
  const header = ['ID', 'NAME', 'NUCLIDE', 'HALF-LIFE (s)', 'CODES', 'SOURCE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const added = table.filter((e) => e.added).length;
  return [line(header), ...rows.map(line), '', `${table.length} radiopharmaceuticals (${added} added by operators)`].join('\n') + '\n';
}
