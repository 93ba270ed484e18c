/**
 * Headers of stored instances read on a thread of their own, after Success. dcmjs takes about
 * 0.8 ms per PET header: on the SCP's thread that is 40 % of its work per instance and holds up
 * every association's next instance. One thread, because each carries its own copy of dcmjs
 * (about 20 MB): a read delays the hand-on to the receiver, not the C-STORE answer it follows;
 * only when more than MAX_HEADER_BACKLOG wait does an association's next instance wait (scp.ts).
 */
import type { HeaderReadJob, HeaderReadReply } from './header-read-worker.js';
import type { HeaderOrReason } from './read-header.js';
import { movableBuffer, ThreadPool } from './thread-pool.js';

/** The bytes (back from the thread) and the header read from them, or why it could not be. */
export type HeaderReading = { bytes: Buffer } & HeaderOrReason;

export class HeaderReader {
  private readonly pool = new ThreadPool<HeaderReadJob, HeaderReadReply>(new URL('./header-read-worker.js', import.meta.url), 1, 'header read');

  /** Headers handed over and not read yet: each holds its instance's bytes in memory. */
  get backlog(): number {
    return this.pool.pending;
  }

  /** `bytes` is moved to the thread when it owns its memory (then empty afterwards): use the reading's. */
  async read(bytes: Buffer): Promise<HeaderReading> {
    const buffer = movableBuffer(bytes);
    const reply = await this.pool.run({ bytes: buffer }, [buffer]);
    const back = Buffer.from(reply.bytes);
    return reply.header ? { bytes: back, header: reply.header } : { bytes: back, unreadable: reply.unreadable };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
