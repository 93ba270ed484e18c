import type { CommandModule } from 'yargs';
import type { GlobalArgs } from '../context.js';
import { startCommand } from './start.js';
import { statusCommand } from './status.js';
import { doctorCommand } from './doctor.js';
import { demoCommand } from './demo.js';
import { referenceServerCommand } from './reference-server.js';
import { tasksCommand } from './tasks.js';
import { synthCommand } from './synth.js';
import { echoCommand } from './echo.js';
import { sendCommand } from './send.js';
import { cleanupCommand } from './cleanup.js';
import { radiopharmaceuticalsCommand } from './radiopharmaceuticals.js';
import { submitCommand } from './submit.js';
import { qcCommand } from './qc.js';
import { filtersCommand } from './filters.js';
import { hashPasswordCommand } from './hash-password.js';
import { auditCommand } from './audit.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- yargs command modules differ in their argument types
export const commands: CommandModule<GlobalArgs, any>[] = [
  startCommand,
  demoCommand,
  statusCommand,
  tasksCommand,
  qcCommand,
  submitCommand,
  echoCommand,
  sendCommand,
  radiopharmaceuticalsCommand,
  filtersCommand,
  auditCommand,
  hashPasswordCommand,
  cleanupCommand,
  synthCommand,
  referenceServerCommand,
  doctorCommand,
];
