/**
 * What the overwrite writes and where it checks it: a seekable keystream
 * (AES-128-CTR over zeros, so any offset can be regenerated to verify a
 * random final pass) and the sample offsets read back after the last pass.
 * Pure: no I/O, unit-tested beside.
 */
import type { Cipher } from 'node:crypto';
import { crypto } from '../../util/node-builtins.js';

/** Key and nonce of one random pass; the block counter is the byte offset / 16. */
export interface PassKey {
  key: Buffer;
  nonce: Buffer;
}

export const newPassKey = (): PassKey => ({ key: crypto().randomBytes(16), nonce: crypto().randomBytes(8) });

/** The 16-byte CTR IV for `offset` (a multiple of 16): 8 bytes of nonce, then the 64-bit block index. */
export function counterIv(k: PassKey, offset: number): Buffer {
  if (offset % 16 !== 0) throw new RangeError(`keystream offset ${offset} is not a multiple of 16`);
  const iv = Buffer.alloc(16);
  k.nonce.copy(iv, 0, 0, 8);
  iv.writeBigUInt64BE(BigInt(offset / 16), 8);
  return iv;
}

/**
 * A keystream generator positioned at `offset`. AES-CTR because OpenSSL runs
 * it at memory speed with AES-NI and, unlike crypto.randomFill, it can be
 * replayed at any offset to check what a random pass left on the disk.
 */
export class Keystream {
  private readonly cipher: Cipher;
  constructor(k: PassKey, offset = 0) {
    this.cipher = crypto().createCipheriv('aes-128-ctr', k.key, counterIv(k, offset));
  }
  /**
   * Write the next `len` bytes of the stream into `target`. In 64 KiB steps:
   * update() allocates its output, and small outputs stay in the CPU cache
   * for the copy (about twice the rate of one 8 MiB update on this VM).
   */
  fill(target: Buffer, len = target.length): Buffer {
    for (let o = 0; o < len; o += PIECE) {
      const n = Math.min(PIECE, len - o);
      this.cipher.update(ZERO_PIECE.subarray(0, n)).copy(target, o);
    }
    return target;
  }
  /** The next `len` bytes of the stream in a new buffer. */
  next(len: number): Buffer {
    return this.fill(Buffer.allocUnsafe(len));
  }
}

const PIECE = 64 * 1024;
const ZERO_PIECE = Buffer.alloc(PIECE);

/** `len` keystream bytes at `offset`, for verification. */
export const keystreamAt = (k: PassKey, offset: number, len: number): Buffer => new Keystream(k, offset).next(len);

export interface Sample {
  offset: number;
  length: number;
}

/**
 * Blocks to read back: the first and the last block always, the others one
 * per equal stretch of the device at a random aligned place inside it, so
 * the whole device is covered and no fixed offset is predictable. A device
 * smaller than `count` blocks is read back whole.
 */
export function sampleOffsets(size: number, block: number, count: number, align = 4096, random: () => number = Math.random): Sample[] {
  if (size <= 0) return [];
  const at = (offset: number): Sample => ({ offset, length: Math.min(block, size - offset) });
  if (size <= block * count) {
    const all: Sample[] = [];
    for (let off = 0; off < size; off += block) all.push(at(off));
    return all;
  }
  // The last block ends exactly at the device end (sizes are whole sectors, so this is sector-aligned).
  const last = size - block;
  const offsets = [0];
  // Inner samples: one aligned offset in each of `count - 2` equal stretches of [block, last).
  // A stretch is at least one block long and its aligned start is past the previous stretch, so offsets never repeat.
  const inner = count - 2;
  const stretch = (last - block) / inner;
  for (let i = 0; i < inner; i++) {
    const lo = Math.ceil((block + i * stretch) / align) * align;
    const slots = Math.max(1, Math.floor((block + (i + 1) * stretch - lo) / align));
    offsets.push(lo + Math.floor(random() * slots) * align);
  }
  offsets.push(last);
  return offsets.map(at);
}

let zeroBuf = Buffer.alloc(0);

/** The first offset where `got` differs from `want` (from zeros when `want` is null), or -1. memcmp-fast when equal. */
export function firstMismatch(got: Buffer, want: Buffer | null): number {
  if (!want) {
    if (zeroBuf.length < got.length) zeroBuf = Buffer.alloc(got.length);
    want = zeroBuf.subarray(0, got.length);
  }
  if (got.length === want.length && got.equals(want)) return -1;
  for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) return i;
  return got.length === want.length ? -1 : got.length;
}

/** A buffer is "uniform" when every byte is the same (zeros, 0xff): what a firmware erase often leaves. */
export function isUniform(b: Buffer): boolean {
  if (b.length === 0) return true;
  const v = b[0]!;
  for (let i = 1; i < b.length; i++) if (b[i] !== v) return false;
  return true;
}

/** Human text of the passes, for the step result and the log: "1 random pass + zeros". */
export function describePasses(iterations: number, zeroize: boolean): string {
  const parts: string[] = [];
  if (iterations > 0) parts.push(`${iterations} random pass${iterations === 1 ? '' : 'es'}`);
  if (zeroize) parts.push('zeros');
  return parts.join(' + ') || 'nothing';
}
