import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { configSchema, type Config } from './schema.js';

/** The repository (package) root: dist/src/config/load.js is three levels below it. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DEFAULT_CONFIG_PATH = path.join(PACKAGE_ROOT, 'config.yaml');

/** A config the appliance refuses to start with; `problems` are "dotted.path: message" lines. */
export class ConfigError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file} is not a valid petspool configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** A loaded config plus where it came from, with every path made absolute. */
export interface LoadedConfig extends Config {
  /** Absolute path of the file this config was read from. */
  configPath: string;
}

export function resolveConfigPath(explicit?: string): string {
  return path.resolve(explicit ?? process.env.PETSPOOL_CONFIG ?? DEFAULT_CONFIG_PATH);
}

/** Validate a parsed document: every problem is listed, none stops the others being found. */
export function validateConfig(doc: unknown, file = '<config>'): LoadedConfig {
  const result = configSchema.safeParse(doc);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const where = issue.path.length ? issue.path.map(String).join('.') : '(top level)';
      const message = issue.code === 'unrecognized_keys'
        ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (check the spelling)`
        : issue.message;
      return `${where}: ${message}`;
    });
    throw new ConfigError(file, problems);
  }
  const base = path.dirname(path.resolve(file));
  const abs = (p: string) => path.resolve(base, p);
  /** The given keys of a TLS group made absolute (absent keys stay absent). */
  const absFiles = <T extends { ca_file?: string; cert_file?: string; key_file?: string }>(group: T): T => ({
    ...group,
    ...(group.ca_file !== undefined && { ca_file: abs(group.ca_file) }),
    ...(group.cert_file !== undefined && { cert_file: abs(group.cert_file) }),
    ...(group.key_file !== undefined && { key_file: abs(group.key_file) }),
  });
  const c = result.data;
  return {
    ...c,
    configPath: path.resolve(file),
    spool_dir: abs(c.spool_dir),
    database: abs(c.database),
    share: { ...c.share, outbox: abs(c.share.outbox), inbox: abs(c.share.inbox) },
    dicom: c.dicom.tls ? { ...c.dicom, tls: absFiles(c.dicom.tls) } : c.dicom,
    remote: absFiles(c.remote),
    destinations: c.destinations.map((d) => (d.tls ? { ...d, tls: absFiles(d.tls) } : d)),
    api: { ...c.api, ...(c.api.tls ? { tls: { cert_file: abs(c.api.tls.cert_file), key_file: abs(c.api.tls.key_file) } } : {}) },
  };
}

export function loadConfig(explicit?: string): LoadedConfig {
  const file = resolveConfigPath(explicit);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`(file): cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)}); pass --config FILE or set PETSPOOL_CONFIG`]);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text, { prettyErrors: true });
  } catch (err) {
    throw new ConfigError(file, [`(file): not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  return validateConfig(doc, file);
}
