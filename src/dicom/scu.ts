import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { createRequire } from 'node:module';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import { CommandField, encodeCommand, encodeCommandPdu, encodeDataPduHeader, parseCommand, type DimseCommand } from './dimse-command.js';
import { routeDimseLog } from './dimse-log.js';
import { splitPart10, type Part10Parts } from './file-meta.js';
import { PduReader } from './pdu-reader.js';
import { VERIFICATION_SOP_CLASS, IMPLICIT_VR_LITTLE_ENDIAN } from './sop-classes.js';
import { loadTlsFiles, tlsFileLabel } from '../tls/pem-files.js';
import { describeTlsFailure } from '../tls/tls-failure.js';

const dimse = createRequire(import.meta.url)('dcmjs-dimse') as typeof import('dcmjs-dimse');
const { Association } = dimse.association;
const { PresentationContextResult } = dimse.constants;

/** dcmjs-dimse internals used to drive negotiation from our socket reader (see scp.ts). */
interface NetworkInternals {
  _processPdu(pdu: Buffer): Promise<void>;
  lastPduTime?: number;
}

export interface PeerAddress {
  host: string;
  port: number;
  calledAeTitle: string;
  callingAeTitle: string;
  timeoutMs?: number;
  /** Present: DICOM TLS, the peer's certificate checked against caFile and its host name or address. */
  tls?: PeerTls;
}

export interface PeerTls {
  caFile: string;
  /** Our client certificate, for peers that require one. */
  certFile?: string;
  keyFile?: string;
  /** Where these are configured, for messages ("destinations[pacs].tls", "--tls"); default "tls". */
  where?: string;
}

export interface SendResult {
  sent: number;
  failed: { file: string; status: number | null; message: string }[];
  acceptedSopInstanceUids: string[];
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** Largest PDU we write even if the peer accepts more. */
const MAX_SEND_PDU = 1024 * 1024;
/** A-ASSOCIATE-RJ reasons by (source, reason), for human messages. */
const REJECT_REASONS: Record<string, string> = {
  '1:1': 'no reason given',
  '1:2': 'application context not supported',
  '1:3': 'calling AE title not recognized',
  '1:7': 'called AE title not recognized',
  '2:1': 'no reason given (ACSE)',
  '2:2': 'protocol version not supported',
  '3:1': 'temporary congestion',
  '3:2': 'local limit exceeded',
};

/** The peer answered the association request with A-ASSOCIATE-RJ. */
export class AssociationRejectedError extends Error {
  /** Rejected for now (e.g. too many associations open), not for good: trying again later may work. */
  readonly transient: boolean;
  constructor(message: string, transient: boolean) {
    super(message);
    this.name = 'AssociationRejectedError';
    this.transient = transient;
  }
}

/** C-ECHO: resolves when the peer answered Success; throws with a human message otherwise. */
export async function echo(peer: PeerAddress): Promise<void> {
  const connection = await Connection.open(peer, [{ sopClassUid: VERIFICATION_SOP_CLASS, transferSyntaxUid: IMPLICIT_VR_LITTLE_ENDIAN }], silentLogger);
  try {
    const pcId = connection.contextFor(VERIFICATION_SOP_CLASS, IMPLICIT_VR_LITTLE_ENDIAN);
    if (pcId === undefined) throw new Error(`${peer.calledAeTitle} does not accept Verification (C-ECHO)`);
    const response = await connection.request(pcId, { affectedSopClassUid: VERIFICATION_SOP_CLASS, commandField: CommandField.CEchoRequest, hasDataset: false });
    if (response.status !== 0) throw new Error(`C-ECHO answered with status 0x${response.status.toString(16)}`);
  } finally {
    await connection.release();
  }
}

/**
 * Sends Part-10 files over one association as they are (dataset bytes unchanged, no re-encoding).
 * Proposes one presentation context per (SOP class, transfer syntax) found in the files. Every
 * file counts: one that could not be read, whose context the peer rejected or that got no
 * Success response is listed in `failed`. One C-STORE is outstanding at a time; the next file is
 * read while the peer works on the current one (at most two files in memory).
 */
export async function sendFiles(opts: PeerAddress & {
  files: string[];
  logger?: Logger;
  /** Awaited after each Success, before the next file is sent (lets a caller journal delivery durably). */
  onAccepted?: (sopInstanceUid: string) => Promise<void> | void;
}): Promise<SendResult> {
  const logger = opts.logger ?? silentLogger;
  const result: SendResult = { sent: 0, failed: [], acceptedSopInstanceUids: [] };
  const readable: { file: string; facts: Omit<Part10Parts, 'dataset'> }[] = [];
  for (const file of opts.files) {
    try {
      readable.push({ file, facts: readFileMeta(file) });
    } catch (err) {
      result.failed.push({ file, status: null, message: (err as Error).message });
    }
  }
  if (readable.length === 0) return result;

  const connection = await Connection.open(opts, uniqueContexts(readable.map((r) => r.facts)), logger);
  try {
    const sendable: { file: string; facts: Omit<Part10Parts, 'dataset'>; pcId: number }[] = [];
    for (const { file, facts } of readable) {
      const pcId = connection.contextFor(facts.sopClassUid, facts.transferSyntaxUid);
      if (pcId === undefined) {
        result.failed.push({ file, status: null, message: `${opts.calledAeTitle} rejected SOP class ${facts.sopClassUid} in transfer syntax ${facts.transferSyntaxUid}` });
      } else {
        sendable.push({ file, facts, pcId });
      }
    }
    const reader = new DatasetReader();
    for (let i = 0; i < sendable.length; i++) {
      const { file, facts, pcId } = sendable[i];
      if (connection.closed) {
        // The association broke: every file not yet answered is a failure.
        for (const rest of sendable.slice(i)) result.failed.push({ file: rest.file, status: null, message: 'association closed before the file was sent' });
        break;
      }
      try {
        const dataset = reader.read(file, connection.sentEverything());
        const response = await connection.request(
          pcId,
          { affectedSopClassUid: facts.sopClassUid, commandField: CommandField.CStoreRequest, priority: 0, hasDataset: true, affectedSopInstanceUid: facts.sopInstanceUid },
          dataset,
        );
        // Success, or a Warning (Bxxx: stored with coercion) which still means stored.
        if (response.status === 0 || (response.status & 0xf000) === 0xb000) {
          result.sent++;
          result.acceptedSopInstanceUids.push(facts.sopInstanceUid);
          await opts.onAccepted?.(facts.sopInstanceUid);
        } else {
          // The status always leads: an operator reads "0xA700" in last_error even when the peer explains itself.
          const status = `C-STORE status 0x${response.status.toString(16).toUpperCase()}`;
          result.failed.push({ file, status: response.status, message: response.errorComment ? `${status}: ${response.errorComment}` : status });
        }
      } catch (err) {
        result.failed.push({ file, status: null, message: (err as Error).message });
      }
    }
  } finally {
    await connection.release();
  }
  logger.info(`sent ${result.sent} of ${opts.files.length} files to ${opts.calledAeTitle}@${opts.host}:${opts.port}`);
  return result;
}

/**
 * Files' dataset bytes, read with blocking calls: the files sent are nearly always ones just
 * written (in the page cache, tens of microseconds for a slice), and four hand-overs to the I/O
 * threads per file cost this thread more than that on a busy machine. One buffer serves file after
 * file once the socket has taken every byte written from it (a new buffer per file was a slice's
 * worth of garbage per instance, collected on this thread).
 */
class DatasetReader {
  private buffer = Buffer.alloc(0);

  /** `reuse`: nothing written from the buffer is still waiting to go out. */
  read(file: string, reuse: boolean): Buffer {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      if (!reuse || this.buffer.length < size) this.buffer = Buffer.allocUnsafeSlow(size);
      let filled = 0;
      while (filled < size) {
        const read = fs.readSync(fd, this.buffer, filled, size - filled, filled);
        if (read === 0) break; // shorter than it was a moment ago: splitPart10 judges what there is
        filled += read;
      }
      return splitPart10(this.buffer.subarray(0, filled)).dataset;
    } finally {
      fs.closeSync(fd);
    }
  }
}

/**
 * SOP class, instance and transfer syntax from the file meta group, which fits in the first 4 KB
 * of nearly every file (reading only that keeps the pass over a whole series cheap); a longer
 * group is read from the whole file.
 */
function readFileMeta(file: string): Omit<Part10Parts, 'dataset'> {
  const fd = fs.openSync(file, 'r');
  let head: Buffer;
  try {
    head = Buffer.allocUnsafe(4096);
    head = head.subarray(0, fs.readSync(fd, head, 0, head.length, 0));
  } finally {
    fs.closeSync(fd);
  }
  let parts: Part10Parts;
  try {
    parts = splitPart10(head);
  } catch (err) {
    if (head.length < 4096) throw err;
    parts = splitPart10(fs.readFileSync(file));
  }
  const { dataset: _dataset, ...facts } = parts;
  return facts;
}

interface WantedContext { sopClassUid: string; transferSyntaxUid: string }

function uniqueContexts(facts: WantedContext[]): WantedContext[] {
  const seen = new Map<string, WantedContext>();
  for (const f of facts) seen.set(`${f.sopClassUid}|${f.transferSyntaxUid}`, { sopClassUid: f.sopClassUid, transferSyntaxUid: f.transferSyntaxUid });
  return [...seen.values()];
}

/**
 * The TCP or TLS connection to the peer. TLS: TLS 1.2 or later, the certificate checked against
 * caFile only (not the system's web CAs: a PACS certificate comes from the site's own CA) and
 * against the host name or address we connect to. The files are read per connection, so renewed
 * ones are used without a restart; a file problem is thrown here, before anything is sent.
 */
function connectSocket(peer: PeerAddress): net.Socket {
  if (!peer.tls) return net.connect({ host: peer.host, port: peer.port });
  const files = loadTlsFiles({ where: peer.tls.where ?? 'tls', caFile: peer.tls.caFile, certFile: peer.tls.certFile, keyFile: peer.tls.keyFile });
  return tls.connect({
    host: peer.host, port: peer.port, ...files, minVersion: 'TLSv1.2',
    // SNI is for names only; an address is checked against the certificate's IP entries without it.
    servername: net.isIP(peer.host) ? undefined : peer.host,
  });
}

/** One association as requester: dcmjs-dimse negotiates, P-DATA is ours (as in scp.ts). */
class Connection extends dimse.Scp {
  closed = false;
  private readonly reader = new PduReader();
  private readonly accepted = new Map<string, number>();
  private commandChunks: Buffer[] = [];
  private messageId = 0;
  private pending: { resolve: (c: DimseCommand) => void; reject: (e: Error) => void } | undefined;
  private maxSendPdu = MAX_SEND_PDU;
  private released: (() => void) | undefined;

  static open(peer: PeerAddress, contexts: WantedContext[], logger: Logger): Promise<Connection> {
    routeDimseLog();
    const timeoutMs = peer.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      let socket: net.Socket;
      try {
        socket = connectSocket(peer);
      } catch (err) {
        reject(err as Error);
        return;
      }
      socket.setNoDelay(true);
      const connection = new Connection(socket, timeoutMs);
      const fail = (error: Error | string): void => {
        socket.destroy();
        reject(typeof error === 'string' ? new Error(error) : error);
      };
      /** The TLS handshake finished (or, plain, the TCP connection is up). */
      let secured = false;
      const timer = setTimeout(() => fail(`no answer from ${peer.calledAeTitle}@${peer.host}:${peer.port} within ${timeoutMs} ms`), timeoutMs);
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const trust = `${tlsFileLabel(peer.tls?.where ?? 'tls', 'ca')} ${peer.tls?.caFile}`;
        const tlsFailure = peer.tls && describeTlsFailure(err, { address: `${peer.host}:${peer.port}`, trust }, !secured);
        if (tlsFailure) return fail(tlsFailure);
        const what = err.code === 'ECONNREFUSED' ? 'connection refused' : err.message;
        fail(`cannot reach ${peer.host}:${peer.port}: ${what}`);
      });
      // A peer that hangs up before it answers the association request: say so now, not at the timeout.
      socket.once('close', () => {
        clearTimeout(timer);
        const where = `${peer.host}:${peer.port}`;
        fail(peer.tls && secured
          ? `TLS: ${where} closed the connection after the TLS handshake without answering; it may refuse our client certificate `
            + `(${peer.tls.certFile ? tlsFileLabel(peer.tls.where ?? 'tls', 'cert') : 'none given'})`
          : `${where} closed the connection without answering the association request`);
      });
      // Over TLS the association request waits for the handshake (peer certificate checked).
      socket.once(peer.tls ? 'secureConnect' : 'connect', () => {
        secured = true;
        const association = new Association(peer.callingAeTitle, peer.calledAeTitle);
        for (const c of contexts) {
          const id = association.addPresentationContext(c.sopClassUid);
          association.addTransferSyntaxToPresentationContext(id, c.transferSyntaxUid);
        }
        association.setMaxPduLength(MAX_SEND_PDU);
        connection.sendAssociationRequest(association);
      });
      connection.on('associationAccepted', (association: InstanceType<typeof Association>) => {
        clearTimeout(timer);
        for (const { id } of association.getPresentationContexts()) {
          const pc = association.getPresentationContext(id);
          const ts = pc.getAcceptedTransferSyntaxUid();
          if (pc.getResult() === PresentationContextResult.Accept && ts) {
            const key = `${pc.getAbstractSyntaxUid()}|${ts}`;
            if (!connection.accepted.has(key)) connection.accepted.set(key, id);
          }
        }
        const peerMax = association.getMaxPduLength();
        connection.maxSendPdu = peerMax > 0 ? Math.min(peerMax, MAX_SEND_PDU) : MAX_SEND_PDU;
        logger.debug(`association with ${peer.calledAeTitle} accepted (${connection.accepted.size} contexts)`);
        resolve(connection);
      });
      connection.on('associationRejected', ({ result, source, reason }: { result: number; source: number; reason: number }) => {
        clearTimeout(timer);
        const why = REJECT_REASONS[`${source}:${reason}`] ?? `source ${source}, reason ${reason}`;
        const transient = result === 2;
        fail(new AssociationRejectedError(`association rejected by ${peer.calledAeTitle} (${transient ? 'transient' : 'permanent'}): ${why}`, transient));
      });
    });
  }

  private constructor(private readonly socket: net.Socket, timeoutMs: number) {
    super(socket, { associationTimeout: timeoutMs, pduTimeout: timeoutMs });
    socket.removeAllListeners('data');
    socket.on('data', (data: Buffer) => this.onData(data));
    socket.on('close', () => {
      this.closed = true;
      this.pending?.reject(new Error('association closed by the peer before it answered'));
      this.pending = undefined;
      this.released?.();
    });
    this.on('associationReleaseResponse', () => this.socket.end());
    this.on('abort', () => this.socket.destroy());
  }

  /** Every byte written so far is with the kernel (none waits in the socket's own queue). */
  sentEverything(): boolean {
    return this.socket.writableLength === 0;
  }

  contextFor(sopClassUid: string, transferSyntaxUid: string): number | undefined {
    return this.accepted.get(`${sopClassUid}|${transferSyntaxUid}`);
  }

  /** Sends one request (and its dataset) and waits for its final response. */
  request(pcId: number, command: Parameters<typeof encodeCommand>[0], dataset?: Buffer): Promise<DimseCommand> {
    if (this.closed) return Promise.reject(new Error('association is closed'));
    this.messageId = (this.messageId % 65535) + 1;
    const answer = new Promise<DimseCommand>((resolve, reject) => { this.pending = { resolve, reject }; });
    this.socket.cork();
    this.socket.write(encodeCommandPdu(pcId, encodeCommand({ ...command, messageId: this.messageId })));
    if (dataset) {
      const fragment = this.maxSendPdu - 6;
      for (let offset = 0; offset < dataset.length || offset === 0; offset += fragment) {
        const piece = dataset.subarray(offset, offset + fragment);
        const last = offset + fragment >= dataset.length;
        this.socket.write(encodeDataPduHeader(pcId, piece.length, last));
        this.socket.write(piece);
        if (last) break;
      }
    }
    this.socket.uncork();
    return answer;
  }

  /** Releases the association (or just closes a broken one). */
  async release(): Promise<void> {
    if (this.closed) return;
    const closed = new Promise<void>((resolve) => { this.released = resolve; });
    const timer = setTimeout(() => this.socket.destroy(), 5000);
    this.sendAssociationReleaseRequest();
    await closed;
    clearTimeout(timer);
  }

  private onData(data: Buffer): void {
    (this as unknown as NetworkInternals).lastPduTime = Date.now();
    for (const pdu of this.reader.push(data)) {
      if (pdu[0] !== 0x04) {
        void (this as unknown as NetworkInternals)._processPdu(pdu);
        continue;
      }
      let offset = 6;
      while (offset + 6 <= pdu.length) {
        const itemLength = pdu.readUInt32BE(offset);
        const control = pdu[offset + 5];
        if (control & 0x01) {
          this.commandChunks.push(pdu.subarray(offset + 6, offset + 4 + itemLength));
          if (control & 0x02) {
            const command = parseCommand(Buffer.concat(this.commandChunks));
            this.commandChunks = [];
            // Pending (0xFF00/0xFF01) responses are not final; C-STORE and C-ECHO never send them.
            if (command.status !== 0xff00 && command.status !== 0xff01) {
              const pending = this.pending;
              this.pending = undefined;
              pending?.resolve(command);
            }
          }
        }
        offset += 4 + itemLength;
      }
    }
  }
}
