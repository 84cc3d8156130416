/**
 * image.install_bootloader (§10.5), after IPA's _efi_boot_setup and _install_grub2:
 * - UEFI: NVRAM entries for the loader on the ESP (uefi-boot-entries.ts). A
 *   partition image's ESP is new and empty: the image's /boot/efi is copied
 *   onto it, or else GRUB for EFI is installed there from a chroot of the root;
 *   then the entry, and the ESP's line in the image's /etc/fstab. No ESP, or a
 *   whole-disk image whose ESP holds no loader, is an error: it cannot boot.
 * - BIOS: GRUB in a chroot of the root partition (partition images only).
 */
import { access, cp, mkdir, mkdtemp, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentError, CommandExecutionError, InvalidImage } from '../errors.js';
import { execute, type ProgramRunner } from '../util/exec.js';
import type { Log } from '../util/log.js';
import { findEsp, findPartition, manageUefi, probe } from './uefi-boot-entries.js';
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
    if (await isMdDevice(o.device, run)) await installBootloaderOnRaid(o.device, args, run, o.log);
    else if (o.bootMode === 'uefi') await installUefi(args, o, run);
    else if (!isWholeDisk(args.root_uuid)) await installGrubInChroot(o.device, args.root_uuid!, run);
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
  await setupPartitionImageEsp(device, args.root_uuid!, espUuid, o, run);
}

/** /etc/fstab with the ESP on /boot/efi: earlier /boot/efi lines (the image builder's ESP) are commented out. */
export function fstabWithEsp(fstab: string, espFsUuid: string): string {
  const line = `UUID=${espFsUuid}\t/boot/efi\tvfat\tumask=0077\t0\t1`;
  const kept = fstab.split('\n').map((l) => {
    const f = l.trim().split(/\s+/);
    if (!l.trim().startsWith('#') && f[1] === '/boot/efi' && f[0] !== `UUID=${espFsUuid}`) return `# replaced by ironic: ${l}`;
    return l;
  });
  if (kept.some((l) => l.trim().split(/\s+/)[0] === `UUID=${espFsUuid}`)) return kept.join('\n');
  const body = kept.join('\n');
  return `${body}${body === '' || body.endsWith('\n') ? '' : '\n'}${line}\n`;
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
  const mnt = await mkdtemp(join(tmpdir(), 'rf-root-'));
  const mounted: string[] = [];
  const mount = async (argv: string[], at: string): Promise<void> => {
    await run([...argv, at]);
    mounted.push(at);
  };
  try {
    await mount(['mount', rootPart], mnt);
    const imageEfi = join(mnt, 'boot/efi');
    const assets = (await readdir(join(imageEfi, 'EFI')).catch(() => [])).length > 0;
    let done = false;
    if (assets) {
      o.log?.info(`Copying the image's /boot/efi onto the EFI system partition ${esp}`);
      const espMnt = await mkdtemp(join(tmpdir(), 'rf-esp-'));
      try {
        await run(['mount', esp, espMnt]);
        try {
          // FAT has no symlinks or owners: copy what the links point to.
          await cp(imageEfi, espMnt, { recursive: true, dereference: true, force: true });
          await copyGrub2Config(mnt, espMnt);
        } finally {
          await run(['umount', espMnt]);
        }
      } finally {
        await rmdir(espMnt).catch(() => undefined);
      }
      done = await manageUefi(device, espUuid, run);
      if (!done) o.log?.warn(`The image's /boot/efi holds no EFI bootloader; installing GRUB for EFI instead`);
    }
    if (!done) {
      await grubInstallEfi(device, mnt, esp, o.efiTarget ?? efiTargetOf(process.arch), mount, run);
      if (!(await manageUefi(device, espUuid, run)))
        throw new CommandExecutionError(`grub-install left no EFI bootloader on ${esp} of ${device}`);
    }
    const fstab = join(mnt, 'etc/fstab');
    if (!espFsUuid) o.log?.warn(`blkid reports no filesystem UUID on ${esp}: the image's /etc/fstab gets no /boot/efi line`);
    else if (await exists(fstab)) await writeFile(fstab, fstabWithEsp(await readFile(fstab, 'utf8'), espFsUuid.toUpperCase()));
  } catch (e) {
    if (e instanceof AgentError) throw e;
    throw new CommandExecutionError(`Setting up UEFI boot on device ${device} failed: ${(e as Error).message}`);
  } finally {
    for (const m of mounted.reverse()) await run(['umount', m]).catch(() => undefined);
    await rmdir(mnt).catch(() => undefined);
  }
}

export const efiTargetOf = (arch: string): string => (arch === 'arm64' ? 'arm64-efi' : 'x86_64-efi');

/** As IPA: a grub2 image's /boot/grub2/grub.cfg goes beside each vendor loader that has none. */
async function copyGrub2Config(root: string, espMnt: string): Promise<void> {
  const cfg = join(root, 'boot/grub2/grub.cfg');
  if (!(await exists(cfg))) return;
  for (const d of await readdir(join(espMnt, 'EFI')).catch(() => [])) {
    const dest = join(espMnt, 'EFI', d, 'grub.cfg');
    if (!(await exists(dest))) await cp(cfg, dest, { dereference: true }).catch(() => undefined);
  }
}

async function grubBinaries(mnt: string): Promise<[string, string] | null> {
  for (const [install, mkconfig] of [
    ['grub2-install', 'grub2-mkconfig'],
    ['grub-install', 'grub-mkconfig'],
  ] as const) {
    for (const dir of ['usr/sbin', 'usr/bin', 'sbin']) if (await exists(join(mnt, dir, install))) return [install, mkconfig];
  }
  return null;
}

/** grub-install --target=<efi> into the ESP mounted at /boot/efi inside a chroot of the deployed root (as IPA). */
async function grubInstallEfi(
  device: string,
  mnt: string,
  esp: string,
  target: string,
  mount: (argv: string[], at: string) => Promise<void>,
  run: ProgramRunner,
): Promise<void> {
  const bins = await grubBinaries(mnt);
  if (!bins)
    throw new InvalidImage(
      `The partition image has no EFI bootloader in /boot/efi/EFI and no grub-install: it cannot boot in UEFI mode on ${device}. ` +
        'Ship the loader in the image (/boot/efi/EFI/...) or GRUB for EFI (Debian: grub-efi-amd64), or use a whole-disk image.',
    );
  const [install, mkconfig] = bins;
  const modDir = `usr/lib/grub/${target}`;
  if (!(await exists(join(mnt, modDir))))
    throw new InvalidImage(
      `The partition image has ${install} but not GRUB's ${target} modules (/${modDir}): install GRUB for EFI in the image ` +
        '(Debian: grub-efi-amd64-bin), or ship the loader in /boot/efi/EFI/.',
    );
  for (const fs of ['dev', 'proc', 'sys', 'run']) {
    await mkdir(join(mnt, fs), { recursive: true });
    await mount(['mount', '--bind', `/${fs}`], join(mnt, fs));
  }
  await mkdir(join(mnt, 'boot/efi'), { recursive: true });
  await mount(['mount', esp], join(mnt, 'boot/efi'));
  // --no-nvram: the entry is written by the ramdisk's efibootmgr afterwards (manageUefi), the same way for every image.
  const common = [`--target=${target}`, '--efi-directory=/boot/efi', '--no-nvram'];
  await run(['chroot', mnt, install, ...common]);
  // The removable-media path too, as IPA: a firmware that lost its NVRAM still finds \EFI\BOOT\BOOTX64.EFI.
  await run(['chroot', mnt, install, ...common, '--removable']);
  const cfg = install === 'grub2-install' ? '/boot/grub2/grub.cfg' : '/boot/grub/grub.cfg';
  await run(['chroot', mnt, mkconfig, '-o', cfg], { env: { GRUB_DISABLE_OS_PROBER: 'true' } });
  // Free the ESP for manageUefi's own mount (the caller's finally skips what is already unmounted).
  await run(['umount', join(mnt, 'boot/efi')]);
}

/** grub-install + grub-mkconfig inside the deployed root filesystem (BIOS). */
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
    await rmdir(mnt).catch(() => undefined);
  }
}
