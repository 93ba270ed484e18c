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
  dimse.association.Association.prototype.toString = describeAssociation;
}

/**
 * dcmjs-dimse puts a whole association into its log lines on request and on accept, every
 * presentation context named by searching its UID tables: about 5 ms for storescu's 128
 * contexts, twice per association, on the SCP's thread and whether or not debug lines are kept
 * (20 associations opening at once held the other associations' instances up for 0.2-0.5 s).
 * One line with what identifies the association instead.
 */
function describeAssociation(this: import('dcmjs-dimse').association.Association): string {
  const contexts = this.getPresentationContexts();
  const accepted = contexts.filter(({ context }) => context.getResult() === dimse.constants.PresentationContextResult.Accept).length;
  return `${this.getCallingAeTitle().trim()} -> ${this.getCalledAeTitle().trim()}, ${contexts.length} presentation contexts (${accepted} accepted), max PDU ${this.getMaxPduLength()}`;
}
