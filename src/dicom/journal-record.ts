/**
 * The record format of the intake journal's segment files (intake-journal.ts). Records lie back to
 * back from offset 0:
 *
 *   magic "PSJ1" | lap 8 bytes | path length u32 | data length u32 | CRC-32 u32 | path | data
 *
 * (little endian). The CRC covers the lap, both lengths, the path and the data, so a record torn
 * by a crash reads as the end of the segment. Segments are reused: every lap through a segment
 * has a random 8-byte id, written in each of its records, so a whole record left further on by an
 * earlier lap (in this run or any before) ends the segment too.
 */
import { crc32 } from 'node:zlib';

export const RECORD_HEADER_BYTES = 28;
export const LAP_BYTES = 8;
const MAGIC = 0x314a5350; // "PSJ1" read as a little-endian u32

export interface JournalRecord {
  /** The instance's path relative to received/ (`<calling AE>/<arrival stamp>_<SOP Instance UID>.dcm`). */
  path: string;
  data: Buffer;
}

/** A record's header and path, to be written with its data right behind them. */
export function encodeRecordHead(lap: Buffer, path: string, data: Uint8Array): Buffer {
  const pathBytes = Buffer.from(path, 'utf8');
  const head = Buffer.alloc(RECORD_HEADER_BYTES + pathBytes.length);
  head.writeUInt32LE(MAGIC, 0);
  lap.copy(head, 4, 0, LAP_BYTES);
  head.writeUInt32LE(pathBytes.length, 12);
  head.writeUInt32LE(data.length, 16);
  pathBytes.copy(head, RECORD_HEADER_BYTES);
  head.writeUInt32LE(checksum(head, data), 24);
  return head;
}

export function recordBytes(path: string, data: Uint8Array): number {
  return RECORD_HEADER_BYTES + Buffer.byteLength(path, 'utf8') + data.length;
}

/**
 * The records of the last lap through a segment, read from its bytes: those of the lap at offset
 * 0, up to the first that is torn, of another lap, or absent.
 */
export function readRecords(segment: Buffer): JournalRecord[] {
  const records: JournalRecord[] = [];
  let offset = 0;
  while (offset + RECORD_HEADER_BYTES <= segment.length) {
    if (segment.readUInt32LE(offset) !== MAGIC) break;
    if (offset > 0 && !segment.subarray(offset + 4, offset + 4 + LAP_BYTES).equals(segment.subarray(4, 4 + LAP_BYTES))) break;
    const pathLength = segment.readUInt32LE(offset + 12);
    const dataLength = segment.readUInt32LE(offset + 16);
    const end = offset + RECORD_HEADER_BYTES + pathLength + dataLength;
    if (end > segment.length) break;
    const head = segment.subarray(offset, offset + RECORD_HEADER_BYTES + pathLength);
    const data = segment.subarray(offset + RECORD_HEADER_BYTES + pathLength, end);
    if (checksum(head, data) !== segment.readUInt32LE(offset + 24)) break;
    records.push({ path: head.subarray(RECORD_HEADER_BYTES).toString('utf8'), data });
    offset = end;
  }
  return records;
}

/** Whether a segment starting with these bytes still holds records: a retired one starts with zeros. */
export function holdsRecords(segmentStart: Buffer): boolean {
  return segmentStart.length >= 4 && segmentStart.readUInt32LE(0) === MAGIC;
}

/** CRC-32 of the lap and the lengths, the path, then the data. */
function checksum(head: Buffer, data: Uint8Array): number {
  const fields = crc32(head.subarray(4, 20));
  return crc32(data, crc32(head.subarray(RECORD_HEADER_BYTES), fields));
}
