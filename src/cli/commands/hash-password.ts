/**
 * petspool hash-password: reads an operator's password from stdin (hidden when typed on a terminal,
 * asked twice) and prints the scrypt string for api.operators[].password_scrypt in config.yaml.
 */
import type { CommandModule } from 'yargs';
import type { GlobalArgs } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { hashPassword } from '../../api/auth/password-hash.js';

const MIN_PASSWORD_LENGTH = 10;

export const hashPasswordCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'hash-password',
  describe: 'read a password from stdin, print the password_scrypt string for api.operators in config.yaml',
  handler: async () => {
    let password: string;
    if (process.stdin.isTTY) {
      password = await hiddenLine('Password: ');
      if ((await hiddenLine('Again: ')) !== password) throw new CliError('the two passwords differ; nothing printed', EXIT.CONFIG);
    } else {
      password = (await readAll(process.stdin)).replace(/\r?\n$/, '');
    }
    if (password.length < MIN_PASSWORD_LENGTH) {
      throw new CliError(`the password has ${password.length} characters: use at least ${MIN_PASSWORD_LENGTH} (a few words make a good one)`, EXIT.CONFIG);
    }
    process.stdout.write(`${await hashPassword(password)}\n`);
  },
};

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** One line typed on the terminal, not echoed. */
function hiddenLine(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let line = '';
    const onData = (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          done();
          resolve(line);
          return;
        }
        if (ch === '\u0003') {
          done();
          reject(new CliError('interrupted', EXIT.FAILED));
          return;
        }
        line = ch === '\u007f' ? line.slice(0, -1) : line + ch;
      }
    };
    const done = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}
