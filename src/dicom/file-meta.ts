/**
 * The Part-10 preamble, DICM prefix and file meta information group that turn a dataset received
 * over the network into a DICOM file. The dataset bytes themselves are written after it unchanged.
 */
import { longElement, textElement } from './explicit-element.js';

/** petspool's Implementation Class UID (a 2.25 UUID-derived UID, generated once). */
export const IMPLEMENTATION_CLASS_UID = '2.25.192906388023967226585212500228032549446';
export const IMPLEMENTATION_VERSION_NAME = 'PETSPOOL_01';

export interface FileMetaFacts {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  sourceAeTitle?: string;
}

export function encodeFileMeta(facts: FileMetaFacts): Buffer {
  const elements = [
    longElement(0x0002, 0x0001, 'OB', Buffer.from([0x00, 0x01])),
    textElement(0x0002, 0x0002, 'UI', facts.sopClassUid),
    textElement(0x0002, 0x0003, 'UI', facts.sopInstanceUid),
    textElement(0x0002, 0x0010, 'UI', facts.transferSyntaxUid),
    textElement(0x0002, 0x0012, 'UI', IMPLEMENTATION_CLASS_UID),
    textElement(0x0002, 0x0013, 'SH', IMPLEMENTATION_VERSION_NAME),
  ];
  if (facts.sourceAeTitle) elements.push(textElement(0x0002, 0x0016, 'AE', facts.sourceAeTitle));
  const group = Buffer.concat(elements);
  const head = Buffer.alloc(132 + 12);
  head.write('DICM', 128, 'latin1');
  head.writeUInt16LE(0x0002, 132);
  head.writeUInt16LE(0x0000, 134);
  head.write('UL', 136, 'latin1');
  head.writeUInt16LE(4, 138);
  head.writeUInt32LE(group.length, 140);
  return Buffer.concat([head, group]);
}


export interface Part10Parts extends FileMetaFacts {
  /** The dataset bytes after the file meta group, exactly as in the file. */
  dataset: Buffer;
}

/** Splits a Part-10 file into its meta facts and its dataset bytes (for sending unchanged). */
export function splitPart10(file: Buffer): Part10Parts {
  if (file.length < 144 || file.toString('latin1', 128, 132) !== 'DICM') throw new Error('not a DICOM file: no DICM prefix');
  const facts: FileMetaFacts = { sopClassUid: '', sopInstanceUid: '', transferSyntaxUid: '' };
  let offset = 132;
  // Group 0002 is always Explicit VR Little Endian; walk it element by element.
  while (offset + 8 <= file.length && file.readUInt16LE(offset) === 0x0002) {
    const element = file.readUInt16LE(offset + 2);
    const vr = file.toString('latin1', offset + 4, offset + 6);
    const longForm = vr === 'OB' || vr === 'UN' || vr === 'SQ' || vr === 'UT' || vr === 'OW';
    const length = longForm ? file.readUInt32LE(offset + 8) : file.readUInt16LE(offset + 6);
    const value = offset + (longForm ? 12 : 8);
    if (value + length > file.length) throw new Error('truncated: file meta information is cut short');
    const text = (): string => file.toString('latin1', value, value + length).replace(/[\0 ]+$/, '');
    if (element === 0x0002) facts.sopClassUid = text();
    else if (element === 0x0003) facts.sopInstanceUid = text();
    else if (element === 0x0010) facts.transferSyntaxUid = text();
    offset = value + length;
  }
  if (!facts.sopClassUid || !facts.sopInstanceUid || !facts.transferSyntaxUid) {
    throw new Error('malformed DICOM file: file meta information lacks the SOP class, SOP instance or transfer syntax UID');
  }
  return { ...facts, dataset: file.subarray(offset) };
}
