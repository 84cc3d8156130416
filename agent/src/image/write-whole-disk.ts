/** Whole-disk images (§10.4): streamed raw, or cached then converted (qemu-img calls as IPA's qemu_img.py makes them). */
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join, basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { errMsg, ImageWriteError, InvalidImage } from '../errors.js';
import type { ProgramRunner } from '../util/exec.js';
import { destroyDiskMetadata } from '../hardware/disks/destroy-metadata.js';
import { downloadImage, type DownloadOptions } from './download.js';
import { fixGptBackup, rescanPartitions, waitForBlockDevice } from './disk-ids.js';
import { type ImageFormatPolicy, validateImageFormat } from './image-format.js';
import { openImageSink } from './block-writer.js';

export interface WriteContext extends DownloadOptions {
  run: ProgramRunner;
  tmpDir: string;
  /** Partition images: the root partition's size; a bigger image is refused (400). */
  maxImageBytes?: number;
  /** Partition images: how long new partitions' device nodes may take to appear (default PARTITION_WAIT_MS; tests shorten it). */
  partitionWaitMs?: number;
  /** Ironic's image settings from the lookup (permitted_image_formats). */
  imageFormats?: ImageFormatPolicy;
  /** IPA's config_drive_rebuild (installConfigDrive). */
  configDriveRebuild?: boolean;
}

/** Is this the no-qemu-img streaming path? */
export function isStreamable(info: Record<string, unknown>): boolean {
  return info.stream_raw_images !== false && String(info.disk_format ?? '').toLowerCase() === 'raw';
}

/** Write a whole-disk image to `device` (a disk or a partition; never a file, see openImageSink). */
export async function writeWholeDiskImage(info: Record<string, unknown>, device: string, c: WriteContext): Promise<void> {
  // Before anything touches it: a missing disk must not become a file in /dev that "takes" the image.
  const what = await waitForBlockDevice(device, 0);
  if (what) throw new ImageWriteError(device, `${device} is ${what}, not a block device; the install device must be a disk`);
  if (isStreamable(info)) {
    // A smaller image would leave the old backup GPT and signatures past its end.
    await destroyDiskMetadata(device, c.run);
    await downloadImage(info, () => openImageSink(device, 'device'), c);
  } else {
    await writeCachedImage(info, device, c, true);
  }
  await fixGptBackup(device, c.run);
  await rescanPartitions(device, c.run);
}

/**
 * Download to <tmpDir>/<id>, check the real format, then write it with
 * qemu-img (qcow2) or a large-block copy (raw). `wipe` clears the disk first
 * so stale partition signatures cannot survive around a smaller image.
 */
export async function writeCachedImage(info: Record<string, unknown>, target: string, c: WriteContext, wipe: boolean): Promise<void> {
  const file = join(c.tmpDir, basename(String(info.id)) || 'image');
  try {
    await downloadImage(info, () => openImageSink(file, 'file'), c);
    const format = await validateImageFormat(file, info.disk_format as string | undefined, c.imageFormats);
    if (c.maxImageBytes !== undefined) {
      const size = await getVirtualSize(file, format, c.run);
      if (size > c.maxImageBytes) {
        throw new InvalidImage(
          `Root partition is too small for requested image. Image virtual size: ${Math.ceil(size / 2 ** 20)} MB, Root size: ${Math.floor(c.maxImageBytes / 2 ** 20)} MB; raise root_gb`,
        );
      }
    }
    if (wipe) await destroyDiskMetadata(target, c.run);
    try {
      if (format === 'qcow2') await convertImage(file, target, 'qcow2', c.run);
      else await pipeline(createReadStream(file, { highWaterMark: 8 << 20 }), await openImageSink(target, 'device'));
    } catch (e) {
      throw new ImageWriteError(target, errMsg(e));
    }
  } finally {
    // The cache lives in the ramdisk's RAM: free it as soon as the write is done.
    await rm(file, { force: true });
  }
}

/** IPA caps qemu-img's address space so a hostile image cannot eat the ramdisk's memory. */
const ADDRESS_SPACE_LIMIT = 2048 << 20;
const TRANSIENT = /Resource temporarily unavailable|Cannot allocate memory/;

/**
 * Convert `src` onto `dst`. A block device gets host_device + directsync;
 * a regular file (tests, or a file acting as a disk) gets raw with -n so
 * qemu-img neither refuses it nor truncates it to the image size.
 */
export async function convertImage(src: string, dst: string, inFormat: string, run: ProgramRunner): Promise<void> {
  const isBlock = (await stat(dst)).isBlockDevice();
  const out = isBlock ? ['-O', 'host_device', '-t', 'directsync'] : ['-O', 'raw', '-n'];
  const argv = ['prlimit', `--as=${ADDRESS_SPACE_LIMIT}`, 'qemu-img', 'convert', ...out, '-S', '0', '-f', inFormat, '-W', src, dst];
  for (let attempt = 1; ; attempt++) {
    try {
      await run(argv, { env: { MALLOC_ARENA_MAX: '3' } });
      return;
    } catch (e) {
      if (attempt >= 3 || !TRANSIENT.test(String((e as Error).message))) throw e;
    }
  }
}

/** Virtual size in bytes (what the image expands to). */
export async function getVirtualSize(path: string, format: string, run: ProgramRunner): Promise<number> {
  const { stdout } = await run(['prlimit', `--as=${ADDRESS_SPACE_LIMIT}`, 'qemu-img', 'info', '--output=json', '-f', format, path], {
    env: { MALLOC_ARENA_MAX: '3' },
  });
  return Number((JSON.parse(stdout) as { 'virtual-size': number })['virtual-size']);
}
