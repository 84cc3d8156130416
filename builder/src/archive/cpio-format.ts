/**
 * The newc ("070701") and crc ("070702") cpio header as the kernel reads it
 * (Documentation/driver-api/early-userspace/buffer-format.rst): magic, then
 * 13 fields of 8 hex digits, 110 bytes in all; name and data padded to 4.
 */
import type { EntryType } from '../tree/types.js';

export const NEWC_MAGIC = '070701';
export const CRC_MAGIC = '070702';
export const HEADER_SIZE = 110;
export const TRAILER_NAME = 'TRAILER!!!';

export const S_IFMT = 0o170000;
export const TYPE_BITS: Record<Exclude<EntryType, 'hardlink'>, number> = {
  fifo: 0o010000,
  char: 0o020000,
  dir: 0o040000,
  block: 0o060000,
  file: 0o100000,
  symlink: 0o120000,
};

export interface CpioHeader {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  size: number;
  devMajor: number;
  devMinor: number;
  rdevMajor: number;
  rdevMinor: number;
  nameSize: number;
  check: number;
}

const HEX = Buffer.from('0123456789ABCDEF', 'latin1');

/** Bytes needed to reach the next multiple of 4. */
export function pad4(n: number): number {
  return (4 - (n & 3)) & 3;
}

function writeHex8(buf: Buffer, at: number, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`cpio header field out of range: ${v}`);
  for (let i = 7; i >= 0; i--) {
    buf[at + i] = HEX[v & 15] as number;
    v >>>= 4;
  }
}

/** Write a 070701 header at `at` (buf must have HEADER_SIZE bytes there). */
export function encodeHeader(buf: Buffer, at: number, h: CpioHeader): void {
  buf.write(NEWC_MAGIC, at, 'latin1');
  const fields = [
    h.ino,
    h.mode,
    h.uid,
    h.gid,
    h.nlink,
    h.mtime,
    h.size,
    h.devMajor,
    h.devMinor,
    h.rdevMajor,
    h.rdevMinor,
    h.nameSize,
    h.check,
  ];
  for (let i = 0; i < fields.length; i++) writeHex8(buf, at + 6 + i * 8, fields[i] as number);
}

/** Parse a header; throws on a bad magic or non-hex field. */
export function decodeHeader(buf: Buffer, at = 0): CpioHeader & { magic: string } {
  const magic = buf.toString('latin1', at, at + 6);
  if (magic !== NEWC_MAGIC && magic !== CRC_MAGIC)
    throw new Error(`bad cpio magic '${magic.replace(/[^\x20-\x7e]/g, '?')}' (only newc 070701/070702 is supported)`);
  const f: number[] = [];
  for (let i = 0; i < 13; i++) {
    const s = buf.toString('latin1', at + 6 + i * 8, at + 14 + i * 8);
    if (!/^[0-9a-fA-F]{8}$/.test(s)) throw new Error(`bad cpio header field '${s}'`);
    f.push(parseInt(s, 16));
  }
  const [ino, mode, uid, gid, nlink, mtime, size, devMajor, devMinor, rdevMajor, rdevMinor, nameSize, check] = f as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return { magic, ino, mode, uid, gid, nlink, mtime, size, devMajor, devMinor, rdevMajor, rdevMinor, nameSize, check };
}

/** File type of a mode, in Tree terms ('file' for unknown bits, like cpio -t). */
export function typeOfMode(mode: number): Exclude<EntryType, 'hardlink'> {
  const t = mode & S_IFMT;
  for (const [k, v] of Object.entries(TYPE_BITS)) if (v === t) return k as Exclude<EntryType, 'hardlink'>;
  return 'file';
}
