import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const PETSPOOL_BIN = path.join(REPO_ROOT, 'bin', 'petspool');

export interface CliResult { code: number; stdout: string; stderr: string }

/** Run the real bin/petspool. */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(PETSPOOL_BIN, args, { env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
  });
}

/**
 * A config file in a fresh temp folder (spool inside it), derived from the shipped config.yaml
 * with `changes` applied on top (deep merge of plain objects, arrays replaced).
 */
export async function tempConfig(changes: Record<string, unknown> = {}): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'petspool-test-'));
  const doc = YAML.parse(await readFile(path.join(REPO_ROOT, 'config.yaml'), 'utf8'));
  const merged = merge(doc, { spool_dir: './spool', database: './spool/petspool.json',
    share: { outbox: './share/outbox', inbox: './share/inbox' }, ...changes });
  const file = path.join(dir, 'config.yaml');
  await writeFile(file, YAML.stringify(merged));
  return { dir, file };
}

function merge(base: unknown, over: unknown): unknown {
  if (over === null || typeof over !== 'object' || Array.isArray(over)) return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? merge(out[k], v) : v;
  return out;
}
