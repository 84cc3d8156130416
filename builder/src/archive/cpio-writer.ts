/**
 * Streaming, reproducible newc cpio writer. Headers, names and small contents
 * are batched into 1 MiB buffers (one push per MiB, not per field). Small
 * files are read synchronously straight into the batch, like GNU cpio does:
 * measured on /usr/share (57k files), promise-based readFile spent its time
 * in thread-pool round trips (open, fstat, read, close) and was 2-4x slower
 * than `find | cpio`. The event loop still gets a turn at every 1 MiB batch.
 * Large files are streamed in 1 MiB asynchronous reads.
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { BuildError, InternalError } from '../errors.js';
import type { TreeEntry } from '../tree/types.js';
import { encodeHeader, HEADER_SIZE, pad4, TRAILER_NAME, TYPE_BITS, type CpioHeader } from './cpio-format.js';

export interface CpioOptions {
  /** SOURCE_DATE_EPOCH: mtimes later than this are clamped to it. */
  epoch?: number;
  /** Write 'TRAILER!!!' at the end (default true). */
  trailer?: boolean;
}

const BATCH = 1 << 20;
/** Files up to this size are read whole into the batch; larger ones are streamed. */
const SMALL = 1 << 20;

interface Slot {
  entry: TreeEntry;
  /** The entry whose content/metadata the slot carries (the file for a hard link). */
  inode: TreeEntry;
  ino: number;
  nlink: number;
  size: number;
  /** Content to write after the header. */
  body?: { data: Buffer } | { source: string };
}

/** The archive as a byte stream; entries are written in the order given. */
export function cpioStream(entries: Iterable<TreeEntry>, opts: CpioOptions = {}): Readable {
  return Readable.from(generateCpio(planSlots([...entries]), opts), { objectMode: false, highWaterMark: BATCH });
}

/**
 * Number inodes from 1 in order and lay out hard-link groups the way the
 * kernel's initramfs.c and GNU cpio expect: same ino, nlink = group size,
 * content on the last member only.
 */
export function planSlots(list: TreeEntry[]): Slot[] {
  const files = new Map<string, TreeEntry>();
  const groupSize = new Map<string, number>();
  const lastOf = new Map<string, number>();
  const subdirs = new Map<string, number>();
  list.forEach((e, i) => {
    if (e.type === 'file') files.set(e.path, e);
    if (e.type === 'file' || e.type === 'hardlink') {
      const key = e.type === 'file' ? e.path : (e.linkTarget as string);
      groupSize.set(key, (groupSize.get(key) ?? 0) + 1);
      lastOf.set(key, i);
    }
    if (e.type === 'dir') {
      const parent = e.path.includes('/') ? e.path.slice(0, e.path.lastIndexOf('/')) : '';
      subdirs.set(parent, (subdirs.get(parent) ?? 0) + 1);
    }
  });
  const inoOf = new Map<string, number>();
  let nextIno = 1;
  return list.map((e, i) => {
    if (e.type !== 'file' && e.type !== 'hardlink') {
      const size = e.type === 'symlink' ? Buffer.byteLength(e.linkTarget ?? '') : 0;
      const slot: Slot = { entry: e, inode: e, ino: nextIno++, nlink: e.type === 'dir' ? 2 + (subdirs.get(e.path) ?? 0) : 1, size };
      if (e.type === 'symlink') slot.body = { data: Buffer.from(e.linkTarget ?? '', 'utf8') };
      return slot;
    }
    const key = e.type === 'file' ? e.path : (e.linkTarget as string);
    const inode = files.get(key);
    if (!inode) throw new InternalError(`cpio: hard link '${e.path}' points at '${key}', which is not among the entries being packed`);
    let ino = inoOf.get(key);
    if (ino === undefined) inoOf.set(key, (ino = nextIno++));
    const slot: Slot = { entry: e, inode, ino, nlink: groupSize.get(key) ?? 1, size: 0 };
    if (lastOf.get(key) === i) {
      slot.size = inode.data ? inode.data.length : (inode.size ?? 0);
      if (inode.data) slot.body = { data: inode.data };
      else if (inode.source !== undefined) slot.body = { source: inode.source };
      else if (slot.size > 0) throw new InternalError(`cpio: file '${inode.path}' has a size but no content`);
    }
    return slot;
  });
}

async function* generateCpio(slots: Slot[], opts: CpioOptions): AsyncGenerator<Buffer> {
  const epoch = opts.epoch;
  let buf = Buffer.allocUnsafe(BATCH);
  let pos = 0;
  const room = (n: number): boolean => pos + n <= BATCH;

  for (const s of slots) {
    const name = s.entry.path;
    const nameSize = Buffer.byteLength(name) + 1;
    const headLen = HEADER_SIZE + nameSize + pad4(HEADER_SIZE + nameSize);
    if (!room(headLen + 3)) {
      yield buf.subarray(0, pos);
      buf = Buffer.allocUnsafe(Math.max(BATCH, headLen + 3));
      pos = 0;
    }
    encodeHeader(buf, pos, headerOf(s, nameSize, epoch));
    pos += HEADER_SIZE;
    pos += buf.write(name, pos, 'utf8');
    buf.fill(0, pos, pos + 1 + pad4(HEADER_SIZE + nameSize));
    pos += 1 + pad4(HEADER_SIZE + nameSize);
    if (s.size === 0 || !s.body) continue;
    if ('data' in s.body) {
      const data = s.body.data;
      if (room(data.length + 3)) {
        data.copy(buf, pos);
        pos += data.length;
      } else {
        yield buf.subarray(0, pos);
        yield data;
        buf = Buffer.allocUnsafe(BATCH);
        pos = 0;
      }
    } else if (s.size <= SMALL) {
      if (!room(s.size + 3)) {
        yield buf.subarray(0, pos);
        buf = Buffer.allocUnsafe(Math.max(BATCH, s.size + 3));
        pos = 0;
      }
      readWhole(s, s.body.source, buf, pos);
      pos += s.size;
    } else {
      yield buf.subarray(0, pos);
      yield* streamFile(s);
      buf = Buffer.allocUnsafe(BATCH);
      pos = 0;
    }
    const p = pad4(s.size);
    buf.fill(0, pos, pos + p);
    pos += p;
  }
  if (opts.trailer ?? true) {
    const nameSize = TRAILER_NAME.length + 1;
    const len = HEADER_SIZE + nameSize + pad4(HEADER_SIZE + nameSize);
    if (!room(len)) {
      yield buf.subarray(0, pos);
      buf = Buffer.allocUnsafe(len);
      pos = 0;
    }
    encodeHeader(buf, pos, {
      ino: 0,
      mode: 0,
      uid: 0,
      gid: 0,
      nlink: 1,
      mtime: 0,
      size: 0,
      devMajor: 0,
      devMinor: 0,
      rdevMajor: 0,
      rdevMinor: 0,
      nameSize,
      check: 0,
    });
    buf.write(TRAILER_NAME, pos + HEADER_SIZE, 'latin1');
    buf.fill(0, pos + HEADER_SIZE + TRAILER_NAME.length, pos + len);
    pos += len;
  }
  if (pos > 0) yield buf.subarray(0, pos);
}

function headerOf(s: Slot, nameSize: number, epoch: number | undefined): CpioHeader {
  const n = s.inode;
  const type = s.entry.type === 'hardlink' ? 'file' : s.entry.type;
  const mtime = Math.max(0, epoch === undefined ? n.mtime : Math.min(n.mtime, epoch));
  return {
    ino: s.ino,
    mode: TYPE_BITS[type] | (n.mode & 0o7777),
    uid: n.uid ?? 0,
    gid: n.gid ?? 0,
    nlink: s.nlink,
    mtime,
    size: s.size,
    devMajor: 0,
    devMinor: 0,
    rdevMajor: n.rdevMajor ?? 0,
    rdevMinor: n.rdevMinor ?? 0,
    nameSize,
    check: 0,
  };
}

/** Read exactly s.size bytes of a small file into buf at pos (never through a symlink). */
function readWhole(s: Slot, source: string, buf: Buffer, pos: number): void {
  let fd: number;
  try {
    fd = openSync(source, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    throw readError(s, e);
  }
  try {
    let done = 0;
    while (done < s.size) {
      const n = readSync(fd, buf, pos + done, s.size - done, done);
      if (n === 0) throw changedError(s, done);
      done += n;
    }
    // One more byte tells a file that grew since it was added.
    if (readSync(fd, Buffer.allocUnsafe(1), 0, 1, done) > 0) throw changedError(s, done + 1);
  } finally {
    closeSync(fd);
  }
}

/** Stream a large file in 1 MiB reads, insisting on the size announced in its header. */
async function* streamFile(s: Slot): AsyncGenerator<Buffer> {
  const source = (s.body as { source: string }).source;
  const fh = await open(source, 'r').catch((e: unknown) => {
    throw readError(s, e);
  });
  try {
    let done = 0;
    while (done < s.size) {
      const chunk = Buffer.allocUnsafe(Math.min(BATCH, s.size - done));
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, done);
      if (bytesRead === 0) throw changedError(s, done);
      done += bytesRead;
      yield bytesRead === chunk.length ? chunk : chunk.subarray(0, bytesRead);
    }
    const extra = await fh.read(Buffer.alloc(1), 0, 1, done);
    if (extra.bytesRead > 0) throw changedError(s, done + 1);
  } finally {
    await fh.close();
  }
}

function readError(s: Slot, e: unknown): BuildError {
  return new BuildError(`cpio: cannot read the content of '${s.inode.path}'`, {
    hint: 'the tree store or a referenced host file was removed during the build; rebuild',
    cause: e,
  });
}

function changedError(s: Slot, got: number): BuildError {
  return new BuildError(
    `cpio: '${s.inode.path}' changed while packing (expected ${s.size} bytes, found ${got}${got > s.size ? '+' : ''})`,
    { hint: 'do not modify the tree store or referenced host files during a build' },
  );
}
