/**
 * ironic-lib's destroy_disk_metadata: wipefs, zero both GPT areas, sgdisk -Z.
 * The GPT zeroing is done with fs writes instead of two dd processes.
 */
import { open } from 'node:fs/promises';
import type { ProgramRunner } from '../../util/exec.js';
import { getDeviceSize, listPartitions } from './disk-facts.js';

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

/** Zero the first and the last 33 sectors (both GPT copies; also MBR/EBR) and flush. */
export async function zeroGptAreas(dev: string, run: ProgramRunner): Promise<void> {
  const size = await getDeviceSize(dev, run);
  const area = GPT_SIZE_SECTORS * 512;
  const fh = await open(dev, 'r+');
  try {
    const zeros = Buffer.alloc(Math.min(area, size));
    await fh.write(zeros, 0, zeros.length, 0);
    // A device smaller than one GPT area has no separate backup copy.
    if (size > area) {
      const lastStart = Math.floor(size / 512) * 512 - area;
      await fh.write(Buffer.alloc(area), 0, area, lastStart);
    }
    await fh.datasync();
  } finally {
    await fh.close();
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
