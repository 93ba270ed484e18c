import type { CommandModule } from 'yargs';
import { configFrom, operatorContext, printJson, type GlobalArgs } from '../context.js';
import { viaApplianceOrSpool } from '../appliance-access.js';
import { errorOf } from '../api-client.js';
import { CliError, EXIT } from '../exit-codes.js';
import { Store } from '../../db/store.js';
import type { FilterConfig } from '../../config/schema.js';
import { addFilter, listFilters, removeFilter, type ListedFilter, type SettingEditResult } from '../../settings/effective-settings.js';

interface ListArgs extends GlobalArgs { json?: boolean }
interface AddArgs extends GlobalArgs {
  name: string;
  fwhm: number;
  blend?: number;
  'series-description'?: string;
  'scanner-model'?: string[];
  radiopharmaceutical?: string[];
}
interface RemoveArgs extends GlobalArgs { name: string }

const list: CommandModule<GlobalArgs, ListArgs> = {
  command: 'list',
  describe: 'the post-filters in effect: config.yaml with the operators\' edits (which win)',
  builder: (y) => y.option('json', { type: 'boolean', describe: 'print a JSON array (each filter with "source": config or operator)' }),
  handler: async (args) => {
    const config = configFrom(args);
    const filters = listFilters(config, (await Store.open(config.database)).data);
    if (args.json) return printJson(filters);
    process.stdout.write(filterTable(filters));
  },
};

const add: CommandModule<GlobalArgs, AddArgs> = {
  command: 'add',
  describe: 'add a post-filter (or replace the one with the same name); one output series per filter',
  builder: (y) => y
    .option('name', { type: 'string', demandOption: true, describe: 'letters, digits, _ or -; names the output folder and series' })
    .option('fwhm', { type: 'number', demandOption: true, describe: 'FWHM in mm (0 = the unfiltered result)' })
    .option('blend', { type: 'number', describe: 'fraction 0-1 of the unfiltered result mixed back in' })
    .option('series-description', { type: 'string', describe: 'template: {original} and {filter} are replaced' })
    .option('scanner-model', { type: 'string', array: true, describe: 'only for this ManufacturerModelName (repeatable)' })
    .option('radiopharmaceutical', { type: 'string', array: true, describe: 'only for this tracer: id, name or code (repeatable)' }),
  handler: async (args) => {
    const filter: FilterConfig = {
      name: args.name, fwhm_mm: args.fwhm,
      ...(args.blend !== undefined ? { blend: args.blend } : {}),
      ...(args['series-description'] !== undefined ? { series_description: args['series-description'] } : {}),
      ...(args['scanner-model']?.length ? { scanner_models: args['scanner-model'] } : {}),
      ...(args.radiopharmaceutical?.length ? { radiopharmaceuticals: args.radiopharmaceutical } : {}),
    };
    const ctx = operatorContext(args);
    const { config } = ctx;
    const result = await viaApplianceOrSpool<SettingEditResult<FilterConfig>>(ctx,
      async (api) => {
        const answer = await api.request('POST', '/settings/filters', filter);
        const body = answer.body as { value?: FilterConfig; replaced?: boolean; problems?: string[] };
        if (answer.status === 201 && body.value) return { ok: true, value: body.value, replaced: body.replaced ?? false };
        return { ok: false, problems: body?.problems ?? [errorOf(answer)] };
      },
      async (_spool, store) => addFilter(config, store, filter),
      { action: 'settings.filters.add', details: filter, when: (r) => r.ok });
    if (!result.ok) throw new CliError(`filter ${args.name} refused:\n${result.problems.map((p) => `  - ${p}`).join('\n')}`, EXIT.CONFIG);
    process.stdout.write(`${result.replaced ? 'replaced' : 'added'} filter ${result.value.name} (FWHM ${result.value.fwhm_mm} mm); `
      + 'it applies to tasks unpacked from now on\n');
  },
};

const remove: CommandModule<GlobalArgs, RemoveArgs> = {
  command: 'remove <name>',
  describe: 'stop making a filter\'s series (a config.yaml filter is removed by an operator edit)',
  builder: (y) => y.positional('name', { type: 'string', demandOption: true }),
  handler: async (args) => {
    const ctx = operatorContext(args);
    const { config } = ctx;
    const removed = await viaApplianceOrSpool(ctx,
      async (api) => {
        const answer = await api.request('POST', `/settings/filters/${encodeURIComponent(args.name)}/remove`);
        if (answer.status === 404) return false;
        if (answer.status !== 200) throw new CliError(errorOf(answer));
        return true;
      },
      async (_spool, store) => removeFilter(config, store, args.name),
      { action: 'settings.filters.remove', details: { name: args.name }, when: (removed) => removed });
    if (!removed) throw new CliError(`no filter named ${args.name} (see petspool filters list)`);
    process.stdout.write(`removed filter ${args.name}\n`);
  },
};

export const filtersCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'filters',
  describe: 'list|add|remove Gaussian post-filters (operator edits win over config.yaml)',
  builder: (y) => y.command([list, add, remove] as CommandModule<GlobalArgs, GlobalArgs>[])
    .demandCommand(1, 'Name an action: list, add or remove.'),
  handler: () => undefined,
};

function filterTable(filters: ListedFilter[]): string {
  if (filters.length === 0) return 'no post-filter: results cannot be delivered until one is added (petspool filters add)\n';
  const rows = filters.map((f) => [f.name, String(f.fwhm_mm), f.blend === undefined ? '' : String(f.blend),
    f.series_description ?? '', (f.scanner_models ?? []).join(', ') || 'any', (f.radiopharmaceuticals ?? []).join(', ') || 'any', f.source]);
  const header = ['NAME', 'FWHM (mm)', 'BLEND', 'SERIES DESCRIPTION', 'SCANNER MODELS', 'TRACERS', 'SOURCE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line), '', `${filters.length} filter${filters.length === 1 ? '' : 's'} (operator edits win over config.yaml)`].join('\n') + '\n';
}
