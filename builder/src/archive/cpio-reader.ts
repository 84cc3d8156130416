/**
 * newc/crc cpio reader (070701, 070702): used by `ramforge ls`, by tests and
 * to check what the writer produced.
 */
import type { Readable } from 'node:stream';
import { ByteReader } from './byte-reader.js';
import { decodeHeader, HEADER_SIZE, pad4, TRAILER_NAME } from './cpio-format.js';

export interface CpioEntry {
  name: string;
  /** Full st_mode: type bits and permissions. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  size: number;
  rdev: { major: number; minor: number };
  ino: number;
  /** Content (files, symlink targets) unless the caller asked for none. */
  data?: Buffer;
}

export interface ReadCpioOptions {
  /** Which entries' contents to load; others are skipped without buffering. Default: all. */
  data?: boolean | ((e: CpioEntry) => boolean);
}

/**
 * Entries of every archive in the input, in order; archives concatenated in
 * one stream (separated by NUL padding) are read one after the other, like
 * the kernel does. Trailers are not returned.
 */
export async function* readCpio(input: Readable | Buffer, opts: ReadCpioOptions = {}): AsyncGenerator<CpioEntry> {
  const r = new ByteReader(input);
  while (await r.skipZeros()) yield* readOneArchive(r, opts);
}

/** Entries of one archive, up to and including its trailer and its padding. */
export async function* readOneArchive(r: ByteReader, opts: ReadCpioOptions = {}): AsyncGenerator<CpioEntry> {
  const want = opts.data ?? true;
  for (;;) {
    const at = r.position;
    if ((at & 3) !== 0) await r.skip(pad4(at), 'alignment');
    let h;
    try {
      h = decodeHeader(await r.read(HEADER_SIZE, 'cpio header'));
    } catch (e) {
      throw new Error(`cpio header at offset ${r.position - HEADER_SIZE}: ${(e as Error).message}`, { cause: e });
    }
    const rawName = await r.read(h.nameSize, 'file name');
    const name = rawName.toString('utf8', 0, Math.max(0, rawName.indexOf(0) < 0 ? rawName.length : rawName.indexOf(0)));
    await r.skip(pad4(HEADER_SIZE + h.nameSize), 'name padding');
    if (name === TRAILER_NAME) return;
    const e: CpioEntry = {
      name,
      mode: h.mode,
      uid: h.uid,
      gid: h.gid,
      nlink: h.nlink,
      mtime: h.mtime,
      size: h.size,
      rdev: { major: h.rdevMajor, minor: h.rdevMinor },
      ino: h.ino,
    };
    if (typeof want === 'function' ? want(e) : want) e.data = Buffer.from(await r.read(h.size, `content of '${name}'`));
    else await r.skip(h.size, `content of '${name}'`);
    await r.skip(pad4(h.size), 'data padding');
    yield e;
  }
}
