/**
 * The deployed image's own GRUB, run in a chroot of its root filesystem (IPA's
 * _install_grub2 core), shared by every install_bootloader path: BIOS on one
 * disk, BIOS on every member of a software RAID, GRUB for EFI into an ESP (one
 * disk's, or the mirrored ESP of an array). Binds /dev /proc /sys /run, mounts
 * the ESP on /boot/efi when given, runs grub-install once per argument list,
 * then grub-mkconfig once.
 */
import { access, mkdir, mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentError, CommandExecutionError, InvalidImage } from '../errors.js';
import type { ProgramRunner } from '../util/exec.js';

export interface GrubChrootPlan {
  /** Arguments of each grub-install run: one list per disk (BIOS), or the EFI target and then --removable (UEFI). */
  installs: string[][];
  /** A partition to mount on /boot/efi inside the root for the runs (the ESP, or the array's mirrored ESP). */
  esp?: string;
  /** Called with the mounted root before grub-mkconfig (rd.md.uuid= for dracut images on an array). */
  beforeMkconfig?: (root: string) => Promise<void>;
  /** The InvalidImage text when the image has no grub-install ("{install}" is replaced by the binary looked for). */
  noGrub: string;
  /** GRUB's modules directory the runs need (usr/lib/grub/<target>), checked first with its own InvalidImage. */
  modules?: { target: string; missing: string };
}

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

/** grub2-install/grub2-mkconfig (Red Hat family) or grub-install/grub-mkconfig, and the config path that goes with them. */
export async function grubBinaries(root: string): Promise<{ install: string; mkconfig: string; cfg: string } | null> {
  for (const [install, mkconfig, cfg] of [
    ['grub2-install', 'grub2-mkconfig', '/boot/grub2/grub.cfg'],
    ['grub-install', 'grub-mkconfig', '/boot/grub/grub.cfg'],
  ] as const) {
    for (const dir of ['usr/sbin', 'usr/bin', 'sbin']) if (await exists(join(root, dir, install))) return { install, mkconfig, cfg };
  }
  return null;
}

/**
 * Run the plan in the root already mounted at `root`; every mount made here is
 * pushed through `mount`, so the caller's cleanup unmounts it (the ESP is
 * unmounted here already, so that it can be mounted again afterwards).
 */
export async function grubInMountedRoot(root: string, plan: GrubChrootPlan, mount: Mounter, run: ProgramRunner): Promise<void> {
  const bins = await grubBinaries(root);
  if (!bins) throw new InvalidImage(plan.noGrub.replaceAll('{install}', 'grub-install'));
  if (plan.modules && !(await exists(join(root, 'usr/lib/grub', plan.modules.target))))
    throw new InvalidImage(plan.modules.missing.replaceAll('{install}', bins.install));
  await bindForChroot(root, mount);
  if (plan.esp) {
    await mkdir(join(root, 'boot/efi'), { recursive: true });
    await mount(['mount', plan.esp], join(root, 'boot/efi'));
  }
  for (const args of plan.installs) await run(['chroot', root, bins.install, ...args]);
  await plan.beforeMkconfig?.(root);
  await mkconfig(root, bins, run);
  if (plan.esp) await run(['umount', join(root, 'boot/efi')]);
}

/** The roots each Mounter has bound /dev, /proc, /sys and /run into already (one withMountedRoot: one Mounter). */
const boundRoots = new WeakMap<Mounter, Set<string>>();

/**
 * /dev, /proc, /sys and /run of the ramdisk bound into the mounted root, for
 * programs run in a chroot of it; once per root and Mounter (mkconfig before a
 * /boot/efi copy and a grub-install after it share one set of binds).
 */
async function bindForChroot(root: string, mount: Mounter): Promise<void> {
  const bound = boundRoots.get(mount) ?? new Set<string>();
  boundRoots.set(mount, bound);
  if (bound.has(root)) return;
  bound.add(root);
  for (const fs of ['dev', 'proc', 'sys', 'run']) {
    await mkdir(join(root, fs), { recursive: true });
    await mount(['mount', '--bind', `/${fs}`], join(root, fs));
  }
}

/** IPA's _configure_grub: the image's grub(2)-mkconfig writes its config; no os-prober (it would list the ramdisk's disks), remember the last entry booted. */
async function mkconfig(root: string, bins: { mkconfig: string; cfg: string }, run: ProgramRunner): Promise<void> {
  await run(['chroot', root, bins.mkconfig, '-o', bins.cfg], { env: { GRUB_DISABLE_OS_PROBER: 'true', GRUB_SAVEDEFAULT: 'true' } });
}

/**
 * IPA's _configure_grub before a partition image's /boot/efi is copied to the
 * ESP: when the image has GRUB, its config is written again for the disk it
 * now lives on. False when the image has no GRUB (the copy goes ahead as it is).
 */
export async function configureGrubInMountedRoot(root: string, mount: Mounter, run: ProgramRunner): Promise<boolean> {
  const bins = await grubBinaries(root);
  if (!bins) return false;
  await bindForChroot(root, mount);
  await mkconfig(root, bins, run);
  return true;
}

/** Mounts a command line (["mount", dev] or ["mount", "--bind", dir]) on a directory, to be undone by withMountedRoot. */
export type Mounter = (argv: string[], at: string) => Promise<void>;

/**
 * Mount `rootPart` on a fresh directory for `fn`; everything mounted through
 * the Mounter it gets is unmounted in reverse order afterwards, whatever
 * happens (an already unmounted one fails quietly).
 */
export async function withMountedRoot<T>(
  rootPart: string,
  run: ProgramRunner,
  fn: (root: string, mount: Mounter) => Promise<T>,
): Promise<T> {
  const mnt = await mkdtemp(join(tmpdir(), 'rf-root-'));
  const mounted: string[] = [];
  const mount: Mounter = async (argv, at) => {
    await run([...argv, at]);
    mounted.push(at);
  };
  try {
    await mount(['mount', rootPart], mnt);
    return await fn(mnt, mount);
  } finally {
    for (const m of mounted.reverse()) await run(['umount', m]).catch(() => undefined);
    // rmdir, never a recursive rm: after a failed umount that would delete the deployed root's files.
    await rmdir(mnt).catch(() => undefined);
  }
}

/**
 * Mount `dev` (with mount options `opts`) on a fresh directory named `prefix`… for `fn`; unmount (a failure is an
 * error: writes may be lost; with `onUnmountError` it is handed to that instead, as ironic-lib's `utils.mounted`
 * warns, and `fn`'s result stands) and rmdir (never a recursive rm: after a failed umount that would delete the
 * files; the rmdir of a directory still mounted fails and leaves it in place).
 */
export async function withMount<T>(
  dev: string,
  run: ProgramRunner,
  fn: (dir: string) => Promise<T>,
  opts: string[] = [],
  prefix = 'rf-esp-',
  onUnmountError?: (e: unknown, dir: string) => void,
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    await run(['mount', ...opts, dev, dir]);
    try {
      return await fn(dir);
    } finally {
      await run(['umount', dir]).catch((e: unknown) => {
        if (!onUnmountError) throw e;
        onUnmountError(e, dir);
      });
    }
  } finally {
    await rmdir(dir).catch(() => undefined);
  }
}

/**
 * Mount `rootPart`, run the plan, unmount whatever happens. Failures other than
 * the agent's own errors become "Installing GRUB2 boot loader to device
 * <target> failed with ...".
 */
export async function runGrubInChroot(rootPart: string, target: string, plan: GrubChrootPlan, run: ProgramRunner): Promise<void> {
  try {
    await withMountedRoot(rootPart, run, (root, mount) => grubInMountedRoot(root, plan, mount, run));
  } catch (e) {
    if (e instanceof AgentError) throw e;
    throw new CommandExecutionError(`Installing GRUB2 boot loader to device ${target} failed with ${(e as Error).message}`);
  }
}

export const efiTargetOf = (arch: string): string => (arch === 'arm64' ? 'arm64-efi' : 'x86_64-efi');

/** What to do when an image cannot have GRUB installed for EFI (no /boot/efi loader, no GRUB, or no EFI modules). */
export function efiGrubPlan(device: string, target: string, esp: string): GrubChrootPlan {
  const install = [`--target=${target}`, '--efi-directory=/boot/efi', '--no-nvram'];
  return {
    esp,
    // --no-nvram: the entry is written by the ramdisk's efibootmgr afterwards (manageUefi), the same way for every image.
    // The removable-media path too, as IPA: a firmware that lost its NVRAM still finds \EFI\BOOT\BOOTX64.EFI.
    installs: [install, [...install, '--removable']],
    noGrub:
      `The partition image has no EFI files in /boot/efi and no grub-install: it cannot boot in UEFI mode on ${device}. ` +
      'Ship the loader in the image (/boot/efi/EFI/...) or GRUB for EFI (Debian: grub-efi-amd64), or use a whole-disk image.',
    modules: {
      target,
      missing:
        `The partition image has {install} but not GRUB's ${target} modules (/usr/lib/grub/${target}): install GRUB for EFI in the image ` +
        '(Debian: grub-efi-amd64-bin), or ship the loader in /boot/efi/EFI/.',
    },
  };
}
