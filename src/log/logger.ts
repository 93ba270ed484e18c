import path from 'node:path';
import winston from 'winston';
import DailyRotateFile from 'winston-daily-rotate-file';

export type Logger = winston.Logger;

export interface LoggerOptions {
  /** Folder for the JSON-lines log files (rotated daily); none = console only. */
  logDir?: string;
  /** Console level; PETSPOOL_LOG_LEVEL overrides. */
  level?: string;
  /** No console output (tests, `--json` commands). */
  quiet?: boolean;
}

/**
 * Human-readable console lines and JSON lines in a daily file. Log task facts with
 * `log.child({ task: id })` so every line about a task carries its id. Patient names and IDs are
 * logged at debug level only.
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = process.env.PETSPOOL_LOG_LEVEL ?? opts.level ?? 'info';
  const transports: winston.transport[] = [];
  if (!opts.quiet) {
    transports.push(new winston.transports.Console({
      level,
      stderrLevels: ['error', 'warn', 'info', 'debug'],
      format: winston.format.combine(
        winston.format.timestamp({ format: 'HH:mm:ss' }),
        winston.format.printf(({ timestamp, level: lvl, message, task, stage, ...rest }) => {
          const tags = [stage, task].filter(Boolean).map((t) => `[${String(t)}]`).join('');
          const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
          return `${String(timestamp)} ${lvl.padEnd(5)} ${tags ? tags + ' ' : ''}${String(message)}${extra}`;
        }),
      ),
    }));
  }
  if (opts.logDir) {
    transports.push(new DailyRotateFile({
      level: 'debug',
      dirname: opts.logDir,
      filename: 'petspool-%DATE%.jsonl',
      datePattern: 'YYYY-MM-DD',
      maxFiles: '30d',
      format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    }));
  }
  if (transports.length === 0) transports.push(new winston.transports.Console({ silent: true }));
  return winston.createLogger({ level: 'debug', transports });
}

/** A logger that drops everything (library code called without one). */
export const silentLogger: Logger = winston.createLogger({ transports: [new winston.transports.Console({ silent: true })] });

export function logDirFor(spoolDir: string): string {
  return path.join(spoolDir, 'logs');
}
