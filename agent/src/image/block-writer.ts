/**
 * A Writable that writes an image at fixed offsets with large blocks and two
 * buffers, so the disk write of one block overlaps receiving the next.
 * Network chunks are ~64 KiB; one write(2) per chunk costs far more than the
 * copy into an 8 MiB buffer. With a second handle opened O_DIRECT, full
 * blocks bypass the page cache (figures at allocDirectBuffer); the unaligned
 * tail goes through the buffered handle.
 */
import { constants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import type { BlockHasher } from './block-hasher.js';

/** Error raised by the target, kept apart from network errors (never retried as a download error). */
export class SinkWriteError extends Error {
  constructor(
    readonly target: string,
    cause: unknown,
  ) {
    super(`writing to ${target} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'SinkWriteError';
  }
  get code(): string | undefined {
    return (this.cause as { code?: string } | undefined)?.code;
  }
}

/*
 * O_DIRECT buffers. Node cannot allocate aligned memory nor tell
 * a Buffer's address, and O_DIRECT needs the memory aligned to the device's
 * logical block size (EINVAL otherwise). So: over-allocate by 4 KiB and find
 * the aligned view by trying a 4 KiB direct write at offset 0 of the target
 * (which the image overwrites anyway). Measured on this VM: dd to a file at
 * 93 MB/s buffered vs 860 MB/s with oflag=direct, so this pays.
 */
export const DIRECT_ALIGN = 4096;

/**
 * A block's memory: a SharedArrayBuffer, so that a hash worker can read it
 * in place (block-hasher.ts). Zero-filled.
 */
export function allocBlock(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

/**
 * Offsets to try, most likely first: a large allocation comes from mmap
 * with glibc's 16-byte chunk header in front of it (so 4080 aligns it), a
 * smaller one from anywhere on the heap.
 */
const ALIGN_CANDIDATES = [DIRECT_ALIGN - 16, 0, ...Array.from({ length: DIRECT_ALIGN / 16 - 2 }, (_, i) => (i + 1) * 16)];

/** A `size`-byte view aligned for direct I/O on `directFh`, or null when none works. */
export async function allocDirectBuffer(directFh: FileHandle, size: number): Promise<Buffer | null> {
  const raw = allocBlock(size + DIRECT_ALIGN);
  // malloc alignment is at least 16 bytes, so only multiples of 16 can be aligned.
  for (const k of ALIGN_CANDIDATES) {
    try {
      await directFh.write(raw, k, DIRECT_ALIGN, 0);
      return raw.subarray(k, k + size);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EINVAL') throw e;
    }
  }
  return null;
}

export interface BlockWriterOptions {
  blockSize?: number;
  /** Blocks in the ring (at least 2): one is filled while the others are written and hashed. */
  blocks?: number;
  /** fdatasync before 'finish' so the image is on disk when the download reports success. */
  sync?: boolean;
  /** Same file opened with O_DIRECT, or null for buffered writes only. */
  direct?: FileHandle | null;
}

export class BlockWriter extends Writable {
  /** The blocks, filled in turn; `busy[i]` settles when block i is written (and hashed). */
  private ring: Buffer[] = [];
  private busy: (Promise<void> | null)[] = [];
  private cur = 0;
  private fill = 0;
  private pos = 0;
  private direct: FileHandle | null;
  private hasher: BlockHasher | null = null;
  private isFile = false;
  bytesWritten = 0;
  private markReady: (e?: Error) => void = () => {};
  /** Settles once the blocks are allocated (_construct). */
  private readonly allocated = new Promise<void>((resolve, reject) => {
    this.markReady = (e) => (e ? reject(e) : resolve());
  });

  constructor(
    private readonly fh: FileHandle,
    private readonly target: string,
    private readonly o: BlockWriterOptions = {},
  ) {
    super({ highWaterMark: 1 << 20 });
    this.direct = o.direct ?? null;
    this.allocated.catch(() => {});
  }

  /** True once the O_DIRECT path is in use (for logs and the bench). */
  get usesDirectIo(): boolean {
    return this.direct !== null;
  }

  /**
   * Hash every byte written with `h`, block by block, in order, while the
   * block is being written. Call before the first write.
   */
  hashWith(h: BlockHasher): void {
    if (this.pos > 0 || this.fill > 0) throw new Error('BlockWriter.hashWith must be called before the first write');
    this.hasher = h;
  }

  override _construct(cb: (e?: Error | null) => void): void {
    this.allocate().then(
      () => {
        this.markReady();
        cb();
      },
      (e: unknown) => {
        this.markReady(this.wrap(e));
        cb(this.wrap(e));
      },
    );
  }

  /**
   * Resolves once the blocks exist: region() and advance() may be used then.
   * They are the other way in (a socket reading straight into the blocks,
   * util/raw-http.ts): no write() between them, end() after them.
   */
  ready(): Promise<void> {
    return this.allocated;
  }

  /** The free rest of the block being filled (never empty). */
  region(): Buffer {
    return this.ring[this.cur]!.subarray(this.fill);
  }

  /**
   * `n` bytes were put at the start of region(). When that fills the block,
   * it goes to the disk and the hasher, and the promise settles once the
   * next block is free to fill (or rejects with the write's or hash's error).
   */
  advance(n: number): Promise<void> | undefined {
    this.fill += n;
    if (this.fill < this.ring[this.cur]!.length) return undefined;
    return this.flip().catch((e: unknown) => {
      throw this.wrap(e);
    });
  }

  private async allocate(): Promise<void> {
    const size = this.o.blockSize ?? 8 << 20;
    const n = Math.max(2, this.o.blocks ?? 2);
    this.isFile = (await this.fh.stat()).isFile();
    this.busy = new Array<null>(n).fill(null);
    if (this.direct) {
      for (let i = 0; i < n; i++) {
        const b = await allocDirectBuffer(this.direct, size);
        if (!b) break;
        this.ring.push(b);
      }
      if (this.ring.length === n) return;
      this.ring = [];
      await this.direct.close().catch(() => {});
      this.direct = null;
    }
    for (let i = 0; i < n; i++) this.ring.push(allocBlock(size));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    // Most network chunks (64 KiB) fit in the current block: no promise for them.
    const buf = this.ring[this.cur]!;
    if (this.fill + chunk.length < buf.length) {
      chunk.copy(buf, this.fill);
      this.fill += chunk.length;
      cb();
      return;
    }
    this.consume(chunk).then(
      () => cb(),
      (e: unknown) => cb(this.wrap(e)),
    );
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.finish().then(
      () => cb(),
      (e: unknown) => cb(this.wrap(e)),
    );
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    // No close while a thread still writes from (or a worker reads) a block.
    Promise.all(this.busy.map((b) => b?.catch(() => {})))
      .then(() => Promise.all([this.fh.close().catch(() => {}), this.direct?.close().catch(() => {})]))
      .then(() => cb(err));
  }

  private async consume(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const buf = this.ring[this.cur]!;
      const n = chunk.copy(buf, this.fill, off);
      this.fill += n;
      off += n;
      if (this.fill === buf.length) await this.flip();
    }
  }

  /** Hand the full block to the disk and the hasher, and fill the next one once it is free. */
  private async flip(): Promise<void> {
    const i = this.cur;
    const block = this.ring[i]!;
    const len = this.fill;
    const work = settleBoth(this.writeAll(block, 0, len, this.pos), this.hasher?.update(block.subarray(0, len)));
    // Observed when the block comes round again, or at finish; avoid an unhandled rejection meanwhile.
    work.catch(() => {});
    this.busy[i] = work;
    this.pos += len;
    this.fill = 0;
    this.cur = (i + 1) % this.ring.length;
    await this.idle(this.cur);
  }

  private async idle(i: number): Promise<void> {
    const b = this.busy[i];
    if (!b) return;
    await b;
    this.busy[i] = null;
  }

  private async writeAll(buf: Buffer, from: number, len: number, pos: number): Promise<void> {
    // O_DIRECT only for whole aligned blocks at aligned offsets.
    const fh = this.direct && len % DIRECT_ALIGN === 0 && pos % DIRECT_ALIGN === 0 && from % DIRECT_ALIGN === 0 ? this.direct : this.fh;
    let done = 0;
    while (done < len) {
      const { bytesWritten } = await fh.write(buf, from + done, len - done, pos + done);
      if (bytesWritten === 0) throw Object.assign(new Error('short write (0 bytes): end of device'), { code: 'ENOSPC' });
      done += bytesWritten;
    }
    this.bytesWritten += len;
  }

  private async finish(): Promise<void> {
    // Oldest first, so the first failure reported is the first that happened.
    for (let k = 1; k <= this.ring.length; k++) await this.idle((this.cur + k) % this.ring.length);
    const block = this.ring[this.cur]!;
    const aligned = this.fill - (this.fill % DIRECT_ALIGN);
    const hashed = this.hasher?.update(block.subarray(0, this.fill));
    const written = (async () => {
      if (aligned > 0) await this.writeAll(block, 0, aligned, this.pos);
      if (this.fill > aligned) await this.writeAll(block, aligned, this.fill - aligned, this.pos + aligned);
    })();
    this.busy[this.cur] = settleBoth(written, hashed);
    await this.idle(this.cur);
    this.pos += this.fill;
    this.fill = 0;
    // The alignment probe may have written past a tiny image's end.
    if (this.isFile) await this.fh.truncate(this.pos);
    if (this.o.sync !== false) await this.fh.datasync();
  }

  private wrap(e: unknown): Error {
    return e instanceof SinkWriteError || e instanceof HashError ? e : new SinkWriteError(this.target, e);
  }
}

/**
 * Both settled, then the first failure (a write error before a hash error).
 * Promise.all would reject at the first failure while the other still uses the block.
 */
async function settleBoth(write: Promise<void>, hash: Promise<void> | undefined): Promise<void> {
  const [w, h] = await Promise.allSettled([write, hash]);
  if (w.status === 'rejected') throw w.reason;
  if (h.status === 'rejected') throw new HashError(h.reason);
}

/** The hasher failed (not the target): BlockWriter's caller reports it as a checksum failure, not a write error. */
export class HashError extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'HashError';
  }
}

/**
 * A fresh BlockWriter on `path` from byte 0.
 *
 * kind 'device' is for deploy targets (the install disk, a root partition):
 * `path` must already be a block device, opened without O_CREAT/O_TRUNC; a
 * missing node or a regular file is refused, so that a disk or partition
 * the kernel does not show is never replaced by a file in /dev that
 * swallows the image and passes the checksum.
 *
 * kind 'file' is for files the agent means to write (the image cache in
 * tmp, tests): a regular file is created or truncated, because a retry must
 * not leave the tail of an earlier, longer attempt; a block device is
 * opened as for 'device'.
 *
 * O_DIRECT is added when the filesystem accepts it (tmpfs may not).
 */
export async function openImageSink(
  path: string,
  kind: 'device' | 'file',
  o: BlockWriterOptions & { directIo?: boolean } = {},
): Promise<BlockWriter> {
  let isBlock = false;
  if (kind === 'file') {
    try {
      isBlock = (await stat(path)).isBlockDevice();
    } catch {
      /* new file */
    }
  }
  let fh: FileHandle | undefined;
  try {
    const flags = kind === 'device' || isBlock ? constants.O_WRONLY : constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC;
    fh = await open(path, flags, 0o600);
    // Checked on the open files, not the path: what is written to is what was checked.
    const st = await fh.stat();
    if (kind === 'device' && !st.isBlockDevice())
      throw Object.assign(
        new Error(`${path} is ${st.isFile() ? 'a regular file' : 'not a block device'}; a deploy target must be a disk or partition`),
        {
          code: 'ENOTBLK',
        },
      );
    let direct = o.directIo === false ? null : await open(path, constants.O_WRONLY | constants.O_DIRECT).catch(() => null);
    if (direct) {
      // The O_DIRECT handle is opened by path a second time: it must be the same file (udev may have replaced the node).
      const ds = await direct.stat();
      if (ds.dev !== st.dev || ds.ino !== st.ino || ds.rdev !== st.rdev) {
        await direct.close().catch(() => {});
        direct = null;
      }
    }
    return new BlockWriter(fh, path, { ...o, direct });
  } catch (e) {
    await fh?.close().catch(() => {});
    throw new SinkWriteError(path, e);
  }
}
