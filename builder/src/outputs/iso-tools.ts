/**
 * Host programs and bootloader files the ISO writer needs, each with the
 * Debian package that provides it, so `ramforge doctor` can list them and
 * makeIso() can refuse to start before doing any work.
 */
import { accessSync, constants } from 'node:fs';
import { ToolMissingError } from '../errors.js';
import { findTool, run } from '../exec/run.js';

/** Where Debian installs the bootloader pieces we copy onto the ISO. */
export const BOOTLOADER_FILES = {
  isolinuxBin: '/usr/lib/ISOLINUX/isolinux.bin',
  isohybridMbr: '/usr/lib/ISOLINUX/isohdpfx.bin',
  ldlinux: '/usr/lib/syslinux/modules/bios/ldlinux.c32',
  grubEfiModules: '/usr/lib/grub/x86_64-efi',
} as const;

export interface IsoTool {
  /** A program name looked up on PATH, or an absolute path to a data file. */
  tool: string;
  /** The Debian package that provides it. */
  pkg: string;
  why: string;
}

/** Everything `makeIso()` needs on the host. */
export const ISO_TOOLS: IsoTool[] = [
  { tool: 'xorriso', pkg: 'xorriso', why: 'to write the hybrid ISO 9660 image' },
  { tool: BOOTLOADER_FILES.isolinuxBin, pkg: 'isolinux', why: 'BIOS El Torito boot loader' },
  { tool: BOOTLOADER_FILES.isohybridMbr, pkg: 'isolinux', why: 'isohybrid MBR so the ISO boots from a USB stick' },
  { tool: BOOTLOADER_FILES.ldlinux, pkg: 'syslinux-common', why: 'ISOLINUX core module' },
  { tool: `${BOOTLOADER_FILES.grubEfiModules}/moddep.lst`, pkg: 'grub-efi-amd64-bin', why: 'GRUB x86_64-efi modules for UEFI boot' },
  { tool: 'grub-mkimage', pkg: 'grub-common', why: 'to build the UEFI GRUB binary BOOTX64.EFI' },
  { tool: 'mkfs.vfat', pkg: 'dosfstools', why: 'to format the EFI system partition image' },
  { tool: 'mmd', pkg: 'mtools', why: 'to create directories in the ESP without a loop mount' },
  { tool: 'mcopy', pkg: 'mtools', why: 'to copy files into the ESP without a loop mount' },
  {
    tool: '/usr/lib/shim/shimx64.efi.signed',
    pkg: 'shim-signed',
    why: 'Secure Boot: the Microsoft-signed shim, first stage of the UEFI path',
  },
  {
    tool: '/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed',
    pkg: 'grub-efi-amd64-signed',
    why: 'Secure Boot: the Debian-signed GRUB that shim starts',
  },
  { tool: 'sbsign', pkg: 'sbsigntool', why: 'signing the kernel and the UKI with a site key (iso.signing)' },
  {
    tool: '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
    pkg: 'libfaketime',
    why: 'a fixed signing time, so signed artifacts are reproducible',
  },
  {
    tool: '/usr/lib/systemd/boot/efi/linuxx64.efi.stub',
    pkg: 'systemd-boot-efi',
    why: "systemd's EFI stub, the base of the unified kernel image",
  },
  { tool: 'objcopy', pkg: 'binutils', why: 'adding the kernel, initramfs and command line to the UKI as PE sections' },
];

/** Debian packages whose versions end up in the ISO's boot path. */
export const BOOTLOADER_PACKAGES: readonly string[] = ['grub-common', 'grub-efi-amd64-bin', 'isolinux', 'syslinux-common'];

/** The boot path of a Secure Boot ISO: no GRUB is built here, Debian's signed binaries are copied. */
export const SECURE_BOOT_PACKAGES: readonly string[] = ['grub-efi-amd64-signed', 'isolinux', 'shim-signed', 'syslinux-common'];

function isReadable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** The entries of ISO_TOOLS that this host lacks (empty when all is well). */
export function findMissingIsoTools(tools: IsoTool[] = ISO_TOOLS): IsoTool[] {
  return tools.filter((t) => (t.tool.startsWith('/') ? !isReadable(t.tool) : findTool(t.tool) === undefined));
}

/** Throws ToolMissingError naming every missing package at once. */
export function checkIsoTools(tools: IsoTool[] = ISO_TOOLS): void {
  const missing = findMissingIsoTools(tools);
  if (missing.length > 0) throw new ToolMissingError(missing);
}

/**
 * Installed versions of the bootloader packages, for the build record.
 * Hosts without dpkg (or with files installed by hand) report 'unknown'
 * rather than failing: the ISO is still valid, only less traceable.
 */
export async function readBootloaderVersions(packages: readonly string[] = BOOTLOADER_PACKAGES): Promise<Record<string, string>> {
  const versions: Record<string, string> = {};
  for (const pkg of packages) versions[pkg] = 'unknown';
  if (findTool('dpkg-query') === undefined) return versions;
  const res = await run(['dpkg-query', '-W', '-f', '${Package}\t${Version}\n', ...packages], { okCodes: [0, 1] });
  for (const line of res.stdout.split('\n')) {
    const [pkg, version] = line.split('\t');
    if (pkg && version && pkg in versions) versions[pkg] = version;
  }
  return versions;
}
