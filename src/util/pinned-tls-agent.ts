/**
 * An HTTPS agent that trusts exactly one server certificate, for petspool talking to its own API
 * (the CLI on the appliance machine, the embedded reference service's callback): the certificate
 * in api.tls.cert_file is known, so it is pinned by its SHA-256 fingerprint rather than checked
 * against CAs and host names (a hospital certificate names the appliance's DNS name, not
 * 127.0.0.1). The request is written only after the fingerprint matched.
 */
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { X509Certificate } from 'node:crypto';

export class CertificateMismatchError extends Error {
  constructor(readonly expected: string, readonly presented: string) {
    super(`the server presented certificate ${presented}, not the pinned ${expected} (api.tls.cert_file): another program may be listening there`);
    this.name = 'CertificateMismatchError';
  }
}

/** The SHA-256 fingerprint of the first certificate of a PEM text (the server's own, before any chain). */
export function fingerprintOf(pem: string | Buffer): string {
  return new X509Certificate(pem).fingerprint256;
}

export class PinnedCertificateAgent extends https.Agent {
  private readonly fingerprint: string;

  constructor(certPem: string | Buffer) {
    super({ keepAlive: false });
    this.fingerprint = fingerprintOf(certPem);
  }

  override createConnection(options: tls.ConnectionOptions, done: (err: Error | null, socket?: Duplex) => void): undefined {
    // The chain is not verified (rejectUnauthorized: false): the fingerprint check below replaces it.
    const socket = tls.connect({ ...options, rejectUnauthorized: false });
    let settled = false;
    const finish = (err: Error | null) => {
      if (settled) return;
      settled = true;
      if (err) {
        socket.destroy();
        done(err);
      } else {
        done(null, socket);
      }
    };
    socket.once('secureConnect', () => {
      const presented = socket.getPeerCertificate().fingerprint256;
      finish(presented === this.fingerprint ? null : new CertificateMismatchError(this.fingerprint, presented));
    });
    socket.once('error', (err) => finish(err));
    return undefined;
  }
}
