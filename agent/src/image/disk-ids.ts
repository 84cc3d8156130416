/** Identifiers and partition-table housekeeping after an image is written. */
import { open, stat } from 'node:fs/promises';
import type { ProgramRunner } from '../util/exec.js';

/** The MBR disk signature at offset 440 as "0x%08x" (what `hexdump -s 440 -n 4 -e '"0x%08x"'` prints). */
export async function getDiskIdentifier(dev: string): Promise<string> {
  const fh = await open(dev, 'r');
  try {
    const buf = Buffer.alloc(4);
    await fh.read(buf, 0, 4, 440);
    return `0x${buf.readUInt32LE(0).toString(16).padStart(8, '0')}`;
  } finally {
    await fh.close();
  }
}

/**
 * Does LBA 1 hold a GPT header? At byte 512 with 512-byte sectors, at byte
 * 4096 on a 4Kn disk (an image made for one). Nothing else of a 512-byte
 * GPT puts these 8 ASCII bytes at 4096 (the partition entries there hold
 * GUIDs, LBAs and UTF-16 names).
 */
export async function hasGpt(dev: string): Promise<boolean> {
  const fh = await open(dev, 'r');
  try {
    const buf = Buffer.alloc(8);
    for (const offset of [512, 4096]) {
      const { bytesRead } = await fh.read(buf, 0, 8, offset);
      if (bytesRead === 8 && buf.toString('latin1') === 'EFI PART') return true;
    }
    return false;
  } finally {
    await fh.close();
  }
}

/** Re-read the partition table; a regular file has none to re-read. */
export async function rescanPartitions(dev: string, run: ProgramRunner): Promise<void> {
  if (!(await stat(dev)).isBlockDevice()) return;
  await run(['partprobe', dev]).catch(() => run(['blockdev', '--rereadpt', dev]).catch(() => undefined));
}

/** How long a new partition's device node may take to appear (IPA: 3 stat attempts 1 s apart). */
export const PARTITION_WAIT_MS = 5000;

/**
 * Wait up to `timeoutMs` for `path` to be a block device: after a new
 * partition table, the kernel (devtmpfs) or udev may lag. Returns null once
 * it is one, else what it still is ("absent", "a regular file", ...) when
 * the time is up.
 */
export async function waitForBlockDevice(path: string, timeoutMs: number): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await stat(path).catch(() => null);
    if (s?.isBlockDevice()) return null;
    if (Date.now() >= deadline)
      return !s ? 'absent' : s.isFile() ? 'a regular file' : s.isDirectory() ? 'a directory' : 'not a block device';
    await new Promise((r) => setTimeout(r, Math.min(200, Math.max(0, deadline - Date.now()))));
  }
}

/** An image smaller than the disk leaves the backup GPT mid-disk: move it to the end. */
export async function fixGptBackup(dev: string, run: ProgramRunner): Promise<void> {
  if (await hasGpt(dev)) await run(['sgdisk', '-e', dev], { okCodes: [0, 2] }).catch(() => undefined);
}

/**
 * Filesystem UUID of a partition, else its partition UUID. Probed with
 * blkid -p: no udev runs in the ramdisk, so lsblk's udev-backed columns are empty.
 */
export async function getPartitionUuid(part: string, run: ProgramRunner): Promise<string | null> {
  for (const tag of ['UUID', 'PART_ENTRY_UUID']) {
    const { stdout } = await run(['blkid', '-p', '-o', 'value', '-s', tag, part], { okCodes: [0, 2] });
    const v = stdout.trim();
    if (v) return v;
  }
  return null;
}
