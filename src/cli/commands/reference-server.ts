import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { configFrom, type GlobalArgs } from '../context.js';
import { createLogger } from '../../log/logger.js';
import { startReferenceService } from '../../reference-service/reference-service.js';
import type { ReferenceFaults } from '../../reference-service/reference-faults.js';

interface Args extends GlobalArgs {
  host: string;
  port: number;
  outbox?: string;
  inbox?: string;
  token?: string;
  'callback-token'?: string;
  'fail-first': number;
  'delay-ms': number;
  'processing-delay-ms': number;
  'never-call-back': boolean;
  'lose-tasks': boolean;
  'tasks-route': boolean;
  result: NonNullable<ReferenceFaults['result']>;
  'tls-cert'?: string;
  'tls-key'?: string;
  'callback-ca'?: string;
}

/**
 * The reference processing service on its own (DESIGN.md "Remote service contract"): the share
 * folders and tokens default to the config's, so it pairs with an appliance whose remote.url points
 * at it. The fault options make it fail the way real services do.
 */
export const referenceServerCommand: CommandModule<GlobalArgs, Args> = {
  command: 'reference-server',
  describe: 'run the reference processing service on its own until SIGINT/SIGTERM',
  builder: (y) => y
    .option('host', { type: 'string', default: '127.0.0.1', describe: 'listen address' })
    .option('port', { type: 'number', default: 8000, describe: 'listen port (0 = any free port)' })
    .option('outbox', { type: 'string', describe: 'upload folder (default: the config\'s share.outbox)' })
    .option('inbox', { type: 'string', describe: 'results folder (default: the config\'s share.inbox)' })
    .option('token', { type: 'string', describe: 'bearer token callers must send (default: remote.token)' })
    .option('callback-token', { type: 'string', describe: 'token sent on the callback (default: api.callback_token)' })
    .option('fail-first', { type: 'number', default: 0, describe: 'answer 503 to the first N calls' })
    .option('delay-ms', { type: 'number', default: 0, describe: 'wait this long before every answer' })
    .option('processing-delay-ms', { type: 'number', default: 0, describe: 'wait this long before processing a task' })
    .option('never-call-back', { type: 'boolean', default: false, describe: 'write results but never call back' })
    .option('lose-tasks', { type: 'boolean', default: false, describe: 'accept tasks, then forget them' })
    .option('tasks-route', { type: 'boolean', default: true, describe: 'serve GET /tasks/{id} (--no-tasks-route: behave like a service without it)' })
    .option('result', { choices: ['ok', 'corrupt', 'zip-slip', 'zip-bomb'] as const, default: 'ok' as const, describe: 'what to write as the result' })
    .option('tls-cert', { type: 'string', describe: 'serve https with this certificate (PEM file; with --tls-key)' })
    .option('tls-key', { type: 'string', describe: 'the key of --tls-cert (PEM file)' })
    .option('callback-ca', { type: 'string', describe: 'CA (PEM file) an https callback URL\'s certificate is checked against (default: the system\'s trust store)' })
    .check((a) => {
      if (!a['tls-cert'] !== !a['tls-key']) throw new Error('--tls-cert and --tls-key go together: give both or neither');
      return true;
    }),
  handler: async (args) => {
    const config = configFrom(args);
    const log = createLogger();
    const outboxDir = path.resolve(args.outbox ?? config.share.outbox);
    const inboxDir = path.resolve(args.inbox ?? config.share.inbox);
    await mkdir(outboxDir, { recursive: true });
    await mkdir(inboxDir, { recursive: true });
    const service = await startReferenceService({
      host: args.host, port: args.port, token: args.token ?? config.remote.token,
      callbackToken: args['callback-token'] ?? config.api.callback_token, outboxDir, inboxDir, licences: { active: true },
      faults: {
        failNextCalls: args['fail-first'], responseDelayMs: args['delay-ms'], processingDelayMs: args['processing-delay-ms'],
        neverCallBack: args['never-call-back'], loseTasks: args['lose-tasks'], noTasksRoute: !args['tasks-route'],
        result: args.result,
      },
      logger: log,
      tls: args['tls-cert'] && args['tls-key'] ? { certFile: path.resolve(args['tls-cert']), keyFile: path.resolve(args['tls-key']) } : undefined,
      callbackCaFile: args['callback-ca'] && path.resolve(args['callback-ca']),
    });
    process.stdout.write(`reference processing service listening on ${service.url} (uploads ${outboxDir}, results ${inboxDir})\n`);
    await new Promise<void>((resolve) => {
      const keepAlive = setInterval(() => undefined, 60_000);
      const shutdown = (signal: string) => {
        log.info(`${signal} received, stopping the reference service`);
        void service.close().then(() => {
          clearInterval(keepAlive);
          resolve();
        });
      };
      process.once('SIGINT', () => shutdown('SIGINT'));
      process.once('SIGTERM', () => shutdown('SIGTERM'));
    });
  },
};
