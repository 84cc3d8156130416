/**
 * Partition images, ironic-lib's work_on_disk: lay out the disk (ESP or
 * bios_grub, ephemeral, swap, config drive, root last so growroot can
 * extend it), make the auxiliary filesystems, write the root partition.
 */
import { DeploymentError, InvalidImage } from '../errors.js';
import type { ProgramRunner } from '../util/exec.js';
import { destroyDiskMetadata } from '../hardware/disks/destroy-metadata.js';
import { partitionPath } from '../hardware/disks/disk-facts.js';
import { configDriveMb, installConfigDrive, ISO9660_MAX_SECTOR, logicalSectorSize } from './configdrive.js';
import { downloadImage } from './download.js';
import { getPartitionUuid, PARTITION_WAIT_MS, rescanPartitions, waitForBlockDevice } from './disk-ids.js';
import { openImageSink } from './block-writer.js';
import { isStreamable, writeCachedImage, type WriteContext } from './write-whole-disk.js';

export type PartRole = 'efi system partition' | 'BIOS Boot partition' | 'ephemeral' | 'swap' | 'configdrive' | 'root';
export interface PlannedPartition {
  role: PartRole;
  sizeMb: number;
  gptType: string;
  mbrFs: string;
}
export interface PartitionPlan {
  label: 'gpt' | 'msdos';
  parts: PlannedPartition[];
}

export const ESP_SIZE_MB = 550;
const num = (v: unknown): number => (Number.isFinite(Number(v)) ? Number(v) : 0);

/** The layout work_on_disk would create for this image_info. */
export function planPartitionLayout(info: Record<string, unknown>, bootMode: 'uefi' | 'bios', configdriveMb: number): PartitionPlan {
  // IPA's work_on_disk: an explicit disk_label is honoured in either boot mode (UEFI firmware boots an MBR
  // disk from an ESP of type 0xef); without one, GPT for UEFI and MBR for BIOS.
  const asked = String(info.disk_label ?? '');
  const label = asked === 'gpt' || asked === 'msdos' ? asked : bootMode === 'uefi' ? 'gpt' : 'msdos';
  const rootMb = num(info.root_mb) || num(info.root_gb) * 1024;
  if (rootMb <= 0) throw new InvalidImage('Partition image needs root_mb (or root_gb) > 0 in image_info; set instance_info root_gb');
  const parts: PlannedPartition[] = [];
  if (bootMode === 'uefi') parts.push({ role: 'efi system partition', sizeMb: ESP_SIZE_MB, gptType: 'EF00', mbrFs: 'fat32' });
  else if (label === 'gpt') parts.push({ role: 'BIOS Boot partition', sizeMb: 1, gptType: 'EF02', mbrFs: '' });
  if (num(info.ephemeral_mb) > 0) parts.push({ role: 'ephemeral', sizeMb: num(info.ephemeral_mb), gptType: '8300', mbrFs: '' });
  if (num(info.swap_mb) > 0) parts.push({ role: 'swap', sizeMb: num(info.swap_mb), gptType: '8200', mbrFs: 'linux-swap' });
  if (configdriveMb > 0) parts.push({ role: 'configdrive', sizeMb: configdriveMb, gptType: '8300', mbrFs: '' });
  parts.push({ role: 'root', sizeMb: rootMb, gptType: '8300', mbrFs: '' });
  if (label === 'msdos' && parts.length > 4) throw new InvalidImage('More than 4 partitions requested on an MBR disk; use disk_label=gpt');
  return { label, parts };
}

/** Create the partitions; returns role → partition device. */
export async function applyPartitionLayout(
  dev: string,
  plan: PartitionPlan,
  run: ProgramRunner,
  commit = true,
): Promise<Partial<Record<PartRole, string>>> {
  const out: Partial<Record<PartRole, string>> = {};
  plan.parts.forEach((p, i) => {
    out[p.role] = partitionPath(dev, i + 1);
  });
  if (!commit) return out;
  if (plan.label === 'gpt') {
    const args = ['sgdisk', '-o'];
    plan.parts.forEach((p, i) => args.push('-n', `${i + 1}:0:+${p.sizeMb}M`, '-t', `${i + 1}:${p.gptType}`));
    await run([...args, dev]);
  } else {
    // parted places MiB-aligned partitions back to back from 1 MiB.
    const args = ['parted', '-a', 'optimal', '-s', '--', dev, 'mklabel', 'msdos', 'unit', 'MiB'];
    let start = 1;
    plan.parts.forEach((p, i) => {
      args.push('mkpart', 'primary', ...(p.mbrFs ? [p.mbrFs] : []), String(start), String(start + p.sizeMb));
      // parted's esp flag on an MBR disk is partition type 0xef, which UEFI firmware (and uefi-boot-entries.ts) looks for.
      if (p.role === 'efi system partition') args.push('set', String(i + 1), 'esp', 'on');
      if (p.role === 'root' && !plan.parts.some((q) => q.role === 'efi system partition')) args.push('set', String(i + 1), 'boot', 'on');
      start += p.sizeMb;
    });
    await run(args);
  }
  await rescanPartitions(dev, run);
  return out;
}

/**
 * work_on_disk's is_block_device checks: every partition of the layout must
 * be a block device before anything is written to it. Otherwise the kernel
 * did not take the new table (partprobe and blockdev --rereadpt failed,
 * their failures being ignored as IPA does) and the image would go to a
 * file in /dev, or nowhere. Root first, with IPA's wording.
 */
async function checkPartitionsExist(
  dev: string,
  parts: Partial<Record<PartRole, string>>,
  created: boolean,
  waitMs: number,
): Promise<void> {
  const deadline = Date.now() + waitMs;
  const why = created
    ? `the kernel did not pick up the new partition table on ${dev}`
    : `${dev}'s partition table (kept for preserve_ephemeral) does not have it`;
  const roles = ['root', ...Object.keys(parts).filter((r) => r !== 'root')] as PartRole[];
  for (const role of roles) {
    const p = parts[role]!;
    const what = await waitForBlockDevice(p, Math.max(0, deadline - Date.now()));
    if (!what) continue;
    const name = role === 'root' ? `Root device '${p}'` : `'${role}' device '${p}'`;
    throw new DeploymentError(`${name} not found (${what}, not a block device): ${why}`);
  }
}

export interface PartitionUuids {
  'root uuid': string | null;
  'efi system partition uuid': string | null;
  partitions: Record<string, string>;
}

/** work_on_disk: layout, filesystems, root image; returns the uuids prepare_image records. */
export async function writePartitionImage(
  info: Record<string, unknown>,
  dev: string,
  bootMode: 'uefi' | 'bios',
  configdrive: Buffer | null,
  c: WriteContext,
): Promise<PartitionUuids> {
  // Room for vfat's clusters where the config drive will be rebuilt (installConfigDrive).
  const cdMb = configdrive
    ? configDriveMb(configdrive, c.configDriveRebuild === true || (await logicalSectorSize(dev, c.run)) > ISO9660_MAX_SECTOR)
    : 0;
  const plan = planPartitionLayout(info, bootMode, cdMb);
  const preserve = info.preserve_ephemeral === true;
  if (!preserve) await destroyDiskMetadata(dev, c.run);
  const parts = await applyPartitionLayout(dev, plan, c.run, !preserve);
  await checkPartitionsExist(dev, parts, !preserve, c.partitionWaitMs ?? PARTITION_WAIT_MS);
  const root = parts.root!;
  if (isStreamable(info)) await downloadImage(info, () => openImageSink(root, 'device'), c);
  else await writeCachedImage(info, root, { ...c, maxImageBytes: plan.parts.at(-1)!.sizeMb * (1 << 20) }, false);
  // Formatted even with preserve_ephemeral, as IPA's work_on_disk does: the ESP belongs to the image being
  // deployed. Kept, it still held the previous image's loader, install_bootloader found it, pointed the NVRAM
  // entry at it and reported success, and the node booted a loader whose grub.cfg named the old root.
  if (parts['efi system partition']) await c.run(['mkfs.vfat', '-n', 'efi-part', parts['efi system partition']]);
  if (parts.swap) await c.run(['mkswap', '-L', 'swap1', parts.swap]);
  if (parts.ephemeral && !preserve) {
    const fmt = String(info.ephemeral_format ?? 'ext4');
    await c.run([
      `mkfs.${fmt}`,
      ...(fmt.startsWith('ext') ? ['-F'] : []),
      ...(fmt === 'vfat' ? ['-n'] : ['-L']),
      'ephemeral0',
      parts.ephemeral,
    ]);
  }
  if (parts.configdrive && configdrive) {
    await installConfigDrive(parts.configdrive, configdrive, { run: c.run, tmpDir: c.tmpDir, rebuild: c.configDriveRebuild, log: c.log });
  }
  const partitions: Record<string, string> = {};
  for (const [role, p] of Object.entries(parts)) partitions[role] = p;
  return {
    'root uuid': await getPartitionUuid(root, c.run),
    'efi system partition uuid': parts['efi system partition'] ? await getPartitionUuid(parts['efi system partition'], c.run) : null,
    partitions,
  };
}
