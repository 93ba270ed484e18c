/**
 * A failed TLS connection in an operator's words: whose certificate, what is wrong with it, and
 * which trust it was checked against. Node reports these as OpenSSL codes (UNABLE_TO_VERIFY_LEAF_SIGNATURE,
 * ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED...) that say nothing to a PACS administrator.
 */

export interface TlsPeer {
  /** host:port as configured. */
  address: string;
  /** What the peer's certificate was checked against, e.g. "ca_file /etc/petspool/pacs-ca.pem". */
  trust: string;
}

/** The peer's certificate chains to no certificate we trust. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
]);
/** The peer refused the certificate we showed it. */
const OUR_CERTIFICATE_REFUSED = new Set([
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE', 'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR', 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
]);

/**
 * A human message for a TLS failure on a connection to `peer`; undefined when `err` is no TLS
 * failure. `inHandshake`: the handshake had not finished, so a dropped connection is the peer
 * refusing TLS (a plain DICOM port resets on our ClientHello), not a network fault.
 */
export function describeTlsFailure(err: NodeJS.ErrnoException, peer: TlsPeer, inHandshake: boolean): string | undefined {
  const code = err.code ?? '';
  const at = peer.address;
  if (inHandshake && (code === 'ECONNRESET' || code === 'EPIPE')) {
    return `TLS: ${at} closed the connection during the TLS handshake (${code}); is it the peer's plain, unencrypted port, or does it refuse our certificate?`;
  }
  if (UNTRUSTED.has(code)) return `TLS: certificate of ${at} not trusted by ${peer.trust} (${code}); give the CA that signed it`;
  if (code === 'CERT_HAS_EXPIRED') return `TLS: certificate of ${at} has expired (${code}); the peer must renew it`;
  if (code === 'CERT_NOT_YET_VALID') return `TLS: certificate of ${at} is not valid yet (${code}); check the clocks`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    // Node adds the peer's certificate and the host it was checked for.
    const { cert, host } = err as NodeJS.ErrnoException & { host?: string; cert?: { subjectaltname?: string; subject?: { CN?: string } } };
    const names = cert?.subjectaltname || (cert?.subject?.CN ? `CN=${cert.subject.CN}` : 'no names');
    return `TLS: certificate of ${at} is for ${names}, not ${host ?? 'the host connected to'} (${code}); connect by a name the certificate lists`;
  }
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') {
    return `TLS: ${at} requires a client certificate; set cert_file and key_file`;
  }
  if (OUR_CERTIFICATE_REFUSED.has(code)) return `TLS: ${at} refused our client certificate (${code}); it must be signed by a CA the peer trusts`;
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    return `TLS: ${at} does not speak TLS (${code}); is it the peer's plain, unencrypted port?`;
  }
  if (code === 'ERR_SSL_UNSUPPORTED_PROTOCOL' || code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION') {
    return `TLS: ${at} offers no TLS version we accept (1.2 or later) (${code})`;
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || /certificate/i.test(code)) {
    return `TLS: handshake with ${at} failed (${code}: ${err.message})`;
  }
  return undefined;
}
