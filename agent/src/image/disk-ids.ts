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

/** Does sector 1 hold a GPT header? */
export async function hasGpt(dev: string): Promise<boolean> {
  const fh = await open(dev, 'r');
  try {
    const buf = Buffer.alloc(8);
    await fh.read(buf, 0, 8, 512);
    return buf.toString('latin1') === 'EFI PART';
  } finally {
    await fh.close();
  }
}

/** Re-read the partition table; a regular file has none to re-read. */
export async function rescanPartitions(dev: string, run: ProgramRunner): Promise<void> {
  if (!(await stat(dev)).isBlockDevice()) return;
  await run(['partprobe', dev]).catch(() => run(['blockdev', '--rereadpt', dev]).catch(() => undefined));
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
