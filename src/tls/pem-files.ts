import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

/**
 * The PEM files of one TLS end (ours or the peer we check), read when a listener starts or a
 * connection opens, so a renewed certificate is taken without a restart of the sender. Every
 * problem is a TlsSetupError naming the config key and the file, so the operator knows which one.
 */

export interface TlsFiles {
  /** Where the files are configured, for messages: a config key group ("dicom.tls", "destinations[pacs].tls") or "--tls" (command-line flags). */
  where: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** A certificate, key or CA file that cannot be used. Not the peer's fault: fix the files or the config. */
export class TlsSetupError extends Error {
  override name = 'TlsSetupError';
}

type TlsFileKind = 'ca' | 'cert' | 'key';

/** How an operator finds the setting of one file: "dicom.tls.cert_file", or "--tls-cert" on the command line. */
export function tlsFileLabel(where: string, kind: TlsFileKind): string {
  return where.startsWith('--') ? `${where}-${kind}` : `${where}.${kind}_file`;
}

function readPem(file: string, kind: TlsFileKind, where: string): string {
  const label = tlsFileLabel(where, kind);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TlsSetupError(`TLS: cannot read ${label} ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!text.includes('-----BEGIN ')) throw new TlsSetupError(`TLS: ${label} ${file} is not a PEM file (no "-----BEGIN" line)`);
  return text;
}

/**
 * ca/cert/key for node:tls, checked by building a secure context from them: a key that does not
 * belong to the certificate, or a file that is no certificate, is reported here rather than as a
 * handshake failure the peer would see.
 */
export function loadTlsFiles(files: TlsFiles): Pick<SecureContextOptions, 'ca' | 'cert' | 'key'> {
  const { where } = files;
  const options: Pick<SecureContextOptions, 'ca' | 'cert' | 'key'> = {};
  if (files.caFile) options.ca = readPem(files.caFile, 'ca', where);
  if (files.certFile) options.cert = readPem(files.certFile, 'cert', where);
  if (files.keyFile) options.key = readPem(files.keyFile, 'key', where);
  try {
    createSecureContext(options);
  } catch (err) {
    const named = ([['cert', files.certFile], ['key', files.keyFile], ['ca', files.caFile]] as const)
      .filter(([, file]) => file).map(([kind, file]) => `${tlsFileLabel(where, kind)} ${file}`).join(', ');
    throw new TlsSetupError(`TLS: these files cannot be used together: ${named} (${(err as Error).message})`);
  }
  return options;
}
