/**
 * List an initramfs the way the kernel unpacks it (init/initramfs.c):
 * NUL padding, then uncompressed cpio archives or compressed members, one
 * after the other. Finding where a compressed member ends needs per-format
 * knowledge: deflate reports what it consumed, zstd frames and xz footers
 * are self-delimiting, lz4 (legacy) members end at a zero chunk length
 * (the padding after them) or the file's end; lzma and bzip2 are assumed
 * to run to the end.
 */
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createInflateRaw } from 'node:zlib';
import { UserError } from '../errors.js';
import type { EntryType } from '../tree/types.js';
import { ByteReader } from './byte-reader.js';
import { typeOfMode } from './cpio-format.js';
import { readCpio, readOneArchive, type CpioEntry } from './cpio-reader.js';
import { decompressStream, type Decompression } from './compress.js';
import { findLz4End, findXzEnd, findZstdEnd, gzipHeaderLength } from './member-bounds.js';

export interface InitramfsListEntry {
  path: string;
  type: Exclude<EntryType, 'hardlink'>;
  /** Permission bits (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkTarget?: string;
}

export interface InitramfsMember {
  index: number;
  /** Byte offset of the member in the file. */
  offset: number;
  /** Bytes the member occupies (compressed, without the padding after it). */
  compressedSize: number;
  compression: Decompression;
  entries: InitramfsListEntry[];
}

/** Compression of a member from its first bytes; undefined when unknown. */
export function detectCompression(head: Buffer): Decompression | undefined {
  const has = (...b: number[]): boolean => b.every((v, i) => head[i] === v);
  if (head.toString('latin1', 0, 5) === '07070') return 'none';
  if (has(0x1f, 0x8b)) return 'gzip';
  if (has(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (has(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  if (has(0x02, 0x21, 0x4c, 0x18)) return 'lz4';
  if (has(0x42, 0x5a, 0x68)) return 'bzip2';
  if (has(0x5d, 0x00, 0x00)) return 'lzma';
  return undefined;
}

export async function listInitramfs(path: string): Promise<InitramfsMember[]> {
  const fh = await open(path, 'r').catch((e: unknown) => {
    throw new UserError(`cannot open initramfs '${path}'`, { hint: 'check the path', cause: e });
  });
  try {
    const size = (await fh.stat()).size;
    const members: InitramfsMember[] = [];
    let pos = await skipZeroBytes(fh, 0, size);
    while (pos < size) {
      const head = Buffer.alloc(16);
      await fh.read(head, 0, 16, pos);
      const kind = detectCompression(head);
      if (!kind) {
        throw new UserError(`${path}: unrecognised data at offset ${pos} (bytes ${head.subarray(0, 6).toString('hex')})`, {
          hint: 'not a cpio or a gzip/xz/zstd/lz4/lzma/bzip2 member; an uncompressed member must start at a 4-byte aligned offset',
        });
      }
      try {
        const m = await listMember(fh, path, kind, pos, size, members.length);
        members.push(m);
        pos = await skipZeroBytes(fh, pos + m.compressedSize, size);
      } catch (e) {
        if (e instanceof UserError) throw e;
        throw new UserError(`${path}: member ${members.length} (${kind}) at offset ${pos} is damaged: ${(e as Error).message}`, {
          hint: 'the file is truncated or not an initramfs',
          cause: e,
        });
      }
    }
    return members;
  } finally {
    await fh.close();
  }
}

async function listMember(
  fh: FileHandle,
  path: string,
  kind: Decompression,
  pos: number,
  size: number,
  index: number,
): Promise<InitramfsMember> {
  const entries: InitramfsListEntry[] = [];
  const wantData = (e: CpioEntry): boolean => typeOfMode(e.mode) === 'symlink';
  if (kind === 'none') {
    const src = createReadStream(path, { start: pos, highWaterMark: 1 << 20 });
    const r = new ByteReader(src);
    try {
      for await (const e of readOneArchive(r, { data: wantData })) entries.push(toListEntry(e));
    } finally {
      src.destroy();
    }
    return { index, offset: pos, compressedSize: r.position, compression: kind, entries };
  }
  let end: number;
  let decoded: Readable;
  let finish: () => number = () => end;
  if (kind === 'gzip') {
    // Raw inflate after our own header parse: zlib's gunzip would run on into an adjacent gzip member.
    const hdr = await gzipHeaderLength(fh, pos);
    const inflate = createInflateRaw({ chunkSize: 1 << 20 });
    const src = createReadStream(path, { start: pos + hdr, highWaterMark: 1 << 20 });
    src.on('error', (e) => inflate.destroy(e));
    src.pipe(inflate);
    decoded = inflate;
    end = size;
    finish = () => {
      src.destroy();
      return pos + hdr + inflate.bytesWritten + 8;
    };
  } else {
    end =
      kind === 'xz'
        ? await findXzEnd(fh, pos, size)
        : kind === 'zstd'
          ? await findZstdEnd(fh, pos, size)
          : kind === 'lz4'
            ? await findLz4End(fh, pos, size)
            : size;
    const src = createReadStream(path, { start: pos, end: end - 1, highWaterMark: 1 << 20 });
    const dec = decompressStream(kind);
    src.on('error', (e) => dec.destroy(e));
    src.pipe(dec);
    decoded = dec;
  }
  try {
    for await (const e of readCpio(decoded, { data: wantData })) entries.push(toListEntry(e));
  } finally {
    // Also stops a decompressor process when the member turned out damaged.
    decoded.destroy();
  }
  const stop = finish();
  return { index, offset: pos, compressedSize: stop - pos, compression: kind, entries };
}

function toListEntry(e: CpioEntry): InitramfsListEntry {
  const out: InitramfsListEntry = {
    path: e.name.replace(/^\.\//, ''),
    type: typeOfMode(e.mode),
    mode: e.mode & 0o7777,
    uid: e.uid,
    gid: e.gid,
    size: e.size,
  };
  if (e.data && out.type === 'symlink') out.linkTarget = e.data.toString('utf8');
  return out;
}

/** Offset of the first non-NUL byte at or after pos (size when none). */
async function skipZeroBytes(fh: FileHandle, pos: number, size: number): Promise<number> {
  const buf = Buffer.alloc(65536);
  while (pos < size) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) return size;
    for (let i = 0; i < bytesRead; i++) if (buf[i] !== 0) return pos + i;
    pos += bytesRead;
  }
  return size;
}

/**
 * A listed member's cpio bytes, decompressed, as a stream. The caller
 * destroys it when it stops early (that also ends a decompressor process
 * and closes the file).
 */
export function openMember(path: string, m: Pick<InitramfsMember, 'offset' | 'compressedSize' | 'compression'>): Readable {
  const src = createReadStream(path, { start: m.offset, end: m.offset + m.compressedSize - 1, highWaterMark: 1 << 20 });
  const decoded = decompressStream(m.compression);
  src.on('error', (e) => decoded.destroy(e));
  decoded.on('close', () => src.destroy());
  return src.pipe(decoded);
}

/**
 * The contents of the regular files `want` names (paths as listed, without
 * `./`), and the listing. Only members that hold such a file are
 * decompressed; where members repeat a path the later one wins, as when
 * the kernel unpacks them. A hard link's data is in the last entry of its
 * set (newc), so an earlier name of the set reads as empty. For tests, the
 * bench and tools that look into a built image.
 */
export async function readInitramfsFiles(
  path: string,
  want: (path: string) => boolean,
): Promise<{ members: InitramfsMember[]; files: Map<string, Buffer> }> {
  const members = await listInitramfs(path);
  const files = new Map<string, Buffer>();
  for (const m of members) {
    if (!m.entries.some((e) => e.type === 'file' && want(e.path))) continue;
    const decoded = openMember(path, m);
    try {
      const wanted = (e: CpioEntry): boolean => typeOfMode(e.mode) === 'file' && want(e.name.replace(/^\.\//, ''));
      for await (const e of readCpio(decoded, { data: wanted })) if (e.data) files.set(e.name.replace(/^\.\//, ''), e.data);
    } finally {
      decoded.destroy();
    }
  }
  return { members, files };
}
