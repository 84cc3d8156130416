/**
 * Compression filters for initramfs members. gzip is zlib (deterministic:
 * no name, mtime 0). xz and zstd run their CLIs as stdin→stdout filters,
 * with settings chosen so the output depends only on the input and level,
 * never on the number of threads.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { Duplex, PassThrough, type Readable, type Writable } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { ProcessError, ToolMissingError, UserError } from '../errors.js';
import { baseEnv, findTool, interruptOption, traceCommand } from '../exec/run.js';

/** The member compressions a build may choose (the spec's `compression`). */
export const COMPRESSIONS = ['zstd', 'xz', 'gzip', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];
/**
 * What a member may be written with: the spec's compressions, and lz4 (the
 * kernel's legacy lz4 format), which a flavor may choose for a large member
 * whose unpack at boot costs more than its size (see MemberCompression).
 */
export type MemberMethod = Compression | 'lz4';
/** What can be read back: also the legacy formats the kernel accepts. */
export type Decompression = MemberMethod | 'lzma' | 'bzip2';

export interface CompressOptions {
  level?: number;
  /** Worker threads for xz/zstd (default: available CPUs). Does not change the output. */
  threads?: number;
}

/**
 * xz dictionary. The kernel's xz decoder (lib/decompress_unxz.c, XZ_DYNALLOC
 * for initramfs) vmallocs the whole dictionary while unpacking, next to the
 * compressed and the unpacked image. Measured on a 60 MB tar of shared
 * libraries at preset 9: dict 16 MiB → 15.09 MB, 32 MiB → 13.95 MB (-7.5 %),
 * 64 MiB → 13.95 MB (no further gain). 32 MiB keeps the gain at half of
 * preset 9's boot-time allocation, negligible next to a ramdisk of 100s of MB.
 */
export const XZ_DICT = '32MiB';
/**
 * Fixed block size (3 × dict, xz's own default ratio): in multi-threaded mode
 * blocks are the unit of work, so fixing it fixes the output for any thread
 * count. Measured: 48 vs 192 MiB blocks changed the size by 0.1 %.
 */
export const XZ_BLOCK = '96MiB';
/** Highest zstd level whose window (8 MiB) every kernel's zstd decoder accepts without --ultra. */
export const ZSTD_MAX_LEVEL = 19;

const TOOL_PKG: Record<string, string> = { xz: 'xz-utils', zstd: 'zstd', bzip2: 'bzip2', lz4: 'lz4' };

/**
 * Zero bytes after an lz4 member. The kernel's lz4 reader (lib/decompress_unlz4.c)
 * has no end marker: it takes 4-byte chunk lengths until its input ends, so
 * a member that follows directly is read as a chunk ("Decoding failed").
 * Zeros end it; init/initramfs.c skips them before the next member.
 */
export const LZ4_TRAILER_BYTES = 16;

export function xzArgs(opts: CompressOptions = {}): string[] {
  const level = opts.level ?? 9;
  if (!Number.isInteger(level) || level < 0 || level > 9)
    throw new UserError(`xz level ${level} is out of range`, { hint: 'use a level from 0 to 9' });
  const threads = opts.threads ?? availableParallelism();
  // '-T+1' keeps the multi-threaded encoder with one thread: xz's single-threaded
  // mode writes no block sizes and so gives different bytes. --no-adjust makes
  // a memory limit fail loudly instead of silently switching to single-threaded.
  return [
    'xz',
    '--compress',
    '--stdout',
    '--format=xz',
    '--check=crc32',
    `--lzma2=preset=${level},dict=${XZ_DICT}`,
    `--block-size=${XZ_BLOCK}`,
    threads <= 1 ? '--threads=+1' : `--threads=${threads}`,
    '--no-adjust',
    '--quiet',
  ];
}

export function zstdArgs(opts: CompressOptions = {}): string[] {
  const level = opts.level ?? 19;
  if (!Number.isInteger(level) || level < 1 || level > ZSTD_MAX_LEVEL)
    throw new UserError(`zstd level ${level} is out of range`, {
      hint: `use a level from 1 to ${ZSTD_MAX_LEVEL} (higher levels need --ultra windows some kernels refuse)`,
    });
  const threads = Math.max(1, opts.threads ?? availableParallelism());
  // zstd's multi-threaded encoder (-T N, N >= 1) produces the same frame for any N.
  return ['zstd', '--compress', '--stdout', '--quiet', '--no-progress', `-${level}`, `-T${threads}`];
}

/**
 * lz4's legacy frame format (`-l`: 8 MiB chunks, the format the kernel's
 * initramfs reader takes); single-threaded, so the output depends only on
 * the input and level. Levels 1-12 (9 and up: lz4's HC mode).
 */
export function lz4Args(opts: CompressOptions = {}): string[] {
  const level = opts.level ?? 9;
  if (!Number.isInteger(level) || level < 1 || level > 12)
    throw new UserError(`lz4 level ${level} is out of range`, { hint: 'use a level from 1 to 12' });
  return ['lz4', '-l', `-${level}`, '-c', '-q'];
}

/** A compressing filter: write the cpio in, read the member out (lz4: with its zero trailer). */
export function compressStream(kind: MemberMethod, opts: CompressOptions = {}): Duplex {
  switch (kind) {
    case 'none':
      return new PassThrough({ highWaterMark: 1 << 20 });
    case 'gzip':
      return createGzip({ level: opts.level ?? 9, chunkSize: 1 << 20 });
    case 'xz':
      return new ChildFilter(xzArgs(opts), 'to compress the initramfs with xz');
    case 'zstd':
      return new ChildFilter(zstdArgs(opts), 'to compress the initramfs with zstd');
    case 'lz4':
      return new ChildFilter(lz4Args(opts), 'to compress the initramfs with lz4', Buffer.alloc(LZ4_TRAILER_BYTES));
  }
}

export function decompressStream(kind: Decompression): Duplex {
  switch (kind) {
    case 'none':
      return new PassThrough({ highWaterMark: 1 << 20 });
    case 'gzip':
      return createGunzip({ chunkSize: 1 << 20 });
    case 'xz':
      return new ChildFilter(['xz', '--decompress', '--stdout', '--quiet'], 'to read xz-compressed archives');
    case 'lzma':
      return new ChildFilter(['xz', '--format=lzma', '--decompress', '--stdout', '--quiet'], 'to read lzma-compressed archives');
    case 'zstd':
      return new ChildFilter(['zstd', '--decompress', '--stdout', '--quiet'], 'to read zstd-compressed archives');
    case 'bzip2':
      return new ChildFilter(['bzip2', '--decompress', '--stdout', '--quiet'], 'to read bzip2-compressed archives');
    case 'lz4':
      return new ChildFilter(['lz4', '-d', '-c', '-q'], 'to read lz4-compressed archives');
  }
}

/**
 * An external stdin→stdout filter as a Duplex; failures become ProcessError, a missing tool ToolMissingError.
 * `trailer`: bytes emitted after the tool's output.
 */
class ChildFilter extends Duplex {
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>;

  constructor(argv: string[], why: string, trailer?: Buffer) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    const tool = argv[0] as string;
    if (!findTool(tool)) throw new ToolMissingError([{ tool, pkg: TOOL_PKG[tool] ?? tool, why }]);
    traceCommand?.(argv);
    const child = spawn(tool, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: baseEnv(), ...interruptOption() });
    this.#child = child;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-8192);
    });
    child.stdout.on('data', (d: Buffer) => {
      if (!this.push(d)) child.stdout.pause();
    });
    child.stdin.on('error', () => {
      /* EPIPE when the tool dies: its exit status says why */
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      this.destroy(
        e.code === 'ENOENT'
          ? new ToolMissingError([{ tool, pkg: TOOL_PKG[tool] ?? tool, why }])
          : new ProcessError(argv, null, null, e.message, e),
      );
    });
    child.on('close', (code, signal) => {
      if (code === 0) {
        if (trailer) this.push(trailer);
        this.push(null);
      } else this.destroy(new ProcessError(argv, code, signal, stderr));
    });
  }

  override _read(): void {
    this.#child.stdout.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.#child.stdin.write(chunk)) cb();
    else this.#child.stdin.once('drain', () => cb());
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.#child.stdin.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
    cb(err);
  }
}
