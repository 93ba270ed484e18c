/**
 * DIMSE command sets (group 0000, always Implicit VR Little Endian) read and written by hand for
 * the Store SCP's hot path. dcmjs-dimse builds each command through dcmjs (naturalize, denaturalize,
 * string logging) which costs more per instance than receiving the instance itself; the command
 * set has a handful of fixed elements, so doing it directly is short and exact.
 */

export const CommandField = {
  CStoreRequest: 0x0001,
  CStoreResponse: 0x8001,
  CEchoRequest: 0x0030,
  CEchoResponse: 0x8030,
} as const;

/** CommandDataSetType value meaning "no dataset follows". */
const NO_DATASET = 0x0101;
/** Any other value means a dataset follows; DCMTK sends 0x0000 too. */
const DATASET_PRESENT = 0x0000;

export interface DimseCommand {
  commandField: number;
  messageId: number;
  messageIdBeingRespondedTo: number;
  affectedSopClassUid: string;
  affectedSopInstanceUid: string;
  hasDataset: boolean;
  status: number;
  errorComment: string;
}

export function parseCommand(bytes: Buffer): DimseCommand {
  const command: DimseCommand = {
    commandField: -1, messageId: 0, messageIdBeingRespondedTo: 0, affectedSopClassUid: '', affectedSopInstanceUid: '', hasDataset: false, status: -1, errorComment: '',
  };
  let offset = 0;
  while (offset + 8 <= bytes.length) {
    const group = bytes.readUInt16LE(offset);
    const element = bytes.readUInt16LE(offset + 2);
    const length = bytes.readUInt32LE(offset + 4);
    const value = offset + 8;
    if (value + length > bytes.length) throw new Error('DIMSE command set is truncated');
    if (group === 0x0000) {
      switch (element) {
        case 0x0002: command.affectedSopClassUid = uid(bytes, value, length); break;
        case 0x0100: command.commandField = bytes.readUInt16LE(value); break;
        case 0x0110: command.messageId = bytes.readUInt16LE(value); break;
        case 0x0120: command.messageIdBeingRespondedTo = bytes.readUInt16LE(value); break;
        case 0x0800: command.hasDataset = bytes.readUInt16LE(value) !== NO_DATASET; break;
        case 0x0900: command.status = bytes.readUInt16LE(value); break;
        case 0x0902: command.errorComment = bytes.toString('latin1', value, value + length).trim(); break;
        case 0x1000: command.affectedSopInstanceUid = uid(bytes, value, length); break;
        default: break;
      }
    }
    offset = value + length;
  }
  return command;
}

/** The fields of a command set petspool sends; absent ones are left out. */
export interface OutgoingCommand {
  affectedSopClassUid: string;
  commandField: number;
  messageId?: number;
  messageIdBeingRespondedTo?: number;
  /** Requests only: 0 = medium. */
  priority?: number;
  hasDataset: boolean;
  status?: number;
  errorComment?: string;
  affectedSopInstanceUid?: string;
}

/** Encodes a command set (elements in tag order, group length first). */
export function encodeCommand(c: OutgoingCommand): Buffer {
  const elements = [uidElement(0x0002, c.affectedSopClassUid), usElement(0x0100, c.commandField)];
  if (c.messageId !== undefined) elements.push(usElement(0x0110, c.messageId));
  if (c.messageIdBeingRespondedTo !== undefined) elements.push(usElement(0x0120, c.messageIdBeingRespondedTo));
  if (c.priority !== undefined) elements.push(usElement(0x0700, c.priority));
  elements.push(usElement(0x0800, c.hasDataset ? DATASET_PRESENT : NO_DATASET));
  if (c.status !== undefined) elements.push(usElement(0x0900, c.status));
  if (c.errorComment) elements.push(textElement(0x0902, c.errorComment.slice(0, 64)));
  if (c.affectedSopInstanceUid) elements.push(uidElement(0x1000, c.affectedSopInstanceUid));
  const body = Buffer.concat(elements);
  const groupLength = Buffer.alloc(12);
  groupLength.writeUInt32LE(0x00000000, 0);
  groupLength.writeUInt32LE(4, 4);
  groupLength.writeUInt32LE(body.length, 8);
  return Buffer.concat([groupLength, body]);
}

/** A response command (C-STORE-RSP, C-ECHO-RSP) for the given request. */
export function encodeResponse(
  request: DimseCommand,
  responseField: number,
  status: number,
  errorComment?: string,
): Buffer {
  return encodeCommand({
    affectedSopClassUid: request.affectedSopClassUid,
    commandField: responseField,
    messageIdBeingRespondedTo: request.messageId,
    hasDataset: false,
    status,
    errorComment,
    affectedSopInstanceUid: request.affectedSopInstanceUid,
  });
}

/** PDU and PDV headers for one dataset fragment; the fragment is written after it (no copy). */
export function encodeDataPduHeader(presentationContextId: number, fragmentLength: number, last: boolean): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt8(0x04, 0);
  head.writeUInt32BE(6 + fragmentLength, 2);
  head.writeUInt32BE(2 + fragmentLength, 6);
  head.writeUInt8(presentationContextId, 10);
  head.writeUInt8(last ? 0x02 : 0x00, 11);
  return head;
}

/** A P-DATA-TF PDU carrying one complete command PDV. */
export function encodeCommandPdu(presentationContextId: number, command: Buffer): Buffer {
  const pdu = Buffer.alloc(12 + command.length);
  pdu.writeUInt8(0x04, 0); // P-DATA-TF
  pdu.writeUInt32BE(6 + command.length, 2);
  pdu.writeUInt32BE(2 + command.length, 6); // PDV item length
  pdu.writeUInt8(presentationContextId, 10);
  pdu.writeUInt8(0x03, 11); // command fragment, last fragment
  command.copy(pdu, 12);
  return pdu;
}

function uid(bytes: Buffer, start: number, length: number): string {
  return bytes.toString('latin1', start, start + length).replace(/[\0 ]+$/, '');
}

function header(element: number, length: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16LE(0x0000, 0);
  head.writeUInt16LE(element, 2);
  head.writeUInt32LE(length, 4);
  return head;
}

function usElement(element: number, value: number): Buffer {
  const out = header(element, 2);
  const v = Buffer.alloc(2);
  v.writeUInt16LE(value, 0);
  return Buffer.concat([out, v]);
}

/** UI values pad with NUL to an even length, text values with a space. */
function uidElement(element: number, value: string): Buffer {
  return padded(element, value, 0x00);
}

function textElement(element: number, value: string): Buffer {
  return padded(element, value, 0x20);
}

function padded(element: number, value: string, pad: number): Buffer {
  let bytes = Buffer.from(value, 'latin1');
  if (bytes.length % 2) bytes = Buffer.concat([bytes, Buffer.from([pad])]);
  return Buffer.concat([header(element, bytes.length), bytes]);
}
