/** image.install_bootloader (§10.5): UEFI NVRAM entries, else GRUB in a chroot for BIOS partition images. */
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandExecutionError, InvalidImage } from '../errors.js';
import { execute, type ProgramRunner } from '../util/exec.js';
import type { Log } from '../util/log.js';
import { findPartition, manageUefi } from './uefi-boot-entries.js';
import { installBootloaderOnRaid } from './install-bootloader-raid.js';
import { isMdDevice } from '../hardware/raid/md-devices.js';

export interface InstallBootloaderArgs {
  root_uuid?: string | null;
  efi_system_part_uuid?: string | null;
  prep_boot_part_uuid?: string | null;
  target_boot_mode?: string;
  ignore_bootloader_failure?: boolean;
}
export interface InstallBootloaderOpts {
  device: string;
  run?: ProgramRunner;
  bootMode: 'uefi' | 'bios';
  log?: Log;
}

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

async function hasEfibootmgr(run: ProgramRunner): Promise<boolean> {
  return run(['efibootmgr', '--version']).then(
    () => true,
    () => false,
  );
}

export async function installBootloader(args: InstallBootloaderArgs, o: InstallBootloaderOpts): Promise<void> {
  const run = o.run ?? execute;
  try {
    await installBootloaderStrict(args, o.device, o.bootMode, run, o.log);
  } catch (e) {
    // The operator accepts a node whose firmware/image will find its own way to boot.
    if (args.ignore_bootloader_failure) return;
    throw e;
  }
}

async function installBootloaderStrict(
  args: InstallBootloaderArgs,
  device: string,
  bootMode: 'uefi' | 'bios',
  run: ProgramRunner,
  log?: Log,
): Promise<void> {
  // A software RAID install device: GRUB goes onto every member disk (install-bootloader-raid.ts).
  if (await isMdDevice(device, run)) return installBootloaderOnRaid(device, args, run, log);
  if (bootMode === 'uefi' && (await hasEfibootmgr(run))) {
    if (await manageUefi(device, args.efi_system_part_uuid ?? null, run)) return;
  }
  const root = args.root_uuid;
  if (!root || root === '0x00000000' || /^0x[0-9a-f]{8}$/i.test(root)) return; // whole-disk image: its own bootloader
  await installGrubInChroot(device, root, run);
}

/** grub-install + grub-mkconfig inside the deployed root filesystem. */
async function installGrubInChroot(device: string, rootUuid: string, run: ProgramRunner): Promise<void> {
  const rootPart = await findPartition(device, rootUuid, run);
  if (!rootPart)
    throw new CommandExecutionError(`Installing GRUB2 boot loader to device ${device} failed: no partition with UUID ${rootUuid}`);
  const mnt = await mkdtemp(join(tmpdir(), 'rf-root-'));
  const mounted: string[] = [];
  try {
    await run(['mount', rootPart, mnt]);
    mounted.push(mnt);
    const [install, mkconfig, cfg] = (await exists(join(mnt, 'usr/sbin/grub2-install')))
      ? ['grub2-install', 'grub2-mkconfig', '/boot/grub2/grub.cfg']
      : ['grub-install', 'grub-mkconfig', '/boot/grub/grub.cfg'];
    if (!(await exists(join(mnt, 'usr/sbin', install))) && !(await exists(join(mnt, 'usr/bin', install)))) {
      throw new InvalidImage(
        `The image has no ${install}: a BIOS partition image must ship GRUB2, or deploy a whole-disk image (or set ignore_bootloader_failure)`,
      );
    }
    for (const fs of ['dev', 'proc', 'sys', 'run']) {
      await run(['mount', '--bind', `/${fs}`, join(mnt, fs)]);
      mounted.push(join(mnt, fs));
    }
    await run(['chroot', mnt, install, device]);
    await run(['chroot', mnt, mkconfig, '-o', cfg]);
  } catch (e) {
    if (e instanceof InvalidImage || e instanceof CommandExecutionError) throw e;
    throw new CommandExecutionError(`Installing GRUB2 boot loader to device ${device} failed with ${(e as Error).message}`);
  } finally {
    for (const m of mounted.reverse()) await run(['umount', m]).catch(() => undefined);
    await rm(mnt, { recursive: true, force: true }).catch(() => undefined);
  }
}
