/**
 * Where a compressed initramfs member ends, from the format's own framing,
 * so the next member can be found without decompressing twice.
 */
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

async function readAt(fh: FileHandle, pos: number, n: number): Promise<Buffer> {
  const b = Buffer.alloc(n);
  const { bytesRead } = await fh.read(b, 0, n, pos);
  return b.subarray(0, bytesRead);
}

/** Length of a gzip member header (RFC 1952: optional extra, name, comment, header CRC). */
export async function gzipHeaderLength(fh: FileHandle, pos: number): Promise<number> {
  const b = await readAt(fh, pos, 65536 + 1024);
  if (b.length < 10 || b[0] !== 0x1f || b[1] !== 0x8b || b[2] !== 8) throw new Error('bad gzip header');
  const flg = b[3] as number;
  let i = 10;
  if (flg & 4) i += 2 + b.readUInt16LE(i);
  for (const bit of [8, 16]) {
    if (!(flg & bit)) continue;
    const z = b.indexOf(0, i);
    if (z < 0) throw new Error('gzip header name/comment too long');
    i = z + 1;
  }
  if (flg & 2) i += 2;
  return i;
}

/**
 * End of the xz stream starting at pos: the first 4-aligned stream footer
 * whose CRC32 and flags check out and whose backward size points at an index.
 */
export async function findXzEnd(fh: FileHandle, pos: number, size: number): Promise<number> {
  const header = await readAt(fh, pos, 12);
  const flags = header.subarray(6, 8);
  const CHUNK = 1 << 20;
  // Footers are 12 bytes ending on a 4-byte boundary relative to the stream start.
  for (let base = pos + 12; base < size; base += CHUNK) {
    const b = await readAt(fh, base, CHUNK + 12);
    for (let i = 0; i + 12 <= b.length; i += 4) {
      if (b[i + 10] !== 0x59 || b[i + 11] !== 0x5a || b[i + 8] !== flags[0] || b[i + 9] !== flags[1]) continue;
      if (crc32(b.subarray(i + 4, i + 10)) !== b.readUInt32LE(i)) continue;
      const footer = base + i;
      const backward = (b.readUInt32LE(i + 4) + 1) * 4;
      const indexAt = footer - backward;
      if (indexAt < pos + 12) continue;
      const ind = await readAt(fh, indexAt, 1);
      if (ind[0] === 0x00) return footer + 12;
    }
  }
  throw new Error('xz stream footer not found (truncated file?)');
}

/** End of the zstd frames (and skippable frames) starting at pos, by walking block headers. */
export async function findZstdEnd(fh: FileHandle, pos: number, size: number): Promise<number> {
  let p = pos;
  while (p + 4 <= size) {
    const magic = (await readAt(fh, p, 4)).readUInt32LE(0);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      p += 8 + (await readAt(fh, p + 4, 4)).readUInt32LE(0);
      continue;
    }
    if (magic !== 0xfd2fb528) break;
    const fhd = (await readAt(fh, p + 4, 1))[0] as number;
    const single = (fhd >> 5) & 1;
    const fcsSize = [single ? 1 : 0, 2, 4, 8][fhd >> 6] as number;
    const didSize = [0, 1, 2, 4][fhd & 3] as number;
    p += 5 + (single ? 0 : 1) + didSize + fcsSize;
    for (;;) {
      const bh = await readAt(fh, p, 3);
      if (bh.length < 3) throw new Error('zstd frame truncated');
      const v = (bh[0] as number) | ((bh[1] as number) << 8) | ((bh[2] as number) << 16);
      const type = (v >> 1) & 3;
      if (type === 3) throw new Error('reserved zstd block type');
      p += 3 + (type === 1 ? 1 : v >>> 3);
      if (v & 1) break;
    }
    if (fhd & 4) p += 4;
  }
  if (p === pos || p > size) throw new Error('zstd frame truncated');
  return p;
}

/** The magic of lz4's legacy frame, which the kernel reads; it may recur between chunks (concatenated frames). */
export const LZ4_LEGACY_MAGIC = 0x184c2102;

/**
 * End of an lz4 legacy member at `pos`: the magic, then chunks (a 4-byte
 * length, that many bytes), up to a zero length (the zero padding our
 * writer puts after it: the format has no end mark) or the end of the file.
 */
export async function findLz4End(fh: FileHandle, pos: number, size: number): Promise<number> {
  let p = pos;
  while (p + 4 <= size) {
    const len = (await readAt(fh, p, 4)).readUInt32LE(0);
    if (len === LZ4_LEGACY_MAGIC) {
      p += 4;
      continue;
    }
    if (len === 0) break;
    if (p === pos) break; // no magic first: not lz4
    p += 4 + len;
  }
  if (p === pos || p > size) throw new Error('lz4 member truncated');
  return p;
}
