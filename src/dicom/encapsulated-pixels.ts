/**
 * The fragments of encapsulated (compressed) pixel data, PS3.5 A.4: after the PixelData header
 * come items (FFFE,E000) — the Basic Offset Table first, then the compressed fragments — and a
 * sequence delimiter (FFFE,E0DD). Scanners and converters get this wrong in a few common ways;
 * the unambiguous ones are read anyway (an odd fragment length, a missing Basic Offset Table),
 * the others are named so that an operator can tell the sender what is broken.
 */

const ITEM = 0xe000;
const SEQUENCE_END = 0xe0dd;
const ITEM_GROUP = 0xfffe;
const UNDEFINED_LENGTH = 0xffffffff;

export type FragmentWalk = { fragments: Buffer[]; problem?: undefined } | { fragments?: undefined; problem: string };

/**
 * Walks the items of encapsulated pixel data whose value starts at `valueStart` (just after the
 * undefined length of PixelData) and returns the compressed fragments (without the Basic Offset
 * Table), or the first defect in words an operator can act on.
 */
export function encapsulatedFragments(bytes: Buffer, valueStart: number): FragmentWalk {
  const fragments: Buffer[] = [];
  let at = valueStart;
  for (let item = 0; ; item++) {
    if (at === bytes.length) {
      return { problem: 'compressed pixel data ends without its sequence delimiter (FFFE,E0DD): the file is truncated or its encoder left the delimiter out' };
    }
    if (at + 8 > bytes.length) return { problem: `truncated: the file ends inside the header of pixel data item ${item + 1}` };
    const group = bytes.readUInt16LE(at);
    const element = bytes.readUInt16LE(at + 2);
    const length = bytes.readUInt32LE(at + 4);
    if (group === ITEM_GROUP && element === SEQUENCE_END) break;
    if (group !== ITEM_GROUP || element !== ITEM) {
      return { problem: `compressed pixel data holds (${hex(group)},${hex(element)}) at byte ${at} where a fragment item (FFFE,E000) belongs` };
    }
    if (length === UNDEFINED_LENGTH) return { problem: `pixel data item ${item + 1} has an undefined length (fragments must have a length)` };
    const start = at + 8;
    if (start + length > bytes.length) {
      return { problem: `truncated: pixel data item ${item + 1} claims ${length} bytes but the file ends ${bytes.length - start} bytes into it` };
    }
    const value = bytes.subarray(start, start + length);
    // The first item is the Basic Offset Table, unless an encoder left it out and started with
    // the codestream itself (recognised by its marker; a table holds 4-byte offsets).
    if (item > 0 || startsWithCodestream(value)) fragments.push(value);
    at = start + length;
  }
  if (fragments.length === 0 || fragments.every((f) => f.length === 0)) return { problem: 'compressed pixel data has no fragments (no image in it)' };
  return { fragments };
}

/** JPEG, JPEG-LS (SOI FFD8) or a JPEG 2000 codestream (SOC FF4F) or file (box signature). */
function startsWithCodestream(value: Buffer): boolean {
  if (value.length < 4) return false;
  if (value[0] === 0xff && (value[1] === 0xd8 || value[1] === 0x4f)) return true;
  return value.readUInt32BE(0) === 0x0000000c && value.toString('latin1', 4, 8) === 'jP  ';
}

function hex(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, '0');
}
