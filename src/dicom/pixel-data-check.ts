import type { InstanceHeader } from './instance-header.js';
import { ACCEPTED_TRANSFER_SYNTAXES } from './sop-classes.js';
import { encapsulatedFragments } from './encapsulated-pixels.js';
import { walkStructure } from './structure-check.js';

const EXPLICIT_BIG_ENDIAN = '1.2.840.10008.1.2.2';
const IMPLICIT_LITTLE_ENDIAN = '1.2.840.10008.1.2';
const NATIVE_SYNTAXES = new Set([IMPLICIT_LITTLE_ENDIAN, '1.2.840.10008.1.2.1', EXPLICIT_BIG_ENDIAN]);
const UNDEFINED_LENGTH = 0xffffffff;

/**
 * Does the file hold the pixel data its header promises? A header parser stops quietly at the
 * end of a truncated file, so this looks at the PixelData element itself: present, its length
 * inside the file, encapsulated exactly when the transfer syntax is a compressed one (and then
 * its fragments well delimited: encapsulated-pixels.ts), and
 * (uncompressed) rows × columns × samples × bytes × frames long (plus at most a pad byte).
 * Returns a problem an operator can read, or undefined.
 */
export function pixelDataProblem(bytes: Buffer, header: InstanceHeader): string | undefined {
  if (!ACCEPTED_TRANSFER_SYNTAXES.has(header.transferSyntaxUid)) {
    return `pixel data in transfer syntax ${header.transferSyntaxUid}, which petspool cannot decode`;
  }
  const bigEndian = header.transferSyntaxUid === EXPLICIT_BIG_ENDIAN;
  // Found by walking the elements: a byte search could hit the tag's bytes inside the pixels.
  const { pixelDataAt: at, problem } = walkStructure(bytes);
  if (problem) return problem;
  if (at === undefined) return `no pixel data: the file ends after ${bytes.length} bytes (truncated?)`;
  const explicit = header.transferSyntaxUid !== IMPLICIT_LITTLE_ENDIAN;
  const lengthAt = explicit ? at + 8 : at + 4;
  if (lengthAt + 4 > bytes.length) return `truncated in the pixel data element header (file is ${bytes.length} bytes)`;
  const length = bigEndian ? bytes.readUInt32BE(lengthAt) : bytes.readUInt32LE(lengthAt);
  const valueStart = lengthAt + 4;
  if (length === UNDEFINED_LENGTH) {
    if (NATIVE_SYNTAXES.has(header.transferSyntaxUid)) return 'pixel data has an undefined length in an uncompressed transfer syntax';
    return encapsulatedFragments(bytes, valueStart).problem;
  }
  if (valueStart + length > bytes.length) {
    return `truncated: pixel data claims ${length} bytes but the file ends ${bytes.length - valueStart} bytes into it`;
  }
  if (!NATIVE_SYNTAXES.has(header.transferSyntaxUid)) {
    return `pixel data is not encapsulated although transfer syntax ${header.transferSyntaxUid} is a compressed one`;
  }
  // Without Rows/Columns there is no expected size; the mandatory-attribute check names them.
  if (!header.rows || !header.columns) return undefined;
  const expected = header.rows * header.columns * (header.samplesPerPixel ?? 1)
    * Math.ceil((header.bitsAllocated ?? 16) / 8) * (header.numberOfFrames ?? 1);
  // An odd-sized value is padded to even length: one byte more is allowed, anything else is wrong.
  if (length < expected || length > expected + (expected % 2)) {
    return `pixel data is ${length} bytes, ${header.rows}×${header.columns}×${header.bitsAllocated ?? 16} bit needs ${expected}`;
  }
  return undefined;
}
