import net from 'node:net';
import { createRequire } from 'node:module';
import type { association as dimseAssociation } from 'dcmjs-dimse';
import type { Logger } from '../log/logger.js';
import { CommandField, encodeCommandPdu, encodeResponse, parseCommand, type DimseCommand } from './dimse-command.js';
import { assertDimseInternals, detachDimseReader, processPduInDimse } from './dimse-internals.js';
import { routeDimseLog } from './dimse-log.js';
import { encodeFileMeta } from './file-meta.js';
import { HeaderReader } from './header-reader.js';
import type { HeaderReadReply } from './header-read-worker.js';
import { InstanceStore, StoreFailure, StoreStatus, type StoredFile } from './instance-store.js';
import { PduReader } from './pdu-reader.js';
import { listenForAssociations, type ScpTlsOptions } from './scp-listeners.js';
import { ACCEPTED_TRANSFER_SYNTAXES, STORAGE_SOP_CLASSES, VERIFICATION_SOP_CLASS } from './sop-classes.js';

// dcmjs-dimse is a CommonJS bundle whose named exports Node cannot detect; load it with require.
const dimse = createRequire(import.meta.url)('dcmjs-dimse') as typeof import('dcmjs-dimse');
const { PresentationContextResult, RejectResult, RejectSource, RejectReason } = dimse.constants;
type Association = dimseAssociation.Association;

/**
 * Largest PDU we announce. storescu then sends a 128 KB PET slice in one or two PDUs instead of
 * eight 16 KB ones: fewer reads, fewer PDV headers, fewer copies.
 */
const MAX_RECEIVE_PDU = 1024 * 1024;
/** A command set is a handful of short elements; more than this is not a command. */
const MAX_COMMAND_BYTES = 64 * 1024;
/**
 * An association (or a connection that never associates) that completes no PDU for this long is
 * aborted. Counted from whole PDUs, not bytes, so a peer trickling a byte now and then cannot hold
 * a slot forever; long enough for a scanner pausing between series on an open association.
 */
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/**
 * Instances whose header waits for HeaderReader's thread are held in memory (about 130 KB each
 * for a PET slice); past this many, the thread reads the next headers from the files instead,
 * once the journal's checkpoint put them there (memory stays flat when many associations send
 * faster than one thread reads headers). Reading from the bytes is the fast way: the hand-on then
 * follows the checkpoint at once.
 */
const MAX_HEADER_BACKLOG = 256;

export interface StoreScpOptions {
  host: string;
  /** 0 = any free port (see StoreScp.port). */
  port: number;
  /** false = no plain (unencrypted) listener on `port`: DICOM TLS only (default true). */
  plain?: boolean;
  /** A DICOM TLS listener as well (scp-listeners.ts). */
  tls?: ScpTlsOptions;
  aeTitle: string;
  /** Empty = any calling AE title. */
  allowedCallingAeTitles: string[];
  maxAssociations: number;
  minFreeMb: number;
  receivedDir: string;
  logger: Logger;
  /** Called after the instance is durable on disk and Success was sent (its header read after that). */
  onStored: (instance: StoredInstance) => void;
  /** Abort a connection that completes no PDU for this long (default 60 s; tests shorten it). */
  idleTimeoutMs?: number;
}

/**
 * An instance durably stored and acknowledged. Its header is read after Success, and its pixel
 * data checked meanwhile: `header` when it could be read, with `pixelProblem` when the pixel data
 * is not what the header promises; else `unreadable` says why (the receiver quarantines the file
 * with that reason).
 */
export type StoredInstance = {
  path: string;
  callingAeTitle: string;
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  bytes: number;
} & HeaderReadReply;

export interface StoreScpStats {
  associationsAccepted: number;
  associationsRejected: number;
  activeAssociations: number;
  echoes: number;
  stored: number;
  failed: number;
  bytesStored: number;
}

export interface StoreScp {
  /** The plain port; 0 when there is no plain listener. */
  port: number;
  /** The DICOM TLS port, when there is a TLS listener. */
  tlsPort?: number;
  close(): Promise<void>;
  stats(): StoreScpStats;
  /** Instances whose dataset arrived and that are not refused or handed on yet (ScpContext.unfinished). */
  handOnsPending(): number;
  /** Whether `file` is one of those, or kept for the next start by a stopped journal: the received folder's sweep leaves it alone. */
  isHandingOn(file: string): boolean;
}

/** State shared by all associations of one listening SCP. */
interface ScpContext {
  opts: StoreScpOptions;
  store: InstanceStore;
  headers: HeaderReader;
  stats: StoreScpStats;
  /**
   * Instances whose dataset arrived whole and that are neither refused nor handed on yet: waiting
   * for their turn, being stored, or answered and waiting for the checkpoint and their header.
   */
  unfinished: number;
  /** Paths of instances answered Success and not handed on yet. */
  handingOn: Set<string>;
  /** Paths of instances the journal stopped before their files were durable: left for the next start. */
  keptInJournal: Set<string>;
}

interface IncomingInstance {
  command: DimseCommand;
  presentationContextId: number;
  chunks: Buffer[];
}

/**
 * Starts the C-STORE / C-ECHO SCP. Association negotiation (A-ASSOCIATE, release, abort) is left to
 * dcmjs-dimse; P-DATA (commands and datasets) is handled here: the dataset bytes are kept as
 * received and written behind a file meta header, never re-serialized (dcmjs would truncate DS
 * values longer than 16 characters and costs more per instance than the network does).
 */
export async function startStoreScp(opts: StoreScpOptions): Promise<StoreScp> {
  assertDimseInternals(dimse.Scp, dimse.version);
  routeDimseLog(opts.logger);
  dimse.Implementation.setMaxPduLength(MAX_RECEIVE_PDU);
  const store = new InstanceStore(opts.receivedDir, opts.minFreeMb, opts.logger);
  const restored = await store.init();
  if (restored > 0) opts.logger.warn(`${restored} instances answered Success before the last stop were restored into ${opts.receivedDir} from the intake journal`);
  const context: ScpContext = {
    opts,
    store,
    headers: new HeaderReader(),
    stats: { associationsAccepted: 0, associationsRejected: 0, activeAssociations: 0, echoes: 0, stored: 0, failed: 0, bytesStored: 0 },
    unfinished: 0,
    handingOn: new Set(),
    keptInJournal: new Set(),
  };

  const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  let listeners;
  try {
    listeners = await listenForAssociations(
      { host: opts.host, port: opts.plain === false ? undefined : opts.port, tls: opts.tls, handshakeTimeoutMs: idleTimeoutMs, aeTitle: opts.aeTitle, logger: opts.logger },
      (socket) => new StoreAssociation(socket, context),
    );
  } catch (err) {
    await store.close();
    throw err;
  }
  return {
    port: listeners.port ?? 0,
    tlsPort: listeners.tlsPort,
    stats: () => ({ ...context.stats }),
    handOnsPending: () => context.unfinished,
    isHandingOn: (file) => context.handingOn.has(file) || context.keptInJournal.has(file),
    close: async () => {
      await listeners.close();
      await store.close();
      await context.headers.close();
    },
  };
}

/** One association: dcmjs-dimse's Scp for negotiation, our own P-DATA handling. */
class StoreAssociation extends dimse.Scp {
  private readonly reader = new PduReader(MAX_RECEIVE_PDU);
  private readonly context: ScpContext;
  private association: Association | undefined;
  private callingAeTitle = '';
  private counted = false;
  private commandChunks: Buffer[] = [];
  private commandBytes = 0;
  private associateRequested = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private incoming: IncomingInstance | undefined;
  /** Responses leave in request order: each instance's work waits for the previous one. */
  private work: Promise<void> = Promise.resolve();
  /** Stored instances reach onStored in arrival order too, once their header is read (HeaderReader). */
  private handedOn: Promise<void> = Promise.resolve();

  constructor(private readonly socket: net.Socket, context: ScpContext) {
    super(socket);
    this.context = context;
    // Replace dcmjs-dimse's socket reader (it re-concatenates the buffered bytes on every read).
    detachDimseReader(socket);
    socket.on('data', (data: Buffer) => this.onData(data));
    socket.once('close', () => {
      clearTimeout(this.idleTimer);
      if (this.counted) context.stats.activeAssociations--;
    });
    // dcmjs-dimse reports PDUs it cannot read (unknown type, garbage items) here; it would leave the socket open.
    this.on('networkError', (err: Error) => this.protocolError(err.message));
    this.armIdleTimer();
  }

  private armIdleTimer(): void {
    clearTimeout(this.idleTimer);
    const ms = this.context.opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.idleTimer = setTimeout(() => this.protocolError(`no complete PDU for ${ms / 1000} s`), ms);
    this.idleTimer.unref();
  }

  associationRequested(association: Association): void {
    const { opts, stats } = this.context;
    this.association = association;
    this.callingAeTitle = association.getCallingAeTitle().trim();
    const allowed = opts.allowedCallingAeTitles;
    if (allowed.length > 0 && !allowed.includes(this.callingAeTitle)) {
      stats.associationsRejected++;
      opts.logger.warn(`association from ${this.callingAeTitle} rejected: calling AE title not in dicom.allowed_calling_ae_titles`);
      this.sendAssociationReject(RejectResult.Permanent, RejectSource.ServiceUser, RejectReason.CallingAeNotRecognized);
      this.socket.end();
      return;
    }
    if (stats.activeAssociations >= opts.maxAssociations) {
      stats.associationsRejected++;
      opts.logger.warn(`association from ${this.callingAeTitle} rejected: ${opts.maxAssociations} associations already open`);
      this.sendAssociationReject(RejectResult.Transient, RejectSource.ServiceProviderPresentation, RejectReason.LocalLimitExceeded);
      this.socket.end();
      return;
    }
    stats.associationsAccepted++;
    stats.activeAssociations++;
    this.counted = true;

    for (const { id } of association.getPresentationContexts()) {
      const pc = association.getPresentationContext(id);
      const abstract = pc.getAbstractSyntaxUid();
      if (abstract !== VERIFICATION_SOP_CLASS && !STORAGE_SOP_CLASSES.has(abstract)) {
        pc.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
        continue;
      }
      // The sender lists its preferred syntax first; taking it means no conversion on its side.
      const syntax = pc.getTransferSyntaxUids().find((ts: string) => ACCEPTED_TRANSFER_SYNTAXES.has(ts));
      if (syntax) pc.setResult(PresentationContextResult.Accept, syntax);
      else pc.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
    }
    association.setMaxPduLength(MAX_RECEIVE_PDU);
    opts.logger.debug(`association from ${this.callingAeTitle} accepted`);
    this.sendAssociationAccept();
  }

  associationReleaseRequested(): void {
    this.enqueue(async () => this.sendAssociationReleaseResponse());
  }

  abort(): void {
    this.context.opts.logger.debug(`association from ${this.callingAeTitle} aborted by the peer`);
    this.socket.destroy();
  }

  private onData(data: Buffer): void {
    // Anything thrown here would escape a socket event handler and end the process: one bad
    // peer must only cost its own association.
    try {
      for (const pdu of this.reader.push(data)) {
        if (this.socket.destroyed) return;
        this.armIdleTimer();
        if (pdu[0] === 0x04) {
          this.onPData(pdu);
        } else {
          // A second A-ASSOCIATE-RQ on one connection would count a second association slot.
          if (pdu[0] === 0x01 && this.associateRequested) throw new Error('second A-ASSOCIATE-RQ on one association');
          if (pdu[0] === 0x01) this.associateRequested = true;
          processPduInDimse(this, pdu);
        }
      }
    } catch (err) {
      this.protocolError(`unreadable PDU stream: ${(err as Error).message}`);
    }
  }

  /** A P-DATA-TF PDU: one or more PDVs, each a command or dataset fragment. */
  private onPData(pdu: Buffer): void {
    if (!this.counted) {
      this.protocolError('P-DATA before the association was accepted');
      return;
    }
    let offset = 6;
    while (offset < pdu.length) {
      const itemLength = offset + 4 <= pdu.length ? pdu.readUInt32BE(offset) : 0;
      if (itemLength < 2 || offset + 4 + itemLength > pdu.length) throw new Error('a PDV item does not fit its P-DATA-TF PDU');
      const presentationContextId = pdu[offset + 4];
      const control = pdu[offset + 5];
      const value = pdu.subarray(offset + 6, offset + 4 + itemLength);
      offset += 4 + itemLength;
      const isCommand = (control & 0x01) !== 0;
      const isLast = (control & 0x02) !== 0;
      if (isCommand) {
        this.commandChunks.push(value);
        this.commandBytes += value.length;
        if (this.commandBytes > MAX_COMMAND_BYTES) throw new Error(`DIMSE command set longer than ${MAX_COMMAND_BYTES} bytes`);
        if (isLast) {
          const command = parseCommand(Buffer.concat(this.commandChunks));
          this.commandChunks = [];
          this.commandBytes = 0;
          this.onCommand(command, presentationContextId);
        }
      } else {
        const incoming = this.incoming;
        if (!incoming) {
          this.protocolError('dataset fragment without a C-STORE request');
          return;
        }
        incoming.chunks.push(value);
        if (isLast) {
          this.incoming = undefined;
          // Counted from now, not from its arrival stamp: a series may look quiet while the
          // instances of a stalled disk wait their turn (the compilator asks handOnsPending).
          this.context.unfinished++;
          this.enqueue(async () => {
            let handingOn = false;
            try {
              handingOn = await this.storeInstance(incoming);
            } finally {
              if (!handingOn) this.context.unfinished--;
            }
          });
        }
      }
    }
  }

  private onCommand(command: DimseCommand, presentationContextId: number): void {
    const context = this.association?.getPresentationContexts().find((pc) => pc.id === presentationContextId);
    if (!context || context.context.getResult() !== PresentationContextResult.Accept) {
      throw new Error(`command on presentation context ${presentationContextId}, which was not accepted`);
    }
    if (command.commandField === CommandField.CStoreRequest && command.hasDataset) {
      this.incoming = { command, presentationContextId, chunks: [] };
    } else if (command.commandField === CommandField.CEchoRequest) {
      this.context.stats.echoes++;
      this.enqueue(async () => this.respond(presentationContextId, command, CommandField.CEchoResponse, StoreStatus.Success));
    } else {
      this.protocolError(`unsupported DIMSE command 0x${command.commandField.toString(16)}`);
    }
  }

  /** Stores, answers and, after Success, hands the instance on (true: the hand-on ends `unfinished`). */
  private async storeInstance(incoming: IncomingInstance): Promise<boolean> {
    const { command, presentationContextId, chunks } = incoming;
    const { opts, store, headers, stats, handingOn, keptInJournal } = this.context;
    const transferSyntaxUid = this.association?.getPresentationContext(presentationContextId).getAcceptedTransferSyntaxUid() ?? '';
    const meta = encodeFileMeta({
      sopClassUid: command.affectedSopClassUid,
      sopInstanceUid: command.affectedSopInstanceUid,
      transferSyntaxUid,
      sourceAeTitle: this.callingAeTitle,
    });
    const file = Buffer.concat([meta, ...chunks]);
    let stored: StoredFile;
    try {
      // An empty dataset has no header to read after Success: refuse it now.
      if (file.length === meta.length) throw new StoreFailure(StoreStatus.CannotUnderstand, 'the C-STORE request carried an empty dataset');
      stored = await store.store(file, this.callingAeTitle, command.affectedSopInstanceUid);
    } catch (err) {
      const failure = err instanceof StoreFailure ? err : new StoreFailure(StoreStatus.ProcessingFailure, (err as Error).message);
      stats.failed++;
      opts.logger.warn(`C-STORE ${command.affectedSopInstanceUid} from ${this.callingAeTitle} refused (0x${failure.status.toString(16).toUpperCase()}): ${failure.message}`);
      this.respond(presentationContextId, command, CommandField.CStoreResponse, failure.status, failure.message);
      return false;
    }
    const { path: storedPath, bytes, durable } = stored;
    const size = bytes.length;
    stats.stored++;
    stats.bytesStored += size;
    this.respond(presentationContextId, command, CommandField.CStoreResponse, StoreStatus.Success);
    // The header is read on its own thread after Success, and the instance handed on in arrival
    // order once its file is durable, while the next instances are already being stored.
    // Caught at once: a read failing (SCP closing) while earlier ones wait must not be an unhandled rejection.
    handingOn.add(storedPath);
    const headerRead = (headers.backlog < MAX_HEADER_BACKLOG ? headers.read(bytes) : durable.then(() => headers.readFile(storedPath)))
      .catch((err: Error) => ({ failed: err.message }));
    this.handedOn = this.handedOn.then(async () => {
      try {
        const reading = await headerRead;
        await durable;
        if ('failed' in reading) opts.logger.warn(`header of ${storedPath} not read (${reading.failed}); the received folder's sweep takes the file`);
        else this.handOn(command, transferSyntaxUid, storedPath, size, reading);
      } catch (err) {
        // The journal stopped before the file was durable: it is restored when petspool starts again.
        keptInJournal.add(storedPath);
        opts.logger.error(`${storedPath} is not handed on: ${(err as Error).message}`);
      } finally {
        handingOn.delete(storedPath);
        this.context.unfinished--;
      }
    });
    return true;
  }

  private handOn(command: DimseCommand, transferSyntaxUid: string, storedPath: string, size: number, { header, pixelProblem, unreadable }: HeaderReadReply): void {
    try {
      this.context.opts.onStored({
        path: storedPath,
        callingAeTitle: this.callingAeTitle,
        sopClassUid: header?.sopClassUid ?? command.affectedSopClassUid,
        sopInstanceUid: header?.sopInstanceUid ?? command.affectedSopInstanceUid,
        transferSyntaxUid,
        bytes: size,
        ...(header ? { header, pixelProblem } : { unreadable: unreadable ?? 'unreadable header' }),
      });
    } catch (err) {
      this.context.opts.logger.error(`onStored failed for ${storedPath}: ${(err as Error).message}`);
    }
  }

  private respond(presentationContextId: number, request: DimseCommand, responseField: number, status: number, comment?: string): void {
    this.socket.write(encodeCommandPdu(presentationContextId, encodeResponse(request, responseField, status, comment)));
  }

  private enqueue(task: () => Promise<void>): void {
    this.work = this.work.then(task).catch((err: Error) => {
      this.context.opts.logger.error(`DICOM association ${this.callingAeTitle}: ${err.message}`);
    });
  }

  private protocolError(message: string): void {
    if (this.socket.destroyed) return;
    this.context.opts.logger.warn(`association from ${this.callingAeTitle || 'unknown AE'} aborted: ${message}`);
    this.sendAbort();
    this.socket.destroy();
  }
}
