import { spawn, type ChildProcess } from 'node:child_process';
import { PETSPOOL_BIN } from './cli.js';

export interface ApplianceProcess {
  child: ChildProcess;
  /** Everything the process wrote on stderr so far (its console log). */
  log(): string;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
}

/** `bin/petspool start --config FILE` as a child process, resolved once it logged "petspool started". */
export async function startApplianceProcess(configFile: string, timeoutMs = 20_000): Promise<ApplianceProcess> {
  const child = spawn(PETSPOOL_BIN, ['start', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => { log += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + timeoutMs;
  while (!/petspool started/.test(log)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`appliance did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    log: () => log,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
