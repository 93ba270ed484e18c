/**
 * The fixed-layout records of a zip archive (PKWARE APPNOTE 4.3.7, 4.3.12, 4.3.16), without zip64:
 * shared by petspool's archive writer (zip-write.ts) and the reference service's crafted faulty
 * archives (reference-faults.ts), which choose their own field values.
 */

export const LOCAL_HEADER_BYTES = 30;
export const CENTRAL_HEADER_BYTES = 46;
export const END_RECORD_BYTES = 22;
/** 2.0: deflate. */
export const VERSION_NEEDED = 20;
/** Unix, so readers take the permission bits in the external attributes. */
const VERSION_MADE_BY = (3 << 8) | VERSION_NEEDED;
export const FLAG_UTF8_NAME = 1 << 11;
export const UNIX_REGULAR_FILE_0644 = 0o100644;

/** MS-DOS time and date fields. */
export interface DosTime { time: number; date: number }

export interface ZipRecordFields {
  /** The stored name bytes. */
  name: Buffer;
  flags: number;
  /** 0 stored, 8 deflated. */
  method: number;
  dosTime: DosTime;
  crc32: number;
  compressedSize: number;
  size: number;
}

/**
 * The run of fields both headers share, from "version needed" to the name length (24 bytes at
 * `at`): the local header has it at 4, the central one at 6.
 */
function writeEntryFields(header: Buffer, at: number, f: ZipRecordFields): void {
  header.writeUInt16LE(VERSION_NEEDED, at);
  header.writeUInt16LE(f.flags, at + 2);
  header.writeUInt16LE(f.method, at + 4);
  header.writeUInt16LE(f.dosTime.time, at + 6);
  header.writeUInt16LE(f.dosTime.date, at + 8);
  header.writeUInt32LE(f.crc32, at + 10);
  header.writeUInt32LE(f.compressedSize, at + 14);
  header.writeUInt32LE(f.size, at + 18);
  header.writeUInt16LE(f.name.length, at + 22);
}

/** Local file header, name included (no extra field). */
export function localFileHeader(f: ZipRecordFields): Buffer {
  const header = Buffer.alloc(LOCAL_HEADER_BYTES + f.name.length);
  header.writeUInt32LE(0x04034b50, 0);
  writeEntryFields(header, 4, f);
  header.writeUInt16LE(0, 28); // no extra field
  f.name.copy(header, LOCAL_HEADER_BYTES);
  return header;
}

/** Central directory header, name included; `unixMode` (e.g. 0o100644, 0o120777) goes in the external attributes. */
export function centralDirectoryHeader(f: ZipRecordFields, unixMode: number, localHeaderOffset: number): Buffer {
  const header = Buffer.alloc(CENTRAL_HEADER_BYTES + f.name.length);
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE(VERSION_MADE_BY, 4);
  writeEntryFields(header, 6, f);
  // extra field length, comment length, disk number, internal attributes: all 0
  header.writeUInt32LE((unixMode << 16) >>> 0, 38);
  header.writeUInt32LE(localHeaderOffset, 42);
  f.name.copy(header, CENTRAL_HEADER_BYTES);
  return header;
}

/** End of central directory record (one disk, no comment). */
export function endOfCentralDirectory(entries: number, directoryLength: number, directoryOffset: number): Buffer {
  const record = Buffer.alloc(END_RECORD_BYTES);
  record.writeUInt32LE(0x06054b50, 0);
  // disk numbers: 0
  record.writeUInt16LE(entries, 8);
  record.writeUInt16LE(entries, 10);
  record.writeUInt32LE(directoryLength, 12);
  record.writeUInt32LE(directoryOffset, 16);
  // comment length: 0
  return record;
}
