/**
 * Reads what the downloader must know of a result archive without extracting it to disk: its
 * metadata.json and the sha256 of its `{task_id}.npy`, streamed through the decompressor. Call it
 * on an archive checkZip already passed (names, sizes and CRCs are sound), so the reads are bounded.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { parseTaskMetadata, type TaskMetadata } from './metadata.js';

const MAX_METADATA_BYTES = 1024 * 1024;

export interface ResultArchiveContent {
  metadata: TaskMetadata;
  npySha256: string;
}

/** A result archive that is sound as a zip but does not hold a usable result. */
export class ResultArchiveError extends Error {
  override name = 'ResultArchiveError';
}

export async function readResultArchive(zipPath: string, taskId: string): Promise<ResultArchiveContent> {
  const npyName = `${taskId}.npy`;
  const zip = await new Promise<ZipFile>((resolve, reject) => {
    yauzl.open(zipPath, { lazyEntries: true, autoClose: false }, (err, z) => (err ? reject(err) : resolve(z)));
  });
  let metadataText: string | undefined;
  let npySha256: string | undefined;
  try {
    for (let entry = await nextEntry(zip); entry; entry = await nextEntry(zip)) {
      if (entry.fileName === 'metadata.json') {
        if (entry.uncompressedSize > MAX_METADATA_BYTES) throw new ResultArchiveError('metadata.json is larger than 1 MiB');
        const chunks: Buffer[] = [];
        for await (const chunk of await openEntry(zip, entry)) chunks.push(chunk as Buffer);
        metadataText = Buffer.concat(chunks).toString('utf8');
      } else if (entry.fileName === npyName) {
        const hash = createHash('sha256');
        for await (const chunk of await openEntry(zip, entry)) hash.update(chunk as Buffer);
        npySha256 = hash.digest('hex');
      }
    }
  } finally {
    zip.close();
  }
  if (metadataText === undefined) throw new ResultArchiveError('the result archive has no metadata.json');
  if (npySha256 === undefined) throw new ResultArchiveError(`the result archive has no ${npyName}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(metadataText);
  } catch {
    throw new ResultArchiveError('metadata.json in the result archive is not JSON');
  }
  let metadata: TaskMetadata;
  try {
    metadata = parseTaskMetadata(parsed);
  } catch (err) {
    throw new ResultArchiveError((err as Error).message);
  }
  if (metadata.task_id !== taskId) throw new ResultArchiveError(`the result archive's metadata.json is for task ${metadata.task_id}`);
  return { metadata, npySha256 };
}

function nextEntry(zip: ZipFile): Promise<Entry | null> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    const onEntry = (entry: Entry): void => { done(); resolve(entry); };
    const onEnd = (): void => { done(); resolve(null); };
    const onError = (err: Error): void => { done(); reject(err); };
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

function openEntry(zip: ZipFile, entry: Entry): Promise<Readable> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => (err ? reject(err) : resolve(stream)));
  });
}
