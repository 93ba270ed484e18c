/**
 * No import cycles in src/, between files or between the folders under src/ (a folder cycle, such
 * as stages/ importing app/ and app/ importing stages/, shows a responsibility in the wrong place
 * even when no two files import each other). Reads the TypeScript sources with madge, resolving
 * the '.js' specifiers through tsconfig.json; type-only imports count too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import madge from 'madge';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SRC = path.join(ROOT, 'src');

/** src/'s import graph, read once for the three tests: file (relative to src/) → the files it imports. */
const analysis = madge(SRC, { fileExtensions: ['ts'], tsConfig: path.join(ROOT, 'tsconfig.json') });

/** The folder under src/ a file is in ("." for a file in src/ itself). */
function folderOf(file: string): string {
  return file.includes('/') ? file.slice(0, file.indexOf('/')) : '.';
}

/**
 * The cycles between folders, each as the file imports that make it up: for every pair of folders
 * A→B that is part of a cycle (B reaches A again), the imports from A into B.
 */
function folderCycles(graph: Record<string, string[]>): string[] {
  const edges = new Map<string, Map<string, string[]>>();
  for (const [file, deps] of Object.entries(graph)) {
    for (const dep of deps) {
      const [from, to] = [folderOf(file), folderOf(dep)];
      if (from === to) continue;
      const byTarget = edges.get(from) ?? new Map<string, string[]>();
      edges.set(from, byTarget);
      byTarget.set(to, [...(byTarget.get(to) ?? []), `${file} -> ${dep}`]);
    }
  }
  const reaches = (start: string, goal: string): boolean => {
    const seen = new Set<string>();
    const todo = [start];
    while (todo.length > 0) {
      const folder = todo.pop()!;
      if (folder === goal) return true;
      if (seen.has(folder)) continue;
      seen.add(folder);
      todo.push(...(edges.get(folder)?.keys() ?? []));
    }
    return false;
  };
  const found: string[] = [];
  for (const [from, byTarget] of edges) {
    for (const [to, imports] of byTarget) {
      if (reaches(to, from)) found.push(`${from}/ -> ${to}/ (and back): ${imports.join(', ')}`);
    }
  }
  return found;
}

test('madge sees every TypeScript file of src/ and resolves every import', async () => {
  const result = await analysis;
  const graph = result.obj();
  const sources = (await readdir(SRC, { recursive: true })).filter((f) => f.endsWith('.ts'));
  assert.deepEqual(Object.keys(graph).sort(), sources.map((f) => f.split(path.sep).join('/')).sort());
  assert.deepEqual(result.warnings().skipped, [], 'imports madge could not resolve (a cycle through them would go unseen)');
  assert.ok(graph['stages/sender.ts']!.includes('delivery/deliver-series.ts'), 'a known import is in the graph');
});

test('no import cycle between files of src/', async () => {
  const cycles = (await analysis).circular().map((cycle) => cycle.join(' -> '));
  assert.deepEqual(cycles, [], `import cycles:\n${cycles.join('\n')}`);
});

test('no import cycle between the folders of src/', async () => {
  const cycles = folderCycles((await analysis).obj());
  assert.deepEqual(cycles, [], `folder cycles:\n${cycles.join('\n')}`);
});
