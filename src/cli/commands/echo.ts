import type { CommandModule } from 'yargs';
import { printJson, type GlobalArgs } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { peerAddress, withPeerOptions, type PeerArgs } from '../dicom-peer-args.js';
import { formatPeer } from '../parse-peer.js';
import { echo } from '../../dicom/scu.js';

interface Args extends PeerArgs { target: string; json?: boolean }

/** How a C-ECHO ended, in the words an operator looks for. */
export type EchoOutcome = 'ok' | 'refused' | 'rejected' | 'timeout' | 'tls' | 'failed';

/** scu.ts reports each way an association fails with its own wording; name them here. */
function outcomeOf(message: string): EchoOutcome {
  if (/connection refused/i.test(message)) return 'refused';
  if (/association rejected/i.test(message)) return 'rejected';
  if (/no answer .* within/i.test(message)) return 'timeout';
  if (message.startsWith('TLS:')) return 'tls';
  return 'failed';
}

export const echoCommand: CommandModule<GlobalArgs, Args> = {
  command: 'echo <target>',
  describe: 'C-ECHO a DICOM peer given as AET@HOST:PORT (DICOM TLS with --tls-ca); exit 0 when it answers, 1 otherwise',
  builder: (y) => withPeerOptions(y)
    .positional('target', { type: 'string', demandOption: true, describe: 'AET@HOST:PORT, e.g. PACS@10.0.0.5:104' })
    .option('json', { type: 'boolean', describe: 'print JSON' }),
  handler: async (args) => {
    const { peer, spec } = peerAddress(args.target, args);
    const started = performance.now();
    let outcome: EchoOutcome = 'ok';
    let message = 'answered C-ECHO with Success';
    try {
      await echo(peer);
    } catch (err) {
      message = (err as Error).message;
      outcome = outcomeOf(message);
    }
    const ms = Math.round(performance.now() - started);
    const target = formatPeer(spec);
    if (args.json) printJson({ target, calling_ae_title: peer.callingAeTitle, ok: outcome === 'ok', outcome, message, ms });
    else if (outcome === 'ok') process.stdout.write(`${target}: ok, ${message} in ${ms} ms\n`);
    else process.stderr.write(`petspool: ${target}: ${outcome}: ${message}\n`);
    if (outcome !== 'ok') process.exitCode = EXIT.FAILED;
  },
};
