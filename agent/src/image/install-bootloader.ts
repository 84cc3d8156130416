/**
 * image.install_bootloader (§10.5), after IPA's _efi_boot_setup and _install_grub2:
 * - UEFI: NVRAM entries for the loader on the ESP (uefi-boot-entries.ts). A
 *   partition image's ESP is new and empty: the image's /boot/efi is copied
 *   onto it, or else GRUB for EFI is installed there from a chroot of the root;
 *   then the entry, and the ESP's line in the image's /etc/fstab. No ESP, or a
 *   whole-disk image whose ESP holds no loader, is an error: it cannot boot.
 * - BIOS: GRUB in a chroot of the root partition (partition images only).
 */
import { access, cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentError, CommandExecutionError, InvalidImage } from '../errors.js';
import { execute, type ProgramRunner } from '../util/exec.js';
import type { Log } from '../util/log.js';
import { findEsp, findPartition, fstabWithEsp, manageUefi, probe } from './uefi-boot-entries.js';
import { installBootloaderOnRaid } from './install-bootloader-raid.js';
import {
  configureGrubInMountedRoot,
  efiGrubPlan,
  efiTargetOf,
  grubInMountedRoot,
  runGrubInChroot,
  withMount,
  withMountedRoot,
} from './grub-chroot.js';
import { isMdDevice } from '../hardware/raid/md-devices.js';
import { requireImageGrub } from './image-grub.js';

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
  /**
   * Whether the deployed image's own GRUB may run (a chroot of its root: grub-install, grub-mkconfig): IPA's
   * enable_bios_bootloader_install, off by default since the mitigation of CVE-2026-43003. Where it would be
   * needed (a partition image; software RAID without a loader on the image's ESP) and is off, the step fails
   * with InvalidImage, as IPA's does, or is skipped with ignore_bootloader_failure.
   */
  imageGrubAllowed: boolean;
  /** GRUB's EFI platform for grub-install --target (default from the CPU the agent runs on). */
  efiTarget?: string;
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

const isWholeDisk = (root: string | null | undefined): boolean => !root || /^0x[0-9a-f]{8}$/i.test(root);

export async function installBootloader(args: InstallBootloaderArgs, o: InstallBootloaderOpts): Promise<void> {
  const run = o.run ?? execute;
  try {
    if (await isMdDevice(o.device, run)) await installBootloaderOnRaid(o.device, args, run, o.log, o.efiTarget, o.imageGrubAllowed);
    else if (o.bootMode === 'uefi') await installUefi(args, o, run);
    else if (!isWholeDisk(args.root_uuid)) {
      requireImageGrub(o.imageGrubAllowed);
      await installGrubInChroot(o.device, args.root_uuid!, run);
    }
  } catch (e) {
    // The operator accepts a node whose firmware/image will find its own way to boot.
    if (args.ignore_bootloader_failure) {
      o.log?.warn(`Ignoring the bootloader failure (ignore_bootloader_failure): ${(e as Error).message}`);
      return;
    }
    throw e;
  }
}

async function installUefi(args: InstallBootloaderArgs, o: InstallBootloaderOpts, run: ProgramRunner): Promise<void> {
  const { device } = o;
  if (!(await hasEfibootmgr(run)))
    throw new CommandExecutionError(
      'efibootmgr is not available in the ramdisk: the UEFI boot entry cannot be written; build the ramdisk with the efibootmgr package',
    );
  const espUuid = args.efi_system_part_uuid ?? null;
  try {
    if (await manageUefi(device, espUuid, run)) return;
  } catch (e) {
    if (e instanceof AgentError) throw e;
    throw new CommandExecutionError(`Could not configure UEFI boot on device ${device}: ${(e as Error).message}`);
  }
  if (isWholeDisk(args.root_uuid))
    throw new InvalidImage(
      `The EFI system partition on ${device} holds no EFI bootloader (\\EFI\\<vendor>\\shimx64.efi or grubx64.efi, ` +
        '\\EFI\\BOOT\\BOOTX64.EFI): this whole-disk image cannot boot in UEFI mode. Use a UEFI-capable image or deploy in BIOS mode.',
    );
  // As IPA: past the ESP's own loader, a partition image's boot setup is its GRUB's work (its /boot/efi copied
  // after grub-mkconfig, or grub-install for EFI), which the mitigation gates.
  requireImageGrub(o.imageGrubAllowed);
  await setupPartitionImageEsp(device, args.root_uuid!, espUuid, o, run);
}

/** The ESP of a partition image: copy the image's /boot/efi, else grub-install for EFI; then NVRAM and fstab. */
async function setupPartitionImageEsp(
  device: string,
  rootUuid: string,
  espUuid: string | null,
  o: InstallBootloaderOpts,
  run: ProgramRunner,
): Promise<void> {
  const rootPart = await findPartition(device, rootUuid, run);
  if (!rootPart) throw new CommandExecutionError(`Setting up UEFI boot on device ${device} failed: no partition with UUID ${rootUuid}`);
  const esp = await findEsp(device, espUuid, run);
  const espFsUuid = await probe(esp, 'UUID', run);
  try {
    await withMountedRoot(rootPart, run, async (mnt, mount) => {
      const imageEfi = join(mnt, 'boot/efi');
      const assets = (await readdir(join(imageEfi, 'EFI')).catch(() => [])).length > 0;
      let done = false;
      if (assets) {
        // As IPA's _try_preserve_efi_assets: an image with GRUB gets its config made again first, then copied beside the loaders.
        if (await configureGrubInMountedRoot(mnt, mount, run)) o.log?.info(`Wrote the image's GRUB configuration again (grub-mkconfig)`);
        o.log?.info(`Copying the image's /boot/efi onto the EFI system partition ${esp}`);
        await withMount(esp, run, async (espMnt) => {
          // FAT has no symlinks or owners: copy what the links point to.
          await cp(imageEfi, espMnt, { recursive: true, dereference: true, force: true });
          await copyGrub2Config(mnt, espMnt, o.log);
        });
        done = await manageUefi(device, espUuid, run);
        if (!done) o.log?.warn(`The image's /boot/efi holds no EFI bootloader; installing GRUB for EFI instead`);
      }
      if (!done) {
        await grubInMountedRoot(mnt, efiGrubPlan(device, o.efiTarget ?? efiTargetOf(process.arch), esp), mount, run);
        if (!(await manageUefi(device, espUuid, run)))
          throw new CommandExecutionError(`grub-install left no EFI bootloader on ${esp} of ${device}`);
      }
      const fstab = join(mnt, 'etc/fstab');
      if (!espFsUuid) o.log?.warn(`blkid reports no filesystem UUID on ${esp}: the image's /etc/fstab gets no /boot/efi line`);
      else if (await exists(fstab)) await writeFile(fstab, fstabWithEsp(await readFile(fstab, 'utf8'), espFsUuid.toUpperCase()));
    });
  } catch (e) {
    if (e instanceof AgentError) throw e;
    throw new CommandExecutionError(`Setting up UEFI boot on device ${device} failed: ${(e as Error).message}`);
  }
}

/**
 * As IPA's _preserve_efi_assets: a grub2 image's /boot/grub2/grub.cfg and
 * grubenv go beside each vendor loader that has none (Red Hat's BLS configs
 * read kernelopts from the grubenv next to grub.cfg; without it the kernel
 * starts with no root=). A copy that fails is logged, as IPA does.
 */
async function copyGrub2Config(root: string, espMnt: string, log?: Log): Promise<void> {
  for (const name of ['grub.cfg', 'grubenv']) {
    const src = join(root, 'boot/grub2', name);
    if (!(await exists(src))) continue;
    for (const d of await readdir(join(espMnt, 'EFI')).catch(() => [])) {
      const dest = join(espMnt, 'EFI', d, name);
      if (await exists(dest)) continue;
      await cp(src, dest, { dereference: true }).catch((e: Error) => log?.warn(`Could not copy ${name} to ${dest}: ${e.message}`));
    }
  }
}

/** grub-install + grub-mkconfig inside the deployed root filesystem (BIOS). */
async function installGrubInChroot(device: string, rootUuid: string, run: ProgramRunner): Promise<void> {
  const rootPart = await findPartition(device, rootUuid, run);
  if (!rootPart)
    throw new CommandExecutionError(`Installing GRUB2 boot loader to device ${device} failed: no partition with UUID ${rootUuid}`);
  await runGrubInChroot(
    rootPart,
    device,
    {
      installs: [[device]],
      noGrub:
        'The image has no {install}: a BIOS partition image must ship GRUB2, or deploy a whole-disk image (or set ignore_bootloader_failure)',
    },
    run,
  );
}
