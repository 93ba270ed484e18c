/** What `echo` and `send` share: the peer from AET@HOST:PORT and our calling AE title. */
import type { Argv } from 'yargs';
import { configFrom, type GlobalArgs } from './context.js';
import { CliError, EXIT } from './exit-codes.js';
import { parsePeer, type PeerSpec } from './parse-peer.js';
import type { PeerAddress } from '../dicom/scu.js';

export interface PeerArgs extends GlobalArgs {
  'calling-aet'?: string;
  timeout: number;
}

export function withPeerOptions<T extends GlobalArgs>(y: Argv<T>) {
  return y
    .option('calling-aet', { type: 'string', describe: 'our AE title (default: ae_title of the config)' })
    .option('timeout', { type: 'number', default: 30, describe: 'seconds to wait for the peer to answer' });
}

/** The peer to call, as scu.ts wants it; a bad AET@HOST:PORT or option is exit 2. */
export function peerAddress(target: string, args: PeerArgs): { peer: PeerAddress; spec: PeerSpec } {
  let spec: PeerSpec;
  try {
    spec = parsePeer(target);
  } catch (err) {
    throw new CliError((err as Error).message, EXIT.CONFIG);
  }
  if (!(args.timeout > 0)) throw new CliError('--timeout must be a positive number of seconds', EXIT.CONFIG);
  // The config is only read when it is needed: `--calling-aet` works without one.
  const callingAeTitle = args['calling-aet'] ?? configFrom(args).ae_title;
  return {
    spec,
    peer: { host: spec.host, port: spec.port, calledAeTitle: spec.aeTitle, callingAeTitle, timeoutMs: Math.round(args.timeout * 1000) },
  };
}
