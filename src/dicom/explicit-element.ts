/**
 * One Explicit VR Little Endian element, byte for byte: what the file meta group is written in,
 * what test fixtures build hand-made files from, and the element header element-encoder.ts writes.
 */

/** VRs whose explicit header has 2 reserved bytes and a 4-byte length (the others: a 2-byte length). */
export const LONG_FORM_VRS: ReadonlySet<string> = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'UV']);

/**
 * Writes the header of an explicit VR little-endian element at offset (the caller makes room:
 * 12 bytes in long form, 8 in short form) and returns where the value starts.
 */
export function writeExplicitHeader(
  target: Buffer,
  offset: number,
  group: number,
  element: number,
  vr: string,
  length: number,
  longForm = LONG_FORM_VRS.has(vr),
): number {
  target.writeUInt16LE(group, offset);
  target.writeUInt16LE(element, offset + 2);
  target.write(vr, offset + 4, 2, 'latin1');
  if (!longForm) {
    target.writeUInt16LE(length, offset + 6);
    return offset + 8;
  }
  target.writeUInt16LE(0, offset + 6);
  target.writeUInt32LE(length, offset + 8);
  return offset + 12;
}

/** Short-form element (2-byte length) with a text value padded to even length (UI with NUL). */
export function textElement(group: number, element: number, vr: string, text: string): Buffer {
  let value = Buffer.from(text, 'latin1');
  if (value.length % 2) value = Buffer.concat([value, Buffer.from([vr === 'UI' ? 0x00 : 0x20])]);
  const head = Buffer.alloc(8);
  writeExplicitHeader(head, 0, group, element, vr, value.length, false);
  return Buffer.concat([head, value]);
}

/** Long-form element (OB, OW, SQ, UN...): 2 reserved bytes and a 4-byte length. */
export function longElement(group: number, element: number, vr: string, value: Buffer): Buffer {
  const head = Buffer.alloc(12);
  writeExplicitHeader(head, 0, group, element, vr, value.length, true);
  return Buffer.concat([head, value]);
}
