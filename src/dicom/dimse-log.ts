import { createRequire } from 'node:module';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';

const dimse = createRequire(import.meta.url)('dcmjs-dimse') as typeof import('dcmjs-dimse');

let target: Logger = silentLogger;
let installed = false;

/**
 * dcmjs-dimse logs through a process-wide loglevel logger that prints to the console by default.
 * Route its lines to `logger` (the SCP's) at debug level; without a logger they are dropped.
 */
export function routeDimseLog(logger?: Logger): void {
  if (logger) target = logger;
  if (installed) return;
  installed = true;
  dimse.log.methodFactory = () => (...args: unknown[]) => target.debug(`dcmjs-dimse: ${args.map(String).join(' ')}`);
  dimse.log.setLevel('trace');
}
