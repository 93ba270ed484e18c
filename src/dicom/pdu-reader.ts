/**
 * Cuts the bytes of an association's socket into whole PDUs. dcmjs-dimse's accumulator
 * re-concatenates everything received so far on every socket read (quadratic in PDU size);
 * this one keeps the reads in a list and copies each PDU's bytes at most once.
 */
export class PduReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /**
   * `maxPduLength`: largest PDU body accepted; a header announcing more throws at once, before
   * any of it is buffered (a peer announcing 4 GB must not make us wait for, or keep, 4 GB).
   */
  constructor(private readonly maxPduLength = Number.POSITIVE_INFINITY) {}

  /** Adds socket bytes; returns the complete PDUs (header included) now available. */
  push(data: Buffer): Buffer[] {
    this.chunks.push(data);
    this.buffered += data.length;
    const pdus: Buffer[] = [];
    while (this.buffered >= 6) {
      const head = this.peek(6);
      const bodyLength = head.readUInt32BE(2);
      if (bodyLength > this.maxPduLength) {
        throw new Error(`PDU type 0x${head[0]!.toString(16)} announces ${bodyLength} bytes, more than the ${this.maxPduLength} accepted`);
      }
      const total = 6 + bodyLength;
      if (this.buffered < total) break;
      pdus.push(this.take(total));
    }
    return pdus;
  }

  private peek(length: number): Buffer {
    if (this.chunks[0].length < length) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0];
  }

  /** The next `length` bytes: a view when one read holds them all, otherwise one copy. */
  private take(length: number): Buffer {
    this.buffered -= length;
    const first = this.chunks[0];
    if (first.length >= length) {
      if (first.length === length) this.chunks.shift();
      else this.chunks[0] = first.subarray(length);
      return first.subarray(0, length);
    }
    const out = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const chunk = this.chunks[0];
      const n = Math.min(chunk.length, length - filled);
      chunk.copy(out, filled, 0, n);
      filled += n;
      if (n === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(n);
    }
    return out;
  }
}
