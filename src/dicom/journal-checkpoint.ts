/**
 * The intake journal's checkpoint (intake-journal.ts), blocking: the instances recorded in some
 * segments are written under their final names in received/ (a temporary name first, so the
 * receiver never reads half a file), made durable all at once with syncfs, and the segments are
 * retired (their first record head zeroed and flushed: they read as empty). Run on the journal's
 * checkpoint thread (journal-checkpoint-worker.ts) and, for the segments a crash left behind, at
 * start-up.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeAllSync } from '../spool/durable.js';
import { syncFilesystem } from '../util/sync-filesystem.js';
import { readRecords, RECORD_HEADER_BYTES } from './journal-record.js';

/** Under received/: where each file is written before it is renamed into place. */
export const FILING_DIR = '.tmp';

/** Returns how many instances the segments held. */
export function checkpointSegments(receivedDir: string, segmentFiles: string[]): number {
  let filed = 0;
  const folders = new Set<string>();
  for (const segment of segmentFiles) {
    for (const { path: relativePath, data } of readRecords(readSegment(segment))) {
      const finalPath = path.join(receivedDir, relativePath);
      const folder = path.dirname(finalPath);
      if (!folders.has(folder)) {
        fs.mkdirSync(folder, { recursive: true });
        folders.add(folder);
      }
      const tmpPath = path.join(receivedDir, FILING_DIR, `${path.basename(relativePath)}.part`);
      const fd = fs.openSync(tmpPath, 'w');
      try {
        writeAllSync(fd, [data], 0);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmpPath, finalPath);
      filed++;
    }
  }
  if (filed > 0) syncFilesystem(receivedDir);
  for (const segment of segmentFiles) retire(segment);
  return filed;
}

/** One buffer for the segment being read, reused: a new one per segment would grow the thread by 16 MB each. */
let segmentBuffer = Buffer.alloc(0);

function readSegment(file: string): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    if (segmentBuffer.length < size) segmentBuffer = Buffer.allocUnsafe(size);
    let read = 0;
    for (let n = -1; n !== 0 && read < size; read += n) n = fs.readSync(fd, segmentBuffer, read, size - read, read);
    return segmentBuffer.subarray(0, read);
  } finally {
    fs.closeSync(fd);
  }
}

function retire(segment: string): void {
  const fd = fs.openSync(segment, 'r+');
  try {
    fs.writeSync(fd, Buffer.alloc(RECORD_HEADER_BYTES), 0, RECORD_HEADER_BYTES, 0);
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
