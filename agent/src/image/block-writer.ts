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

/** A `size`-byte view aligned for direct I/O on `directFh`, or null when none works. */
export async function allocDirectBuffer(directFh: FileHandle, size: number): Promise<Buffer | null> {
  const raw = Buffer.allocUnsafeSlow(size + DIRECT_ALIGN);
  raw.fill(0, 0, 2 * DIRECT_ALIGN);
  // malloc alignment is at least 16 bytes, so only multiples of 16 can be aligned.
  for (let k = 0; k < DIRECT_ALIGN; k += 16) {
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
  /** fdatasync before 'finish' so the image is on disk when the download reports success. */
  sync?: boolean;
  /** Same file opened with O_DIRECT, or null for buffered writes only. */
  direct?: FileHandle | null;
}

export class BlockWriter extends Writable {
  private buf: Buffer = Buffer.alloc(0);
  private spare: Buffer = Buffer.alloc(0);
  private fill = 0;
  private pos = 0;
  private pending: Promise<void> | null = null;
  private direct: FileHandle | null;
  private isFile = false;
  bytesWritten = 0;

  constructor(
    private readonly fh: FileHandle,
    private readonly target: string,
    private readonly o: BlockWriterOptions = {},
  ) {
    super({ highWaterMark: 1 << 20 });
    this.direct = o.direct ?? null;
  }

  /** True once the O_DIRECT path is in use (for logs and the bench). */
  get usesDirectIo(): boolean {
    return this.direct !== null;
  }

  override _construct(cb: (e?: Error | null) => void): void {
    this.allocate().then(
      () => cb(),
      (e: unknown) => cb(this.wrap(e)),
    );
  }

  private async allocate(): Promise<void> {
    const size = this.o.blockSize ?? 8 << 20;
    this.isFile = (await this.fh.stat()).isFile();
    if (this.direct) {
      const a = await allocDirectBuffer(this.direct, size);
      const b = a && (await allocDirectBuffer(this.direct, size));
      if (a && b) {
        [this.buf, this.spare] = [a, b];
        return;
      }
      await this.direct.close().catch(() => {});
      this.direct = null;
    }
    this.buf = Buffer.allocUnsafeSlow(size);
    this.spare = Buffer.allocUnsafeSlow(size);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
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
    const wait = this.pending ? this.pending.catch(() => {}) : Promise.resolve();
    wait.then(() => Promise.all([this.fh.close().catch(() => {}), this.direct?.close().catch(() => {})])).then(() => cb(err));
  }

  private async consume(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const n = chunk.copy(this.buf, this.fill, off);
      this.fill += n;
      off += n;
      if (this.fill === this.buf.length) await this.flip();
    }
  }

  /** Hand the full buffer to the disk and keep filling the other one. */
  private async flip(): Promise<void> {
    if (this.pending) await this.pending;
    const full = this.buf;
    const len = this.fill;
    this.buf = this.spare;
    this.spare = full;
    this.fill = 0;
    this.pending = this.writeAll(full, 0, len, this.pos);
    // Observed by the next flip/finish; avoid an unhandled rejection meanwhile.
    this.pending.catch(() => {});
    this.pos += len;
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
    if (this.pending) await this.pending;
    this.pending = null;
    const aligned = this.fill - (this.fill % DIRECT_ALIGN);
    if (aligned > 0) await this.writeAll(this.buf, 0, aligned, this.pos);
    if (this.fill > aligned) await this.writeAll(this.buf, aligned, this.fill - aligned, this.pos + aligned);
    this.pos += this.fill;
    this.fill = 0;
    // The alignment probe may have written past a tiny image's end.
    if (this.isFile) await this.fh.truncate(this.pos);
    if (this.o.sync !== false) await this.fh.datasync();
  }

  private wrap(e: unknown): Error {
    return e instanceof SinkWriteError ? e : new SinkWriteError(this.target, e);
  }
}

/**
 * A fresh BlockWriter on `path` from byte 0. Block devices are opened
 * without O_TRUNC/O_CREAT (they must exist); regular files are truncated,
 * because a retry must not leave the tail of an earlier, longer attempt.
 * O_DIRECT is added when the filesystem accepts it (tmpfs may not).
 */
export async function openImageSink(path: string, o: BlockWriterOptions & { directIo?: boolean } = {}): Promise<BlockWriter> {
  let isBlock = false;
  try {
    isBlock = (await stat(path)).isBlockDevice();
  } catch {
    /* new file */
  }
  let fh: FileHandle | undefined;
  try {
    const flags = isBlock ? constants.O_WRONLY : constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC;
    fh = await open(path, flags, 0o600);
    const direct = o.directIo === false ? null : await open(path, constants.O_WRONLY | constants.O_DIRECT).catch(() => null);
    return new BlockWriter(fh, path, { ...o, direct });
  } catch (e) {
    await fh?.close().catch(() => {});
    throw new SinkWriteError(path, e);
  }
}
