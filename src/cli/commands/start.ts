import type { CommandModule } from 'yargs';
import { configFrom, type GlobalArgs } from '../context.js';
import { createLogger, logDirFor } from '../../log/logger.js';
import { Appliance } from '../../app/appliance.js';
import { assembleAppliance } from '../../app/assembly.js';
import { readApiTls } from '../../app/api-service.js';

export const startCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'start',
  describe: 'run the appliance (Store SCP, hot folder, stages, API) until SIGINT/SIGTERM',
  handler: async (args) => {
    const config = configFrom(args);
    await readApiTls(config); // a missing or wrong certificate is a config error before anything listens
    const log = createLogger({ logDir: logDirFor(config.spool_dir) });
    const appliance = new Appliance(config, log, assembleAppliance);
    await appliance.start();
    await new Promise<void>((resolve) => {
      // The stages' timers do not hold the process open; this does, until a signal arrives.
      const keepAlive = setInterval(() => undefined, 60_000);
      const shutdown = (signal: string) => {
        log.info(`${signal} received, stopping (in-flight jobs finish first)`);
        void appliance.stop().then(() => {
          clearInterval(keepAlive);
          resolve();
        });
      };
      process.once('SIGINT', () => shutdown('SIGINT'));
      process.once('SIGTERM', () => shutdown('SIGTERM'));
    });
    // Everything is stopped and on disk; timers a library leaves behind (chokidar's write-finish
    // polls) must not keep a stopped appliance alive. Let the log file flush, then exit.
    await new Promise<void>((resolve) => {
      log.on('finish', () => resolve());
      log.end();
      setTimeout(resolve, 2000).unref();
    });
    process.exit(0);
  },
};
