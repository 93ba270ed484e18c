import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

/**
 * The PEM files of one TLS end (ours or the peer we check), read when a listener starts or a
 * connection opens, so a renewed certificate is taken without a restart of the sender. Every
 * problem is a TlsSetupError naming the config key and the file, so the operator knows which one.
 */

/** Where the files are configured, e.g. "dicom.tls" or "destinations[pacs].tls". */
export interface TlsFiles {
  /** Config path of the key group, used in messages. */
  where: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** A certificate, key or CA file that cannot be used. Not the peer's fault: fix the files or the config. */
export class TlsSetupError extends Error {
  override name = 'TlsSetupError';
}

function readPem(file: string, key: string, where: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TlsSetupError(`TLS: cannot read ${where}.${key} ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!text.includes('-----BEGIN ')) throw new TlsSetupError(`TLS: ${where}.${key} ${file} is not a PEM file (no "-----BEGIN" line)`);
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
  if (files.caFile) options.ca = readPem(files.caFile, 'ca_file', where);
  if (files.certFile) options.cert = readPem(files.certFile, 'cert_file', where);
  if (files.keyFile) options.key = readPem(files.keyFile, 'key_file', where);
  try {
    createSecureContext(options);
  } catch (err) {
    const named = [files.certFile && `cert_file ${files.certFile}`, files.keyFile && `key_file ${files.keyFile}`, files.caFile && `ca_file ${files.caFile}`]
      .filter(Boolean).join(', ');
    throw new TlsSetupError(`TLS: ${where} files cannot be used together (${named}): ${(err as Error).message}`);
  }
  return options;
}
