/**
 * The hybrid ISO's layout and the xorriso argv that writes it. Pure: the
 * argv is built from a plain object, so the boot wiring (El Torito entries,
 * isohybrid MBR, appended ESP, GPT, fixed dates and GUIDs) is unit-tested.
 *
 * Layout on the ISO filesystem:
 *   /vmlinuz, /initrd                 grafted straight from the inputs (no copy)
 *   /isolinux/{isolinux.bin,ldlinux.c32,isolinux.cfg,boot.cat}   BIOS
 *   /boot/grub/grub.cfg               UEFI menu, loaded by BOOTX64.EFI in the ESP
 *   /.ramforge/<id>                   unique file GRUB searches for
 *   /EFI/debian/grub.cfg              Secure Boot only: the signed GRUB's config (see iso.ts)
 * After the ISO: partition 2 = the FAT ESP (EFI/BOOT/BOOTX64.EFI; with
 * Secure Boot that is shim, plus EFI/BOOT/grubx64.efi and EFI/debian/grub.cfg).
 */
import { createHash } from 'node:crypto';

/** GPT type GUID of an EFI System Partition (mapped to 0xEF in the MBR). */
export const EFI_SYSTEM_PARTITION_GUID = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';

export const ISO_PATHS = {
  kernel: '/vmlinuz',
  initrd: '/initrd',
  isolinuxBin: 'isolinux/isolinux.bin',
  ldlinux: 'isolinux/ldlinux.c32',
  isolinuxCfg: 'isolinux/isolinux.cfg',
  bootCatalog: 'isolinux/boot.cat',
  idDir: '/.ramforge',
} as const;

export interface IsoLayout {
  /** File xorriso writes (the caller renames it when done). */
  out: string;
  /** ISO 9660 volume id, e.g. VMEDIA_BOOT_ISO. */
  label: string;
  /** Seconds since 1970: every date in the image. */
  epoch: number;
  /** GPT disk GUID (partition GUIDs are derived from it by xorriso). */
  diskGuid: string;
  /** Directory whose contents become the ISO root (isolinux/, boot/, .ramforge/). */
  stageDir: string;
  /** Large files grafted without copying: ISO path → host path. */
  grafts: { isoPath: string; source: string }[];
  /** isohdpfx.bin from Debian's isolinux package. */
  isohybridMbr: string;
  /** FAT image with EFI/BOOT/BOOTX64.EFI. */
  espImage: string;
}

/** YYYYMMDDhhmmsscc in GMT, the form xorriso's --modification-date= wants. */
export function isoDateString(epoch: number): string {
  const d = new Date(epoch * 1000);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}00`;
}

/** An RFC 4122-shaped (version 4 bits) GUID derived from a seed, so rebuilds get the same one. */
export function seedGuid(seed: string): string {
  const h = createHash('sha256').update(`guid:${seed}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** xorriso graft-point syntax treats `=` and `\` specially in both halves. */
export function escapeGraftPath(p: string): string {
  return p.replace(/[\\=]/g, (c) => `\\${c}`);
}

/** argv for `xorriso -as mkisofs` producing one BIOS + UEFI hybrid image. */
export function xorrisoArgv(l: IsoLayout): string[] {
  const date = isoDateString(l.epoch);
  const grafts = [...l.grafts].sort((a, b) => (a.isoPath < b.isoPath ? -1 : a.isoPath > b.isoPath ? 1 : 0));
  return [
    // -no_rc first: a user's ~/.xorrisorc must not change the image.
    'xorriso',
    '-no_rc',
    '-as',
    'mkisofs',
    '-o',
    l.out,
    '-iso-level',
    '3',
    '-full-iso9660-filenames',
    '-joliet',
    '-joliet-long',
    '-rational-rock',
    '-volid',
    l.label,
    '-appid',
    'RAMFORGE',
    '-publisher',
    'RAMFORGE',
    // Fixed owners and modes: host umask and file modes must not leak into the image.
    '-uid',
    '0',
    '-gid',
    '0',
    '-file-mode',
    '0444',
    '-dir-mode',
    '0555',
    // Fixed dates (volume descriptors, boot catalog, every file) and GUIDs.
    `--modification-date=${date}`,
    '--set_all_file_dates',
    `=${l.epoch}`,
    '--gpt_disk_guid',
    l.diskGuid,
    // BIOS: ISOLINUX via El Torito (CD) and the isohybrid MBR (USB stick).
    '-eltorito-boot',
    ISO_PATHS.isolinuxBin,
    '-eltorito-catalog',
    ISO_PATHS.bootCatalog,
    '-no-emul-boot',
    '-boot-load-size',
    '4',
    '-boot-info-table',
    '-isohybrid-mbr',
    l.isohybridMbr,
    '--mbr-force-bootable',
    '-partition_offset',
    '16',
    // UEFI: the ESP appended as partition 2, also named as the El Torito EFI image.
    '-append_partition',
    '2',
    EFI_SYSTEM_PARTITION_GUID,
    l.espImage,
    '-eltorito-alt-boot',
    '-e',
    '--interval:appended_partition_2:all::',
    '-no-emul-boot',
    '-isohybrid-gpt-basdat',
    '-graft-points',
    `/=${escapeGraftPath(l.stageDir)}`,
    ...grafts.map((g) => `${escapeGraftPath(g.isoPath)}=${escapeGraftPath(g.source)}`),
  ];
}

export interface IsolinuxMenu {
  cmdline: string;
  timeoutSeconds: number;
}

/**
 * isolinux.cfg. SERIAL first so the menu and errors also reach COM1 (BMC
 * serial-over-LAN, qemu tests). TIMEOUT is in tenths of a second, and 0
 * means "wait forever" once a prompt shows, so 0 s is expressed as PROMPT 0
 * (boot at once unless Shift/Alt is held).
 */
export function renderIsolinuxConfig(m: IsolinuxMenu): string {
  const tenths = Math.round(m.timeoutSeconds * 10);
  return [
    'SERIAL 0 115200',
    'DEFAULT ramforge',
    `PROMPT ${tenths > 0 ? 1 : 0}`,
    `TIMEOUT ${tenths}`,
    'LABEL ramforge',
    `  KERNEL ${ISO_PATHS.kernel}`,
    `  APPEND initrd=${ISO_PATHS.initrd} ${m.cmdline}`,
    '',
  ].join('\n');
}
