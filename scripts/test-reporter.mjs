/**
 * The test reporter of `npm test`: Node's own (TAP when the output is not a terminal, as in CI;
 * spec on a terminal), with the line coverage of src/ per folder and overall printed just before
 * the run's closing summary (`# tests`, `# pass`, `# fail`, ...), which stays the last thing printed.
 *
 * Coverage: `npm test` runs the tests with NODE_V8_COVERAGE set, so every test process, the
 * appliance processes the tests start and their worker threads write V8's raw coverage there.
 * Once the last test file has finished, c8's report (v8-to-istanbul) turns it into lines of the
 * TypeScript sources through dist/'s source maps. Every src/**.ts counts, those no test loaded with
 * all their lines uncovered. src/dashboard/ is browser code, run by the dashboard test in Chromium,
 * where V8's coverage of Node does not reach: left out. (Node 20's own --experimental-test-coverage
 * stops with "Could not report code coverage" on this code base's source maps.)
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { spec, tap } from 'node:test/reporters';
import c8 from 'c8';

export default async function* reporter(source) {
  const events = Readable.from(withCoverageSummary(source), { objectMode: true });
  if (process.stdout.isTTY) yield* events.pipe(spec());
  else yield* tap(events);
}

/** The run's events, with the coverage lines before the closing summary. */
async function* withCoverageSummary(source) {
  // Diagnostics of the root come from tests too (t.diagnostic); only those no other event follows
  // are the closing summary. Held back until the next event shows which they are.
  let held = [];
  for await (const event of source) {
    if (event.type === 'test:diagnostic' && event.data.nesting === 0) {
      held.push(event);
      continue;
    }
    yield* held;
    held = [];
    yield event;
  }
  const coverageDir = process.env.NODE_V8_COVERAGE;
  if (coverageDir) {
    let lines;
    try {
      lines = await coverageLines(coverageDir);
    } catch (err) {
      lines = [`line coverage of src/ could not be computed: ${err.message}`];
    }
    for (const message of lines) yield { type: 'test:diagnostic', data: { nesting: 0, message } };
  }
  yield* held;
}

/** Per folder of src/ and overall: covered lines of all lines; branches and functions overall. */
async function coverageLines(coverageDir) {
  const compiledSources = await onlyCompiledSources(coverageDir);
  try {
    return await summarise(compiledSources);
  } finally {
    await rm(compiledSources, { recursive: true, force: true });
  }
}

/**
 * The raw coverage of every process and thread holds every script it ran (Node's own, node_modules):
 * about 4 MB a file, 1.8 GB for the whole suite. Kept: the scripts of dist/src/ and their source
 * maps, one file at a time, into a folder of its own; the raw files are removed as they are read.
 */
async function onlyCompiledSources(coverageDir) {
  const kept = await mkdtemp(path.join(os.tmpdir(), 'petspool-coverage-'));
  const prefix = pathToFileURL(path.resolve('dist/src')).href + '/';
  for (const name of await readdir(coverageDir)) {
    if (!name.endsWith('.json')) continue;
    const file = path.join(coverageDir, name);
    let raw;
    try {
      raw = JSON.parse(await readFile(file, 'utf8'));
    } catch {
      continue; // a process killed while writing it
    }
    await rm(file, { force: true });
    const result = (raw.result ?? []).filter((script) => script.url.startsWith(prefix));
    if (result.length === 0) continue;
    const maps = Object.fromEntries(Object.entries(raw['source-map-cache'] ?? {}).filter(([url]) => url.startsWith(prefix)));
    await writeFile(path.join(kept, name), JSON.stringify({ result, 'source-map-cache': maps }));
  }
  return kept;
}

async function summarise(coverageDir) {
  const report = new c8.Report({
    tempDirectory: coverageDir,
    reporter: [],
    include: ['dist/src/**/*.js'],
    exclude: ['dist/src/dashboard/**'],
    excludeNodeModules: true,
    all: true,
    src: [path.resolve('dist/src')],
  });
  const map = await report.getCoverageMapFromAllCoverageFiles();
  const folders = new Map();
  for (const file of map.files()) {
    const folder = path.relative(process.cwd(), path.dirname(file));
    const summary = map.fileCoverageFor(file).toSummary();
    const sum = folders.get(folder) ?? { total: 0, covered: 0 };
    sum.total += summary.lines.total;
    sum.covered += summary.lines.covered;
    folders.set(folder, sum);
  }
  const total = map.getCoverageSummary();
  const width = Math.max(...[...folders.keys()].map((k) => k.length));
  const lines = ['line coverage of src/ by folder:'];
  for (const [folder, sum] of [...folders].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`  ${folder.padEnd(width)} ${percent(sum.covered, sum.total).padStart(5)} % of ${sum.total} lines`);
  }
  lines.push(`line coverage of src/: ${percent(total.lines.covered, total.lines.total)} % (${total.lines.covered} of ${total.lines.total} lines; `
    + `branches ${percent(total.branches.covered, total.branches.total)} %, functions ${percent(total.functions.covered, total.functions.total)} %; `
    + `${map.files().length} files)`);
  return lines;
}

function percent(part, whole) {
  return whole === 0 ? '100.0' : ((100 * part) / whole).toFixed(1);
}
