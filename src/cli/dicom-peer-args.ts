/** What `echo` and `send` share: the peer from AET@HOST:PORT, our calling AE title, DICOM TLS. */
import path from 'node:path';
import type { Argv } from 'yargs';
import { configFrom, type GlobalArgs } from './context.js';
import { CliError, EXIT } from './exit-codes.js';
import { parsePeer, type PeerSpec } from './parse-peer.js';
import type { PeerAddress, PeerTls } from '../dicom/scu.js';

export interface PeerArgs extends GlobalArgs {
  'calling-aet'?: string;
  timeout: number;
  'tls-ca'?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
}

export function withPeerOptions<T extends GlobalArgs>(y: Argv<T>) {
  return y
    .option('calling-aet', { type: 'string', describe: 'our AE title (default: ae_title of the config)' })
    .option('timeout', { type: 'number', default: 30, describe: 'seconds to wait for the peer to answer' })
    .option('tls-ca', { type: 'string', describe: 'DICOM TLS: PEM file of the CA that signed the peer\'s certificate' })
    .option('tls-cert', { type: 'string', describe: 'DICOM TLS: PEM file of our client certificate (with --tls-key)' })
    .option('tls-key', { type: 'string', describe: 'DICOM TLS: PEM file of the key of --tls-cert' });
}

/** TLS settings from --tls-ca/--tls-cert/--tls-key; none without --tls-ca (the peer is always checked). */
function peerTls(args: PeerArgs): PeerTls | undefined {
  const { 'tls-ca': caFile, 'tls-cert': certFile, 'tls-key': keyFile } = args;
  if (!caFile) {
    if (certFile || keyFile) throw new CliError('--tls-cert/--tls-key need --tls-ca (the CA the peer\'s certificate is checked against)', EXIT.CONFIG);
    return undefined;
  }
  if (!certFile !== !keyFile) throw new CliError('--tls-cert and --tls-key go together: give both or neither', EXIT.CONFIG);
  const abs = (file: string | undefined) => file && path.resolve(file);
  return { caFile: path.resolve(caFile), certFile: abs(certFile), keyFile: abs(keyFile), where: '--tls' };
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
  const tls = peerTls(args);
  const callingAeTitle = args['calling-aet'] ?? configFrom(args).ae_title;
  return {
    spec,
    peer: { host: spec.host, port: spec.port, calledAeTitle: spec.aeTitle, callingAeTitle, timeoutMs: Math.round(args.timeout * 1000), ...(tls && { tls }) },
  };
}
