/**
 * Headers of stored instances read (and their pixel data checked, header-read-worker.ts) on a
 * thread of their own, after Success. Reading a PET header takes about 0.6 ms (dcmjs): on the
 * SCP's thread that would be 40 % of its work per instance and would hold up every association's
 * next instance. One thread, because each carries its own copy of dcmjs (about 20 MB): a read
 * delays the hand-on to the receiver, not the C-STORE answer it follows. While few reads wait,
 * the thread gets the bytes still in memory; past MAX_HEADER_BACKLOG it reads the file once it is
 * there (scp.ts), so memory stays flat when many associations send.
 */
import type { HeaderReadJob, HeaderReadReply } from './header-read-worker.js';
import { movableBuffer, ThreadPool } from './thread-pool.js';

export class HeaderReader {
  private readonly pool = new ThreadPool<HeaderReadJob, HeaderReadReply>(new URL('./header-read-worker.js', import.meta.url), 1, 'header read');

  /** Headers handed over and not read yet: each holds its instance's bytes in memory. */
  get backlog(): number {
    return this.pool.pending;
  }

  /** The header read from `bytes` with its pixel-data check, or why it could not be; `bytes` is moved to the thread when it owns its memory (then empty afterwards). */
  async read(bytes: Buffer): Promise<HeaderReadReply> {
    const buffer = movableBuffer(bytes);
    return this.pool.run({ bytes: buffer }, [buffer]);
  }

  /** The header read from `file` on the thread with its pixel-data check, or why it could not be (an unreadable file included). */
  async readFile(file: string): Promise<HeaderReadReply> {
    return this.pool.run({ file });
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
