/**
 * tinyipa keeps the Node binary (about 107 MB unpacked, a quarter of it the
 * zeros left by the ICU trim) in a squashfs image that rcS mounts, instead
 * of a file in the initramfs. A file in the initramfs is decompressed and
 * copied into tmpfs in full at every boot, before /init runs: about 3 s of
 * the boot under TCG. The image is stored uncompressed in the initramfs
 * (it is compressed already), so the kernel only copies it, and squashfs
 * decompresses only the blocks Node reads, when it reads them; the zeros
 * are sparse blocks that cost nothing. It also leaves more memory free: the
 * unread part of Node is never in RAM (bench/boot.ts, builder/src/flavors/tinyipa/README.md).
 *
 * The spec's `compression` picks the squashfs compressor (none: an
 * uncompressed image, which still drops the zeros). The image is made
 * reproducibly (fixed times, owners, no xattrs, one file) and cached by
 * the binary's checksum and the arguments.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Compression } from '../../archive/compress.js';
import { run } from '../../exec/run.js';

/** Where the image sits in the ramdisk, where rcS mounts it, and the binary's path inside it. */
export const NODE_SQUASHFS_PATH = 'usr/lib/ramforge/node.squashfs';
export const NODE_MOUNT_DIR = 'usr/lib/ramforge/node';
export const NODE_BINARY_PATH = `/${NODE_MOUNT_DIR}/node`;

/** Bumped when the image's layout or arguments change in a way the arguments below do not show. */
const IMAGE_VERSION = 1;

/**
 * mksquashfs arguments for each spec compression: zstd and xz as named,
 * none an uncompressed image (the zeros still go). Blocks of 1 MiB:
 * measured under TCG against zstd 128 KiB (squashfs's default; qemu CPU
 * seconds to /v1/status, README.md beside this file), 1 MiB blocks made the
 * image 9 % smaller and the boot no slower, which keeps the tinyipa
 * initramfs under its 45 MB target (46.6 MB with 128 KiB blocks); 32 KiB
 * blocks made it 10 % larger and the boot no faster; lz4 and lz4hc were no
 * faster beyond the noise, 16 and 8 MB larger.
 */
export function squashfsCompressorArgs(compression: Compression): string[] {
  switch (compression) {
    case 'zstd':
      return ['-comp', 'zstd', '-Xcompression-level', '19'];
    case 'xz':
      return ['-comp', 'xz'];
    case 'gzip':
      return ['-comp', 'gzip', '-Xcompression-level', '9'];
    case 'none':
      return ['-noI', '-noD', '-noF', '-noX'];
  }
}

export interface NodeSquashfsArgs {
  /** Host path of the Node binary that goes into the ramdisk. */
  binary: string;
  /** Its sha256 (the cache key). */
  sha256: string;
  compression: Compression;
  /** Every time in the image (SOURCE_DATE_EPOCH). */
  epoch: number;
  cacheDir: string;
  /** Scratch directory for the staged binary. */
  workspace: string;
  log: (line: string) => void;
}

/** The squashfs image holding `node` at its root (mode 0755, root-owned); made once per binary and arguments. */
export async function makeNodeSquashfs(a: NodeSquashfsArgs): Promise<{ file: string; bytes: number }> {
  const args = [
    ...squashfsCompressorArgs(a.compression),
    '-b',
    '1M',
    '-reproducible',
    '-mkfs-time',
    String(a.epoch),
    '-all-time',
    String(a.epoch),
    '-all-root',
    '-no-xattrs',
    '-noappend',
    '-no-progress',
    '-quiet',
  ];
  const version = (await run(['mksquashfs', '-version'])).stdout.split('\n')[0]!.trim();
  const key = createHash('sha256')
    .update(`v${IMAGE_VERSION}\0${version}\0${a.sha256}\0${args.join(' ')}`)
    .digest('hex')
    .slice(0, 32);
  const dir = join(a.cacheDir, 'node-squashfs');
  const file = join(dir, `node-${key}.squashfs`);
  if (existsSync(file)) return { file, bytes: (await stat(file)).size };

  await mkdir(dir, { recursive: true });
  const stage = await mkdtemp(join(a.workspace, 'node-squashfs-'));
  const tmp = `${file}.${process.pid}`;
  try {
    const root = join(stage, 'root');
    await mkdir(root);
    // The image takes modes from the staged files: fix them, whatever the umask.
    await chmod(root, 0o755);
    await copyFile(a.binary, join(root, 'node'));
    await chmod(join(root, 'node'), 0o755);
    const t0 = performance.now();
    await run(['mksquashfs', root, tmp, ...args]);
    await rename(tmp, file);
    const bytes = (await stat(file)).size;
    a.log(`node squashfs (${a.compression}): ${(bytes / 2 ** 20).toFixed(1)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return { file, bytes };
  } finally {
    await rm(tmp, { force: true });
    await rm(stage, { recursive: true, force: true });
  }
}
