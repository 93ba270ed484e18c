import type { CommandModule } from 'yargs';
import type { GlobalArgs } from '../context.js';
import { startCommand } from './start.js';
import { statusCommand } from './status.js';
import { doctorCommand } from './doctor.js';
import { notImplementedYet } from './not-yet.js';
import { referenceServerCommand } from './reference-server.js';
import { tasksCommand } from './tasks.js';
import { synthCommand } from './synth.js';
import { echoCommand } from './echo.js';
import { sendCommand } from './send.js';
import { cleanupCommand } from './cleanup.js';
import { radiopharmaceuticalsCommand } from './radiopharmaceuticals.js';
import { submitCommand } from './submit.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- yargs command modules differ in their argument types
export const commands: CommandModule<GlobalArgs, any>[] = [
  startCommand,
  notImplementedYet('demo', 'run the whole flow end to end on a synthetic series with the embedded service'),
  statusCommand,
  tasksCommand,
  notImplementedYet('qc <action> [id]', 'list|approve|reject tasks held for quality control'),
  submitCommand,
  echoCommand,
  sendCommand,
  radiopharmaceuticalsCommand,
  notImplementedYet('filters <action> [name]', 'list|add|remove Gaussian post-filters'),
  cleanupCommand,
  synthCommand,
  referenceServerCommand,
  doctorCommand,
];
