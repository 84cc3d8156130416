/**
 * Pull-style reader over a chunk stream with an absolute position, so parsers
 * can say exactly where an archive ended (needed to find the next member of
 * a concatenated initramfs).
 */
import type { Readable } from 'node:stream';

export class ByteReader {
  readonly #it: AsyncIterator<Buffer | string>;
  #buf: Buffer = Buffer.alloc(0);
  #eof = false;
  /** Bytes consumed so far. */
  position = 0;

  constructor(input: Readable | Buffer | AsyncIterable<Buffer>) {
    if (Buffer.isBuffer(input)) {
      const whole = input;
      this.#it = (async function* () {
        yield whole;
      })();
    } else {
      this.#it = (input as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    }
  }

  /** Buffer at least n bytes unless the input ends first; returns what is available (≤ n not guaranteed). */
  async fill(n: number): Promise<number> {
    while (this.#buf.length < n && !this.#eof) {
      const r = await this.#it.next();
      if (r.done) this.#eof = true;
      else {
        const c = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
        this.#buf = this.#buf.length ? Buffer.concat([this.#buf, c]) : c;
      }
    }
    return this.#buf.length;
  }

  /** Look at the next n bytes without consuming (shorter at the end of input). */
  async peek(n: number): Promise<Buffer> {
    await this.fill(n);
    return this.#buf.subarray(0, n);
  }

  /** Exactly n bytes, or an error naming what was truncated. */
  async read(n: number, what = 'data'): Promise<Buffer> {
    if ((await this.fill(n)) < n)
      throw new Error(`truncated archive: ${what} needs ${n} bytes at offset ${this.position}, ${this.#buf.length} left`);
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    this.position += n;
    return out;
  }

  /** Discard n bytes without holding them in memory. */
  async skip(n: number, what = 'data'): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.#buf.length === 0 && (await this.fill(1)) === 0)
        throw new Error(`truncated archive: ${what} needs ${left} more bytes at offset ${this.position}`);
      const k = Math.min(left, this.#buf.length);
      this.#buf = this.#buf.subarray(k);
      this.position += k;
      left -= k;
    }
  }

  /** Skip NUL padding; false when the input ended. */
  async skipZeros(): Promise<boolean> {
    for (;;) {
      if ((await this.fill(1)) === 0) return false;
      let i = 0;
      while (i < this.#buf.length && this.#buf[i] === 0) i++;
      this.#buf = this.#buf.subarray(i);
      this.position += i;
      if (this.#buf.length > 0) return true;
    }
  }
}
