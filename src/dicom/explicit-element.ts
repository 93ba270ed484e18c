/**
 * One Explicit VR Little Endian element, byte for byte: what the file meta group is written in,
 * and what test fixtures build hand-made files from.
 */

/** Short-form element (2-byte length) with a text value padded to even length (UI with NUL). */
export function textElement(group: number, element: number, vr: string, text: string): Buffer {
  let value = Buffer.from(text, 'latin1');
  if (value.length % 2) value = Buffer.concat([value, Buffer.from([vr === 'UI' ? 0x00 : 0x20])]);
  const head = Buffer.alloc(8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(element, 2);
  head.write(vr, 4, 'latin1');
  head.writeUInt16LE(value.length, 6);
  return Buffer.concat([head, value]);
}

/** Long-form element (OB, OW, SQ, UN...): 2 reserved bytes and a 4-byte length. */
export function longElement(group: number, element: number, vr: string, value: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(element, 2);
  head.write(vr, 4, 'latin1');
  head.writeUInt32LE(value.length, 8);
  return Buffer.concat([head, value]);
}
