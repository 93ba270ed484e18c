import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../log/logger.js';
import { loadTlsFiles } from '../tls/pem-files.js';

/**
 * The Store SCP's listening sockets: the plain DICOM port and/or the DICOM TLS port (registered
 * port 2762). Both hand their connections to the same association handler, so AE title checks,
 * the association limit and the idle timeout are the same on both; only how bytes travel differs.
 */

export interface ScpTlsOptions {
  /** 0 = any free port. */
  port: number;
  certFile: string;
  keyFile: string;
  /** CA(s) whose client certificates are accepted; needed when requireClientCertificate. */
  caFile?: string;
  /** Refuse a peer without a certificate signed by caFile (the usual DICOM TLS site set-up). */
  requireClientCertificate: boolean;
}

export interface ListenOptions {
  host: string;
  /** The plain port (0 = any free port); undefined = no plain listener. */
  port?: number;
  tls?: ScpTlsOptions;
  /** A TLS handshake not finished in this long is dropped (the association's idle timer starts after it). */
  handshakeTimeoutMs: number;
  aeTitle: string;
  logger: Logger;
}

export interface ScpListeners {
  /** Ports actually listened on. */
  port?: number;
  tlsPort?: number;
  close(): Promise<void>;
}

export async function listenForAssociations(opts: ListenOptions, onConnection: (socket: net.Socket) => void): Promise<ScpListeners> {
  if (opts.port === undefined && !opts.tls) throw new Error('Store SCP: neither a plain nor a TLS port to listen on');
  // Every TCP connection, TLS ones from their first byte (a handshake still under way must not hold up close()).
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const accept = (socket: net.Socket): void => {
    // DICOM answers are small PDUs awaited by the sender: never hold them back (Nagle).
    socket.setNoDelay(true);
    onConnection(socket);
  };
  const servers: net.Server[] = [];
  const listeners: ScpListeners = { close: () => closeAll(servers, sockets) };
  try {
    if (opts.port !== undefined) {
      const server = net.createServer({ noDelay: true }, accept);
      server.on('connection', track);
      servers.push(server);
      listeners.port = await listen(server, opts.port, opts.host);
      opts.logger.info(`Store SCP ${opts.aeTitle} listening on ${opts.host}:${listeners.port}`);
    }
    if (opts.tls) {
      const server = tlsServer(opts.tls, opts, accept);
      server.on('connection', track);
      servers.push(server);
      listeners.tlsPort = await listen(server, opts.tls.port, opts.host);
      const clients = opts.tls.requireClientCertificate ? `client certificate signed by ${opts.tls.caFile} required` : 'no client certificate asked';
      opts.logger.info(`Store SCP ${opts.aeTitle} listening for DICOM TLS on ${opts.host}:${listeners.tlsPort} (${clients})`);
    }
  } catch (err) {
    await closeAll(servers, sockets);
    throw err;
  }
  return listeners;
}

function tlsServer(options: ScpTlsOptions, opts: ListenOptions, accept: (socket: net.Socket) => void): tls.Server {
  const files = loadTlsFiles({ where: 'dicom.tls', certFile: options.certFile, keyFile: options.keyFile, caFile: options.caFile });
  const server = tls.createServer({
    ...files,
    minVersion: 'TLSv1.2',
    requestCert: options.requireClientCertificate,
    // The client certificate is checked below rather than by Node, which would drop a refused
    // peer without saying why: the operator needs the reason in the log.
    rejectUnauthorized: false,
    handshakeTimeout: opts.handshakeTimeoutMs,
    noDelay: true,
  }, (socket) => {
    const problem = options.requireClientCertificate ? clientCertificateProblem(socket, options.caFile) : undefined;
    if (!problem) return accept(socket);
    opts.logger.warn(`DICOM TLS connection from ${socket.remoteAddress ?? 'unknown address'} refused: ${problem}`);
    socket.destroy();
  });
  // A handshake that fails (another TLS version, plain DICOM on the TLS port, one left unfinished)
  // never reaches the association handler: say here who it was and why, or the operator sees
  // nothing at all. With a listener here Node leaves the socket open: close it.
  const addresses = new WeakMap<net.Socket, string>();
  server.on('connection', (raw: net.Socket) => addresses.set(raw, raw.remoteAddress ?? 'unknown address'));
  server.on('tlsClientError', (err: NodeJS.ErrnoException & { reason?: string }, socket: tls.TLSSocket) => {
    const from = socket.remoteAddress ?? addresses.get((socket as unknown as { _parent?: net.Socket })._parent ?? socket) ?? 'unknown address';
    opts.logger.warn(`DICOM TLS connection from ${from} refused: ${err.code ? `${err.code} ` : ''}${err.reason ?? err.message.trim()}`);
    socket.destroy();
  });
  return server;
}

/** Why the sender's certificate is not accepted; undefined when it is signed by ca_file (and valid). */
function clientCertificateProblem(socket: tls.TLSSocket, caFile: string | undefined): string | undefined {
  if (socket.authorized) return undefined;
  const certificate = socket.getPeerCertificate();
  if (!certificate || Object.keys(certificate).length === 0) return 'the sender showed no client certificate (dicom.tls.require_client_certificate)';
  const who = certificate.subject?.CN ? `CN=${certificate.subject.CN}` : 'without a common name';
  return `client certificate ${who} not accepted by dicom.tls.ca_file ${caFile} (${String(socket.authorizationError)})`;
}

function listen(server: net.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

async function closeAll(servers: net.Server[], sockets: Set<net.Socket>): Promise<void> {
  const closed = servers.filter((s) => s.listening).map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
  for (const socket of sockets) socket.destroy();
  await Promise.all(closed);
}
