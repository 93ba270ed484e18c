/**
 * DIMSE command sets as the Store SCP and SCU write and read them, against the layouts of DICOM
 * PS3.7 (command group 0000, Implicit VR Little Endian, elements in ascending tag order, group
 * length first, UIDs padded with NUL and text with a space to an even length) and the P-DATA-TF
 * PDU of PS3.8 9.3.5. The expected bytes are written out element by element here, independently
 * of the encoder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CommandField, encodeCommand, encodeCommandPdu, encodeDataPduHeader, encodeResponse, parseCommand,
} from '../../../src/dicom/dimse-command.js';

const PET_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.128';
const SOP_INSTANCE = '2.25.12345678901234567890'; // 23 characters: padded to 24
const VERIFICATION = '1.2.840.10008.1.1'; // 17 characters: padded to 18

/** One Implicit VR Little Endian element of group 0000. */
function element(elementNumber: number, value: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16LE(0x0000, 0);
  head.writeUInt16LE(elementNumber, 2);
  head.writeUInt32LE(value.length, 4);
  return Buffer.concat([head, value]);
}
const us = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };
const ul = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const ui = (text: string) => Buffer.from(text.length % 2 ? `${text}\0` : text, 'latin1');
const lo = (text: string) => Buffer.from(text.length % 2 ? `${text} ` : text, 'latin1');
function commandSet(...elements: Buffer[]): Buffer {
  const body = Buffer.concat(elements);
  return Buffer.concat([element(0x0000, ul(body.length)), body]);
}

/** The (element, length) of each element in order: what a reader of the layout sees. */
function layout(bytes: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let at = 0; at < bytes.length;) {
    assert.equal(bytes.readUInt16LE(at), 0x0000, `group 0000 at byte ${at}`);
    const length = bytes.readUInt32LE(at + 4);
    out.push([bytes.readUInt16LE(at + 2), length]);
    at += 8 + length;
  }
  return out;
}

test('a C-STORE-RQ is encoded as PS3.7 lays it out: group length, class, field, id, priority, data set type, instance', () => {
  const encoded = encodeCommand({
    affectedSopClassUid: PET_IMAGE_STORAGE, commandField: CommandField.CStoreRequest, messageId: 7, priority: 0,
    hasDataset: true, affectedSopInstanceUid: SOP_INSTANCE,
  });
  const expected = commandSet(
    element(0x0002, ui(PET_IMAGE_STORAGE)),
    element(0x0100, us(0x0001)),
    element(0x0110, us(7)),
    element(0x0700, us(0)),
    element(0x0800, us(0x0000)),
    element(0x1000, ui(SOP_INSTANCE)),
  );
  assert.deepEqual(encoded, expected);
  assert.deepEqual(layout(encoded).map(([e]) => e), [0x0000, 0x0002, 0x0100, 0x0110, 0x0700, 0x0800, 0x1000]);
  assert.equal(encoded.readUInt32LE(8), encoded.length - 12, 'CommandGroupLength counts the bytes after it');
  assert.ok(layout(encoded).every(([, length]) => length % 2 === 0), 'every value has an even length');
});

test('a C-STORE-RSP answers the request: same class and instance, its message id, no data set, the status', () => {
  const request = parseCommand(encodeCommand({
    affectedSopClassUid: PET_IMAGE_STORAGE, commandField: CommandField.CStoreRequest, messageId: 513, priority: 0,
    hasDataset: true, affectedSopInstanceUid: SOP_INSTANCE,
  }));
  const response = encodeResponse(request, CommandField.CStoreResponse, 0xa700, 'free disk 12 MB is below min_free_mb 2048');
  assert.deepEqual(response, commandSet(
    element(0x0002, ui(PET_IMAGE_STORAGE)),
    element(0x0100, us(0x8001)),
    element(0x0120, us(513)),
    element(0x0800, us(0x0101)),
    element(0x0900, us(0xa700)),
    element(0x0902, lo('free disk 12 MB is below min_free_mb 2048')),
    element(0x1000, ui(SOP_INSTANCE)),
  ));
  const parsed = parseCommand(response);
  assert.equal(parsed.commandField, CommandField.CStoreResponse);
  assert.equal(parsed.messageIdBeingRespondedTo, 513);
  assert.equal(parsed.hasDataset, false);
  assert.equal(parsed.status, 0xa700);
  assert.equal(parsed.errorComment, 'free disk 12 MB is below min_free_mb 2048');
  assert.equal(parsed.affectedSopInstanceUid, SOP_INSTANCE, 'the NUL pad is not part of the UID');
});

test('a C-ECHO-RSP carries no instance UID and an error comment is cut to the 64 characters of LO', () => {
  const echo = parseCommand(encodeCommand({ affectedSopClassUid: VERIFICATION, commandField: CommandField.CEchoRequest, messageId: 1, hasDataset: false }));
  assert.equal(echo.commandField, CommandField.CEchoRequest);
  assert.equal(echo.affectedSopClassUid, VERIFICATION);
  const response = encodeResponse(echo, CommandField.CEchoResponse, 0x0000);
  assert.deepEqual(layout(response).map(([e]) => e), [0x0000, 0x0002, 0x0100, 0x0120, 0x0800, 0x0900]);

  const long = encodeResponse(echo, CommandField.CEchoResponse, 0xc210, 'x'.repeat(100));
  const comment = layout(long).find(([e]) => e === 0x0902);
  assert.deepEqual(comment, [0x0902, 64]);
});

test('a command set from another implementation is read whatever its order of optional elements and pads', () => {
  // DCMTK writes CommandDataSetType 0x0000 for "data set present"; other values than 0x0101 mean the same.
  // Elements petspool does not use (Priority, MoveOriginator...) are passed over; a space-padded UID is trimmed.
  for (const dataSetType of [0x0000, 0x0001, 0xfefe]) {
    const bytes = commandSet(
      element(0x0002, Buffer.from(`${PET_IMAGE_STORAGE} `, 'latin1')),
      element(0x0100, us(0x0001)),
      element(0x0110, us(65535)),
      element(0x0700, us(2)),
      element(0x0800, us(dataSetType)),
      element(0x1000, ui(SOP_INSTANCE)),
      element(0x1030, lo('MOVESCU')),
      element(0x1031, us(9)),
    );
    const parsed = parseCommand(bytes);
    assert.deepEqual(
      { field: parsed.commandField, id: parsed.messageId, dataset: parsed.hasDataset, cls: parsed.affectedSopClassUid, sop: parsed.affectedSopInstanceUid },
      { field: 0x0001, id: 65535, dataset: true, cls: PET_IMAGE_STORAGE, sop: SOP_INSTANCE },
    );
  }
  assert.equal(parseCommand(commandSet(element(0x0100, us(0x0001)), element(0x0800, us(0x0101)))).hasDataset, false);
});

test('a command set cut short is refused, not read past its end', () => {
  const whole = encodeCommand({ affectedSopClassUid: PET_IMAGE_STORAGE, commandField: CommandField.CStoreRequest, messageId: 1, hasDataset: true, affectedSopInstanceUid: SOP_INSTANCE });
  assert.throws(() => parseCommand(whole.subarray(0, whole.length - 3)), /DIMSE command set is truncated/);
  // A trailing fragment shorter than an element header is not an element.
  assert.equal(parseCommand(Buffer.concat([whole, Buffer.from([0, 0, 1])])).affectedSopInstanceUid, SOP_INSTANCE);
});

test('P-DATA-TF PDUs: type 04, big-endian lengths, one PDV with its context id and message control header', () => {
  const command = encodeCommand({ affectedSopClassUid: VERIFICATION, commandField: CommandField.CEchoRequest, messageId: 3, hasDataset: false });
  const pdu = encodeCommandPdu(5, command);
  assert.equal(pdu[0], 0x04, 'PDU type P-DATA-TF');
  assert.equal(pdu[1], 0x00, 'reserved');
  assert.equal(pdu.readUInt32BE(2), pdu.length - 6, 'PDU length: the bytes after the PDU header');
  assert.equal(pdu.readUInt32BE(6), command.length + 2, 'PDV item length: context id + control header + fragment');
  assert.equal(pdu[10], 5, 'presentation context id');
  assert.equal(pdu[11], 0x03, 'command fragment (bit 0), last fragment (bit 1)');
  assert.deepEqual(pdu.subarray(12), command);

  const fragment = 16384;
  for (const [last, control] of [[false, 0x00], [true, 0x02]] as const) {
    const head = encodeDataPduHeader(7, fragment, last);
    assert.equal(head.length, 12);
    assert.equal(head[0], 0x04);
    assert.equal(head.readUInt32BE(2), 6 + fragment);
    assert.equal(head.readUInt32BE(6), 2 + fragment);
    assert.equal(head[10], 7);
    assert.equal(head[11], control, 'data set fragment; the last one flagged');
  }
});
