/**
 * A/B variant for issue 15, bench only: the Store SCP's storage path on dcmjs-dimse's public
 * streaming hooks (createStoreWritableStream / createDatasetFromStoreWritableStream on a Scp
 * subclass) instead of petspool's own P-DATA handling (src/dicom/scp.ts). Everything else is the
 * same: the dataset bytes are kept as received and written behind a file meta header by the same
 * InstanceStore (durable before Success), the header read on HeaderReader's thread after it. dcmjs-dimse reads the
 * socket, the PDUs and the command sets and writes the responses.
 */
import net from 'node:net';
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import type { association as dimseAssociation, requests as dimseRequests, responses as dimseResponses, Dataset } from 'dcmjs-dimse';
import { encodeFileMeta } from '../src/dicom/file-meta.js';
import { HeaderReader } from '../src/dicom/header-reader.js';
import { InstanceStore, StoreFailure, StoreStatus } from '../src/dicom/instance-store.js';
import { ACCEPTED_TRANSFER_SYNTAXES, STORAGE_SOP_CLASSES, VERIFICATION_SOP_CLASS } from '../src/dicom/sop-classes.js';
import { routeDimseLog } from '../src/dicom/dimse-log.js';
import type { Logger } from '../src/log/logger.js';

const dimse = createRequire(import.meta.url)('dcmjs-dimse') as typeof import('dcmjs-dimse');
const { PresentationContextResult } = dimse.constants;
type PresentationContext = dimseAssociation.PresentationContext;

const MAX_RECEIVE_PDU = 1024 * 1024;

/** Each dataset as received, found again from the (empty) Dataset handed to cStoreRequest. */
const received = new WeakMap<Dataset, ChunkCollector>();

/** A Writable that only keeps the PDV values it is given, as they are, and their transfer syntax. */
class ChunkCollector extends Writable {
  readonly chunks: Buffer[] = [];
  constructor(readonly transferSyntaxUid: string) {
    super({ highWaterMark: 64 * 1024 * 1024 });
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.chunks.push(chunk);
    done();
  }
}

interface PublicHooksOptions { host: string; port: number; receivedDir: string; maxAssociations: number; logger: Logger }

export async function startPublicHooksScp(opts: PublicHooksOptions): Promise<{ port: number; close(): Promise<void> }> {
  routeDimseLog(opts.logger);
  dimse.Implementation.setMaxPduLength(MAX_RECEIVE_PDU);
  const store = new InstanceStore(opts.receivedDir, 100, opts.maxAssociations);
  await store.init();
  const headers = new HeaderReader();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    new PublicHooksAssociation(socket, store, headers);
  });
  await new Promise<void>((resolve) => server.listen(opts.port, opts.host, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
      await store.close();
      await headers.close();
    },
  };
}

class PublicHooksAssociation extends dimse.Scp {
  private callingAeTitle = '';

  constructor(private readonly socket: net.Socket, private readonly store: InstanceStore, private readonly headers: HeaderReader) {
    super(socket);
  }

  associationRequested(association: dimseAssociation.Association): void {
    this.callingAeTitle = association.getCallingAeTitle().trim();
    for (const { id } of association.getPresentationContexts()) {
      const pc = association.getPresentationContext(id);
      const abstract = pc.getAbstractSyntaxUid();
      const syntax = pc.getTransferSyntaxUids().find((ts: string) => ACCEPTED_TRANSFER_SYNTAXES.has(ts));
      if (abstract !== VERIFICATION_SOP_CLASS && !STORAGE_SOP_CLASSES.has(abstract)) pc.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
      else if (syntax) pc.setResult(PresentationContextResult.Accept, syntax);
      else pc.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
    }
    association.setMaxPduLength(MAX_RECEIVE_PDU);
    this.sendAssociationAccept();
  }

  associationReleaseRequested(): void {
    this.sendAssociationReleaseResponse();
  }

  cEchoRequest(request: dimseRequests.CEchoRequest, callback: (response: dimseResponses.CEchoResponse) => void): void {
    const response = dimse.responses.CEchoResponse.fromRequest(request);
    response.setStatus(StoreStatus.Success);
    callback(response);
  }

  createStoreWritableStream(context: PresentationContext): Writable {
    return new ChunkCollector(context.getAcceptedTransferSyntaxUid()!);
  }

  createDatasetFromStoreWritableStream(writable: Writable, _context: PresentationContext, callback: (dataset: Dataset) => void): void {
    // An empty Dataset: dcmjs would otherwise parse the whole instance here.
    const dataset = new dimse.Dataset();
    received.set(dataset, writable as ChunkCollector);
    callback(dataset);
  }

  cStoreRequest(request: dimseRequests.CStoreRequest, callback: (response: dimseResponses.CStoreResponse) => void): void {
    void this.storeInstance(request).then(({ status, bytes }) => {
      const response = dimse.responses.CStoreResponse.fromRequest(request);
      response.setStatus(status);
      callback(response);
      // As in scp.ts: the header is read on its own thread once the sender has its answer.
      if (bytes) void this.headers.read(bytes);
    });
  }

  abort(): void {
    this.socket.destroy();
  }

  private async storeInstance(request: dimseRequests.CStoreRequest): Promise<{ status: number; bytes?: Buffer }> {
    const { chunks, transferSyntaxUid } = received.get(request.getDataset()!)!;
    const meta = encodeFileMeta({
      sopClassUid: request.getAffectedSopClassUid(),
      sopInstanceUid: request.getAffectedSopInstanceUid(),
      transferSyntaxUid,
      sourceAeTitle: this.callingAeTitle,
    });
    try {
      const { bytes } = await this.store.store(Buffer.concat([meta, ...chunks]), this.callingAeTitle, request.getAffectedSopInstanceUid());
      return { status: StoreStatus.Success, bytes };
    } catch (err) {
      return { status: err instanceof StoreFailure ? err.status : StoreStatus.ProcessingFailure };
    }
  }
}
