/**
 * ironic-lib's destroy_disk_metadata: wipefs, zero both GPT areas, sgdisk -Z.
 * The GPT zeroing is done with the erase's device I/O (overwrite-io.ts)
 * instead of two dd processes.
 */
import type { ProgramRunner } from '../../util/exec.js';
import { listPartitions } from './disk-facts.js';
import { createDiskIo, writeFully, type DiskIo } from './overwrite-io.js';

/** Primary GPT = protective MBR + header + 32 sectors of entries; the backup is the last 33. */
export const GPT_SIZE_SECTORS = 33;

/** Remove every signature wipefs knows; old util-linux lacks --force, so retry without it. */
export async function wipeSignatures(dev: string, run: ProgramRunner): Promise<void> {
  try {
    await run(['wipefs', '--force', '--all', dev]);
  } catch (e) {
    if (!String((e as Error).message).includes('--force')) throw e;
    await run(['wipefs', '--all', dev]);
  }
}

/**
 * Zero the first and the last 33 sectors (both GPT copies; also MBR/EBR) and
 * flush. Every write is checked to the last byte (writeFully): a short
 * count is continued, a write that takes nothing or fails names the disk
 * and the byte. `io`: the device I/O (a fake in unit tests).
 */
export async function zeroGptAreas(dev: string, run: ProgramRunner, io: DiskIo = createDiskIo(run)): Promise<void> {
  const size = await io.size(dev);
  const area = GPT_SIZE_SECTORS * 512;
  const h = await io.open(dev);
  try {
    const zeros = await h.alloc(area);
    await writeFully(dev, h, zeros, Math.min(area, size), 0);
    // A device smaller than one GPT area has no separate backup copy.
    if (size > area) {
      const lastStart = Math.floor(size / 512) * 512 - area;
      await writeFully(dev, h, zeros, area, lastStart);
    }
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Wipe partitions first (their signatures vanish from view once the table is gone), then the disk. */
export async function destroyDiskMetadata(dev: string, run: ProgramRunner): Promise<void> {
  for (const part of await listPartitions(dev, run)) await wipeSignatures(part, run);
  await wipeSignatures(dev, run);
  await zeroGptAreas(dev, run);
  // sgdisk reads the table first and may complain about the now-zeroed one: 2 = "problems found".
  await run(['sgdisk', '-Z', dev], { okCodes: [0, 2] });
  // Let the kernel drop stale partition devices; a regular file has none.
  await run(['partprobe', dev], { okCodes: [0, 1] }).catch(() => undefined);
}
