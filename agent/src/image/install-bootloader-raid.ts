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
 * Not done (see docs/software-raid.md): UEFI boot from a software RAID (the
 * mirrored ESP); a clear error says so.
 */
import { access, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandExecutionError, DeviceNotFound, InvalidImage } from '../errors.js';
import { getHolderDisks } from '../hardware/raid/md-devices.js';
import type { ProgramRunner } from '../util/exec.js';
import type { Log } from '../util/log.js';
import { rescanPartitions } from './disk-ids.js';
import { findPartition } from './uefi-boot-entries.js';

export interface RaidBootloaderArgs {
  root_uuid?: string | null;
  target_boot_mode?: string;
}

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

/** The root partition: the one with root_uuid, else the array's first partition (IPA's md fallback). */
async function findRootPartition(md: string, uuid: string, run: ProgramRunner): Promise<string> {
  const byUuid = await findPartition(md, uuid, run);
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
export async function installBootloaderOnRaid(md: string, args: RaidBootloaderArgs, run: ProgramRunner, log?: Log): Promise<void> {
  const mode = args.target_boot_mode === 'uefi' ? 'uefi' : 'bios';
  log?.info(`install_bootloader on software RAID ${md}: root_uuid ${String(args.root_uuid)}, target boot mode ${mode}`);
  if (mode === 'uefi') {
    throw new CommandExecutionError(
      `Installing a UEFI bootloader on software RAID ${md} is not supported by this agent yet: deploy in BIOS mode (node capability boot_mode:bios) or without software RAID`,
    );
  }
  const root = args.root_uuid;
  if (!root || root === '0x00000000') {
    log?.info('Not using grub2-install since root UUID is not provided. Assuming a whole disk image');
    return;
  }
  const holders = await getHolderDisks(md, run);
  if (!holders.length) throw new CommandExecutionError(`Could not get holder disks of ${md}: mdadm --detail lists no member`);
  await rescanPartitions(md, run);
  const rootPart = await findRootPartition(md, root, run);
  await addBiosBootPartitions(holders, run);
  log?.info(`GRUB2 will be installed on disks ${holders.join(', ')} (members of ${md}), root ${rootPart}`);
  await runGrubInChroot(rootPart, holders, run);
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

/** Mount the root partition, bind /dev /proc /sys /run, grub-install on each disk, grub-mkconfig; unmount whatever happens. */
export async function runGrubInChroot(rootPart: string, disks: string[], run: ProgramRunner): Promise<void> {
  const mnt = await mkdtemp(join(tmpdir(), 'rf-root-'));
  const mounted: string[] = [];
  try {
    await run(['mount', rootPart, mnt]);
    mounted.push(mnt);
    const grub2 = await exists(join(mnt, 'usr/sbin/grub2-install'));
    const [install, mkconfig, cfg] = grub2
      ? ['grub2-install', 'grub2-mkconfig', '/boot/grub2/grub.cfg']
      : ['grub-install', 'grub-mkconfig', '/boot/grub/grub.cfg'];
    if (!(await exists(join(mnt, 'usr/sbin', install))) && !(await exists(join(mnt, 'usr/bin', install)))) {
      throw new InvalidImage(
        `The image has no ${install}: on software RAID the bootloader is installed from the image onto every member disk, so the image must ship GRUB2 (or set ignore_bootloader_failure)`,
      );
    }
    for (const fs of ['dev', 'proc', 'sys', 'run']) {
      await run(['mount', '--bind', `/${fs}`, join(mnt, fs)]);
      mounted.push(join(mnt, fs));
    }
    for (const disk of disks) await run(['chroot', mnt, install, disk]);
    await addRdMdUuids(mnt, run);
    await run(['chroot', mnt, mkconfig, '-o', cfg], { env: { GRUB_DISABLE_OS_PROBER: 'true', GRUB_SAVEDEFAULT: 'true' } });
  } catch (e) {
    if (e instanceof InvalidImage) throw e;
    throw new CommandExecutionError(`Installing GRUB2 boot loader to device ${disks.join(', ')} failed with ${(e as Error).message}`);
  } finally {
    for (const m of mounted.reverse()) await run(['umount', m]).catch(() => undefined);
    await rm(mnt, { recursive: true, force: true }).catch(() => undefined);
  }
}
