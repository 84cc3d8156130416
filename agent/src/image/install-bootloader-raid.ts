/**
 * image.install_bootloader when the install device is a software RAID
 * (IPA's _install_grub2 with an md device, raid_utils'
 * prepare_boot_partitions_for_softraid): the firmware boots a member disk,
 * not the array, so GRUB goes onto EVERY holder disk, from the deployed
 * image's own GRUB (in a chroot of its root partition), and on GPT holders
 * into a 2 MiB bios_boot partition made in the room create_configuration
 * kept before the first RAID partition. This runs for whole-disk images
 * too (Ironic sends software_raid deploys here with the disk identifier as
 * root_uuid): the image's boot code was written inside the array, where no
 * firmware looks.
 *
 * UEFI (IPA's manage_uefi and prepare_boot_partitions_for_softraid): the
 * firmware reads a plain FAT ESP on a member disk, so every holder gets a
 * 550 MiB ESP partition in the room create_configuration kept, and those
 * partitions become an md RAID-1 with metadata 1.0 (superblock at the END:
 * each member still starts with the FAT the firmware reads). The image's
 * ESP (inside the array) is copied onto it with its volume id and label, so
 * the image's fstab still names it, and wiped; without a loader there, the
 * image's root /boot/efi is copied or its GRUB is installed for EFI into the
 * mirror from a chroot (fstab line written). Then one NVRAM entry per member
 * disk, labelled "<label> (RAID, part<i>)".
 */
import { access, cp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentError, CommandExecutionError, DeviceNotFound, InvalidImage } from '../errors.js';
import { ESP_SIZE_MIB, diskOfPartition, mdadmCreateArgv } from '../hardware/raid/plan.js';
import { getComponentDevices, getHolderDisks, listMdDevices } from '../hardware/raid/md-devices.js';
import { listPartitions } from '../hardware/disks/disk-facts.js';
import type { ProgramRunner } from '../util/exec.js';
import type { Log } from '../util/log.js';
import { rescanPartitions } from './disk-ids.js';
import {
  ESP_TYPES,
  findEfiBootloaders,
  fstabWithEsp,
  probe,
  type EfiLoader,
  type EntryTarget,
  writeBootEntries,
} from './uefi-boot-entries.js';
import { efiGrubPlan, efiTargetOf, grubInMountedRoot, runGrubInChroot, withMount, withMountedRoot } from './grub-chroot.js';
import { requireImageGrub } from './image-grub.js';

export interface RaidBootloaderArgs {
  root_uuid?: string | null;
  efi_system_part_uuid?: string | null;
  target_boot_mode?: string;
}

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

/**
 * A partition of the array with this filesystem/partition UUID, else (uuid
 * null) the ESP by type. lsblk lists an array's partitions as TYPE "md" or
 * "part" depending on its version: both are looked at.
 */
async function findOnArray(md: string, uuid: string | null, run: ProgramRunner): Promise<string | null> {
  const parts = await listPartitions(md, run);
  for (const d of await listMdDevices(run))
    if (d.name.startsWith(`${md}p`) && /p\d+$/.test(d.name) && !parts.includes(d.name)) parts.push(d.name);
  for (const p of parts) {
    if (uuid) {
      if ([await probe(p, 'UUID', run), await probe(p, 'PART_ENTRY_UUID', run)].includes(uuid.toLowerCase())) return p;
    } else if (ESP_TYPES.includes(await probe(p, 'PART_ENTRY_TYPE', run))) return p;
  }
  return null;
}

/** The root partition: the one with root_uuid, else the array's first partition (IPA's md fallback). */
async function findRootPartition(md: string, uuid: string, run: ProgramRunner): Promise<string> {
  const byUuid = await findOnArray(md, uuid, run);
  if (byUuid) return byUuid;
  const first = `${md}p1`;
  if ((await stat(first).catch(() => null))?.isBlockDevice()) return first;
  throw new DeviceNotFound(`No partition with UUID ${uuid} found on device ${md}, and ${md} has no partition 1 to fall back to`);
}

/** BIOS on GPT: GRUB's core image needs a bios_boot partition (ef02) on each holder. */
export async function addBiosBootPartitions(holders: string[], run: ProgramRunner): Promise<void> {
  for (const [i, holder] of holders.entries()) {
    const { stdout: pt } = await run(['blkid', '-p', '-o', 'value', '-s', 'PTTYPE', holder], { okCodes: [0, 2] });
    if (pt.trim() !== 'gpt') continue;
    const { stdout: first } = await run(['sgdisk', '-F', holder]);
    const start = first.trim().split('\n').at(-1)!.trim();
    await run(['sgdisk', '-n', `0:${start}:+2MiB`, '-t', '0:ef02', '-c', `0:bios-boot-part-${i}`, holder]);
    await run(['partprobe', holder]).catch(() => undefined);
  }
}

/** GRUB onto every holder disk of `md`, from the image's root filesystem. */
export async function installBootloaderOnRaid(
  md: string,
  args: RaidBootloaderArgs,
  run: ProgramRunner,
  log?: Log,
  efiTarget = efiTargetOf(process.arch),
  imageGrubAllowed = false,
): Promise<void> {
  const mode = args.target_boot_mode === 'uefi' ? 'uefi' : 'bios';
  log?.info(`install_bootloader on software RAID ${md}: root_uuid ${String(args.root_uuid)}, target boot mode ${mode}`);
  if (mode === 'uefi') return installUefiOnRaid(md, args, run, log, efiTarget, imageGrubAllowed);
  const root = args.root_uuid;
  if (!root || root === '0x00000000') {
    log?.info('Not using grub2-install since root UUID is not provided. Assuming a whole disk image');
    return;
  }
  requireImageGrub(imageGrubAllowed);
  const holders = await getHolderDisks(md, run);
  if (!holders.length) throw new CommandExecutionError(`Could not get holder disks of ${md}: mdadm --detail lists no member`);
  await rescanPartitions(md, run);
  const rootPart = await findRootPartition(md, root, run);
  await addBiosBootPartitions(holders, run);
  log?.info(`GRUB2 will be installed on disks ${holders.join(', ')} (members of ${md}), root ${rootPart}`);
  await runGrubInChroot(
    rootPart,
    holders.join(', '),
    {
      installs: holders.map((h) => [h]),
      beforeMkconfig: (root) => addRdMdUuids(root, run),
      noGrub:
        'The image has no {install}: on software RAID the bootloader is installed from the image onto every member disk, so the image must ship GRUB2 (or set ignore_bootloader_failure)',
    },
    run,
  );
}

/** UUIDs of `mdadm --examine --scan` ("ARRAY /dev/md/root metadata=1.2 UUID=a:b:c:d name=h:root"). */
export function parseExamineScanUuids(stdout: string): string[] {
  const out: string[] = [];
  for (const m of stdout.matchAll(/\bUUID=([0-9a-f:]+)/gi)) if (!out.includes(m[1]!)) out.push(m[1]!);
  return out;
}

/** GRUB_CMDLINE_LINUX="..." with `extra` appended (IPA's substitution: the first such line). */
export function appendGrubCmdline(defaults: string, extra: string[]): string {
  return defaults.replace(
    /GRUB_CMDLINE_LINUX="(.*)"/,
    (_m, cur: string) => `GRUB_CMDLINE_LINUX="${[cur, ...extra].filter(Boolean).join(' ')}"`,
  );
}

/** As IPA: an image with dracut gets rd.md.uuid=... for every array, so its initramfs assembles them before mounting root. */
async function addRdMdUuids(root: string, run: ProgramRunner): Promise<void> {
  const dracut = (await exists(join(root, 'usr/bin/dracut'))) || (await exists(join(root, 'usr/sbin/dracut')));
  const defaults = join(root, 'etc/default/grub');
  if (!dracut || !(await exists(defaults))) return;
  const uuids = parseExamineScanUuids((await run(['mdadm', '--examine', '--scan'])).stdout);
  if (!uuids.length) return;
  await writeFile(
    defaults,
    appendGrubCmdline(
      await readFile(defaults, 'utf8'),
      uuids.map((u) => `rd.md.uuid=${u}`),
    ),
  );
}

/** The partition label of holder i's ESP (IPA's uefi-holder-<i>). */
export const espPartLabel = (i: number): string => `uefi-holder-${i}`;

/** sgdisk argv for holder i's ESP: ESP_SIZE_MIB from the first free sector (the room create_configuration kept), type EF00. */
export function espPartitionArgv(holder: string, i: number, firstFreeSector: string): string[] {
  return ['sgdisk', '-n', `0:${firstFreeSector}:+${ESP_SIZE_MIB}MiB`, '-t', '0:ef00', '-c', `0:${espPartLabel(i)}`, holder];
}

/** The ESP mirror: RAID-1, metadata 1.0 (superblock at the end, so each member starts with the FAT the firmware reads), named esp. */
export const espMirrorArgv = (md: string, parts: string[]): string[] => mdadmCreateArgv(md, '1', 'esp', parts, '1.0');

/** One NVRAM target per member of the ESP mirror: its disk, its partition number, "(RAID, part<i>)" as IPA labels them. */
export function espEntryTargets(members: Array<{ part: string; partNum: string }>): EntryTarget[] {
  return members.map((m, i) => {
    const disk = diskOfPartition(m.part);
    if (!disk) throw new DeviceNotFound(`Could not tell the disk of ESP mirror member ${m.part}`);
    return { disk, partNum: m.partNum, labelSuffix: `(RAID, part${i})` };
  });
}

/** A mirrored ESP already there (a rebuild), as IPA's find_esp_raid: a RAID-1 holding FAT, or one named esp. */
async function findEspMirror(exclude: string, run: ProgramRunner): Promise<string | null> {
  for (const d of await listMdDevices(run)) {
    if (d.name === exclude || d.name.startsWith(`${exclude}p`) || d.type !== 'raid1') continue;
    if ((await probe(d.name, 'TYPE', run)) === 'vfat') return d.name;
  }
  return null;
}

/** The lowest /dev/mdN lsblk does not list (IPA's get_next_free_raid_device). */
async function nextFreeMd(run: ProgramRunner): Promise<string> {
  const used = new Set((await listMdDevices(run)).map((d) => d.name));
  for (let i = 0; ; i++) if (!used.has(`/dev/md${i}`)) return `/dev/md${i}`;
}

async function createEspMirror(holders: string[], run: ProgramRunner, log?: Log): Promise<string> {
  for (const holder of holders) {
    const { stdout: pt } = await run(['blkid', '-p', '-o', 'value', '-s', 'PTTYPE', holder], { okCodes: [0, 2] });
    if (pt.trim() !== 'gpt')
      throw new CommandExecutionError(
        `${holder}, a member of the software RAID, has a ${pt.trim() || 'missing'} partition table, not GPT: the array was made for BIOS boot ` +
          'and has no room for the ESP. Run raid.delete_configuration and raid.create_configuration with the node in UEFI mode (capabilities boot_mode:uefi).',
      );
  }
  const parts: string[] = [];
  for (const [i, holder] of holders.entries()) {
    const { stdout } = await run(['sgdisk', '-F', holder]);
    await run(espPartitionArgv(holder, i, `${stdout.trim().split('\n').at(-1)!.trim()}s`));
    await run(['partprobe', holder]).catch(() => undefined);
    let part: string | undefined;
    for (const p of await listPartitions(holder, run)) if ((await probe(p, 'PART_ENTRY_NAME', run)) === espPartLabel(i)) part = p;
    if (!part) throw new CommandExecutionError(`The ESP partition ${espPartLabel(i)} made on ${holder} did not appear`);
    parts.push(part);
  }
  const md = await nextFreeMd(run);
  log?.info(`software RAID: mirroring the ESP as ${md} (RAID-1, metadata 1.0) over ${parts.join(' ')}`);
  await run(['modprobe', 'raid1']).catch(() => undefined);
  await run(espMirrorArgv(md, parts));
  return md;
}

const hasEfiDir = async (dir: string): Promise<boolean> => (await readdir(join(dir, 'EFI')).catch(() => [])).length > 0;

const noLoader = (md: string): InvalidImage =>
  new InvalidImage(
    `The image on software RAID ${md} has no EFI system partition holding a loader and no root partition was given: ` +
      'it cannot boot in UEFI mode. Use a UEFI-capable image, or deploy in BIOS mode (capabilities boot_mode:bios).',
  );

/** UEFI on an array: the mirrored ESP over every holder, its loader, an NVRAM entry per member disk. */
async function installUefiOnRaid(
  md: string,
  args: RaidBootloaderArgs,
  run: ProgramRunner,
  log: Log | undefined,
  efiTarget: string,
  imageGrubAllowed: boolean,
): Promise<void> {
  try {
    await run(['efibootmgr', '--version']);
  } catch {
    throw new CommandExecutionError(
      'efibootmgr is not available in the ramdisk: the UEFI boot entries cannot be written; build the ramdisk with the efibootmgr package',
    );
  }
  const holders = await getHolderDisks(md, run);
  if (!holders.length) throw new CommandExecutionError(`Could not get holder disks of ${md}: mdadm --detail lists no member`);
  // Not fatal: the lookups below tell whether the partitions are there.
  await rescanPartitions(md, run).catch(() => undefined);
  try {
    // The image's own ESP, inside the array: by the recorded UUID, else by type (a whole-disk image's).
    const espUuid = args.efi_system_part_uuid ?? null;
    const imageEsp = (espUuid ? await findOnArray(md, espUuid, run) : null) ?? (await findOnArray(md, null, run));
    const wholeDisk = !args.root_uuid || args.root_uuid === '0x00000000';
    // Nothing to boot from: refused before any disk is touched.
    if (!imageEsp && wholeDisk) throw noLoader(md);
    // No ESP in the image: its loader can only come from its root, which is its GRUB's work (the mitigation's
    // gate): refused before the mirrored ESP is made. (With an ESP that turns out to hold no loader, the check
    // comes after the copy, as in IPA.)
    if (!imageEsp) requireImageGrub(imageGrubAllowed);
    let espMd = await findEspMirror(md, run);
    if (espMd) log?.info(`software RAID: the mirrored ESP ${espMd} exists, reusing it`);
    else espMd = await createEspMirror(holders, run, log);
    await rescanPartitions(espMd, run).catch(() => undefined);

    let loaders: EfiLoader[] = [];
    if (imageEsp) {
      // Keep the image ESP's volume id and label: the image's fstab names it so.
      const volId = (await probe(imageEsp, 'UUID', run)).replace('-', '').toUpperCase();
      const label = (await run(['blkid', '-p', '-o', 'value', '-s', 'LABEL', imageEsp], { okCodes: [0, 2] })).stdout.trim() || 'esp';
      await run(['mkfs.vfat', ...(volId ? ['-i', volId] : []), '-n', label, espMd]);
      log?.info(`software RAID: copying the image's ESP ${imageEsp} onto ${espMd}`);
      await withMount(
        imageEsp,
        run,
        (src) => withMount(espMd!, run, (dst) => cp(src, dst, { recursive: true, dereference: true, force: true })),
        ['-o', 'ro'],
      );
      // One ESP with that volume id: the copy inside the array goes (IPA wipes it too).
      await run(['wipefs', '-a', imageEsp]);
      loaders = await withMount(espMd, run, findEfiBootloaders);
    } else {
      await run(['mkfs.vfat', '-n', 'efi-part', espMd]);
    }
    if (!loaders.length) {
      if (wholeDisk) throw noLoader(md);
      requireImageGrub(imageGrubAllowed);
      await loaderFromRoot(md, await findRootPartition(md, args.root_uuid!, run), espMd, efiTarget, run, log);
      loaders = await withMount(espMd, run, findEfiBootloaders);
      if (!loaders.length) throw new CommandExecutionError(`grub-install left no EFI bootloader on the mirrored ESP ${espMd}`);
    }
    const members: Array<{ part: string; partNum: string }> = [];
    for (const part of await getComponentDevices(espMd, run)) {
      members.push({ part, partNum: (await probe(part, 'PART_ENTRY_NUMBER', run)) || (/(\d+)$/.exec(part)?.[1] ?? '') });
    }
    if (!members.length) throw new CommandExecutionError(`Could not get the members of the mirrored ESP ${espMd}`);
    log?.info(`software RAID: UEFI boot entries for ${loaders.map((l) => l.path).join(', ')} on ${members.map((m) => m.part).join(', ')}`);
    await writeBootEntries(loaders, espEntryTargets(members), run);
  } catch (e) {
    if (e instanceof AgentError) throw e;
    throw new CommandExecutionError(`Could not configure UEFI boot on software RAID ${md}: ${(e as Error).message}`);
  }
}

/**
 * No loader on the image's ESP: from the root partition, its /boot/efi copied
 * when it holds EFI files, else its GRUB installed for EFI into the mirrored
 * ESP; then the ESP's line in its fstab.
 */
async function loaderFromRoot(
  md: string,
  rootPart: string,
  espMd: string,
  efiTarget: string,
  run: ProgramRunner,
  log?: Log,
): Promise<void> {
  await withMountedRoot(rootPart, run, async (mnt, mount) => {
    if (await hasEfiDir(join(mnt, 'boot/efi'))) {
      log?.info(`software RAID: copying the image's /boot/efi onto the mirrored ESP ${espMd}`);
      await withMount(espMd, run, (dst) => cp(join(mnt, 'boot/efi'), dst, { recursive: true, dereference: true, force: true }));
    } else {
      log?.info(`software RAID: installing the image's GRUB for EFI (${efiTarget}) into the mirrored ESP ${espMd}`);
      const plan = efiGrubPlan(md, efiTarget, espMd);
      plan.noGrub =
        `The image on software RAID ${md} has no EFI system partition holding a loader, no EFI files in /boot/efi and no grub-install: ` +
        'it cannot boot in UEFI mode. Use a UEFI-capable image (an ESP with \\EFI\\...), or deploy in BIOS mode (capabilities boot_mode:bios).';
      await grubInMountedRoot(mnt, { ...plan, beforeMkconfig: (root) => addRdMdUuids(root, run) }, mount, run);
    }
    const fsUuid = (await probe(espMd, 'UUID', run)).toUpperCase();
    const fstab = join(mnt, 'etc/fstab');
    if (fsUuid && (await exists(fstab))) await writeFile(fstab, fstabWithEsp(await readFile(fstab, 'utf8'), fsUuid));
  });
}
