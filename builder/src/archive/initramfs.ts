/**
 * Write a multi-member initramfs: cpio members, each compressed on its own,
 * and existing blobs appended as they are (e.g. an early-microcode cpio or a
 * vendor initramfs). The kernel reads them in order into one rootfs.
 */
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { explainFsError, UserError } from '../errors.js';
import type { TreeEntry } from '../tree/types.js';
import { pad4 } from './cpio-format.js';
import { cpioStream } from './cpio-writer.js';
import { compressStream, type MemberMethod } from './compress.js';

export type InitramfsMemberSpec =
  | { name: string; compression: MemberMethod; entries: Iterable<TreeEntry>; level?: number }
  | { name: string; file: string };

export interface InitramfsWriteOptions {
  /** SOURCE_DATE_EPOCH for clamping mtimes. */
  epoch?: number;
  /** Compressor threads (xz/zstd); the output does not depend on it. */
  threads?: number;
}

export interface InitramfsResult {
  size: number;
  members: { name: string; offset: number; size: number }[];
}

/**
 * Members are padded with NULs to 4-byte boundaries: init/initramfs.c only
 * recognises an uncompressed cpio at a 4-aligned offset, and skips NULs.
 * The file appears at outPath only when complete (written as .partial, renamed).
 */
export async function writeInitramfs(
  outPath: string,
  members: InitramfsMemberSpec[],
  opts: InitramfsWriteOptions = {},
): Promise<InitramfsResult> {
  for (const m of members) {
    if (!('file' in m)) continue;
    const st = await stat(m.file).catch((e: unknown) => {
      throw new UserError(`initramfs member '${m.name}': cannot read '${m.file}'`, {
        hint: 'check that the file exists (build or download it first)',
        cause: e,
      });
    });
    if (!st.isFile())
      throw new UserError(`initramfs member '${m.name}': '${m.file}' is not a regular file`, {
        hint: 'name an existing cpio/initramfs file',
      });
  }
  const partial = `${outPath}.partial`;
  let fh: FileHandle | undefined;
  const out: InitramfsResult = { size: 0, members: [] };
  try {
    fh = await open(partial, 'w', 0o644);
    let offset = 0;
    for (const m of members) {
      const start = offset;
      const source = openMember(m, opts);
      try {
        for await (const chunk of source) offset += await writeAll(fh, chunk as Buffer, offset);
      } finally {
        source.destroy();
      }
      out.members.push({ name: m.name, offset: start, size: offset - start });
      const p = pad4(offset);
      if (p) offset += await writeAll(fh, Buffer.alloc(p), offset);
    }
    out.size = offset;
    await fh.close();
    fh = undefined;
    await rename(partial, outPath);
    return out;
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await rm(partial, { force: true }).catch(() => undefined);
    throw explainFsError(e, `writing initramfs ${outPath}`);
  }
}

function openMember(m: InitramfsMemberSpec, opts: InitramfsWriteOptions): Readable {
  if ('file' in m) return createReadStream(m.file, { highWaterMark: 1 << 20 });
  const cpio = cpioStream(m.entries, opts.epoch === undefined ? {} : { epoch: opts.epoch });
  const copts: { level?: number; threads?: number } = {};
  if (m.level !== undefined) copts.level = m.level;
  if (opts.threads !== undefined) copts.threads = opts.threads;
  const comp = compressStream(m.compression, copts);
  cpio.on('error', (e) => comp.destroy(e));
  comp.on('close', () => cpio.destroy());
  cpio.pipe(comp);
  return comp;
}

async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<number> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
  return buf.length;
}
