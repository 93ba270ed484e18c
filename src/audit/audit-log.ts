/**
 * The append-only audit log (spool/logs/audit.jsonl): one JSON line per operator action and login,
 * naming who, in which role, when, what, on which task, and from where. Every line is appended
 * through O_APPEND and fsync'ed before the caller goes on, so a line once written survives a crash,
 * and the running appliance and a CLI command can both append without overwriting each other.
 */
import { open, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export const AUDIT_FILE = 'audit.jsonl';

export interface AuditEntry {
  at: string;
  who: string;
  role: string;
  /** e.g. login, login_failed, qc.approve, task.retry, settings.filters.add */
  action: string;
  task?: string;
  details?: unknown;
  /** Client address of the request, or "cli" for a command run on the appliance machine. */
  client: string;
}

export class AuditLog {
  private tail: Promise<void> = Promise.resolve();

  constructor(readonly file: string) {}

  /** The audit log of a spool folder. */
  static inSpool(spoolDir: string): AuditLog {
    return new AuditLog(path.join(spoolDir, 'logs', AUDIT_FILE));
  }

  /** Append one entry (now, unless `at` is given); resolves once it is on disk. Appends are written in call order. */
  append(entry: Omit<AuditEntry, 'at'> & { at?: string }): Promise<void> {
    const { at, ...rest } = entry;
    const line = `${JSON.stringify({ at: at ?? new Date().toISOString(), ...rest })}\n`;
    const write = this.tail.then(() => this.write(line));
    this.tail = write.catch(() => undefined);
    return write;
  }

  private async write(line: string): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const fh = await open(this.file, 'a', 0o640);
    try {
      await fh.write(line);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

/** Every entry of an audit file, oldest first (an absent file is an empty log). */
export async function readAuditLog(file: string): Promise<AuditEntry[]> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as AuditEntry);
}
