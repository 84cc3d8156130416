/**
 * GRUB pieces for the UEFI half of the ISO: the early config embedded in
 * BOOTX64.EFI, the menu config that lives on the ISO filesystem, and the
 * grub-mkimage argv. All pure, so they are unit-tested without GRUB.
 */

/**
 * Modules linked into BOOTX64.EFI. We ship no module directory on the ISO,
 * so everything the configs use must be here: searching (file/label), the
 * filesystems GRUB meets on CD and USB (iso9660, fat, MBR and GPT), the
 * Linux loader and the script commands (normal gives `if`, `[`, menus).
 */
export const GRUB_EFI_MODULES = [
  'all_video',
  'boot',
  'cat',
  'configfile',
  'echo',
  'efi_gop',
  'efi_uga',
  'fat',
  'gzio',
  'halt',
  'iso9660',
  'linux',
  'ls',
  'normal',
  'part_gpt',
  'part_msdos',
  'reboot',
  'search',
  'search_fs_file',
  'search_label',
  'sleep',
  'test',
  'true',
] as const;

/** Where the menu config sits on the ISO filesystem. */
export const GRUB_CFG_ISO_PATH = '/boot/grub/grub.cfg';

export interface GrubSearch {
  /** Absolute ISO path of a file that only this build has (see makeIso). */
  idFile: string;
  /** ISO volume label, the fallback when the id file is not found. */
  label: string;
}

/**
 * The config embedded with `grub-mkimage -c`. GRUB runs it with the rescue
 * parser (the normal module is not active yet), which knows no `if`: every
 * line runs, and a failing command just prints an error. So it is written
 * as a fall-through: take the label match, then let the build's unique id
 * file override it (several ISOs may share the label). GRUB starts with
 * root on the ESP it was loaded from (or on the memdisk of a
 * grub-mkstandalone image), where /vmlinuz does not exist: hence the search.
 */
export function renderGrubEarlyConfig(s: GrubSearch): string {
  return [
    `search --no-floppy --set=root --label ${quoteGrubWord(s.label)}`,
    `search --no-floppy --set=root --file ${quoteGrubWord(s.idFile)}`,
    'set prefix=($root)/boot/grub',
    `configfile ($root)${GRUB_CFG_ISO_PATH}`,
    // Reached only when the ISO was not found (configfile boots the menu otherwise).
    `echo "ramforge: no device holds ${s.idFile} or has the label ${s.label}; is the ISO attached?"`,
    'sleep 30',
    '',
  ].join('\n');
}

export interface GrubMenu extends GrubSearch {
  kernelPath: string;
  initrdPath: string;
  /** Complete kernel command line, already including boot_method=vmedia. */
  cmdline: string;
  timeoutSeconds: number;
  title: string;
}

/**
 * The menu config on the ISO, run by the normal parser. It searches again
 * rather than trusting `root` from the early config, so it also works when
 * loaded some other way (another GRUB's configfile or chainloader).
 */
export function renderGrubConfig(m: GrubMenu): string {
  // No argument holds a blank (buildVmediaCmdline refuses quotes), so GRUB adds no quoting of its own.
  const args = m.cmdline.split(/\s+/).filter(Boolean).map(quoteGrubWord).join(' ');
  return [
    `set timeout=${m.timeoutSeconds}`,
    'set default=0',
    `search --no-floppy --set=isoroot --file ${quoteGrubWord(m.idFile)}`,
    'if [ -z "$isoroot" ]; then',
    `  search --no-floppy --set=isoroot --label ${quoteGrubWord(m.label)}`,
    'fi',
    'if [ -n "$isoroot" ]; then set root=$isoroot; fi',
    '',
    `menuentry ${quoteGrubWord(m.title)} {`,
    `  linux ${quoteGrubWord(m.kernelPath)}${args ? ` ${args}` : ''}`,
    `  initrd ${quoteGrubWord(m.initrdPath)}`,
    '}',
    '',
  ].join('\n');
}

/**
 * Quote one word for the GRUB script parser, which (like sh) expands `$`,
 * splits on blanks and treats `;`, `|`, `{`, quotes and backslashes
 * specially. Each kernel argument becomes one GRUB word; GRUB then joins
 * the words with single spaces into the Linux command line.
 */
export function quoteGrubWord(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export interface GrubMkimagePlan {
  /** Output path of the EFI binary. */
  out: string;
  /** File holding renderGrubEarlyConfig(). */
  earlyConfig: string;
  /** Module directory; default Debian's grub-efi-amd64-bin location. */
  moduleDir?: string;
  modules?: readonly string[];
}

/** argv for grub-mkimage. No memdisk: the early config finds the ISO by itself. */
export function grubMkimageArgv(p: GrubMkimagePlan): string[] {
  return [
    'grub-mkimage',
    '--format=x86_64-efi',
    `--directory=${p.moduleDir ?? '/usr/lib/grub/x86_64-efi'}`,
    `--config=${p.earlyConfig}`,
    '--prefix=/boot/grub',
    `--output=${p.out}`,
    ...[...(p.modules ?? GRUB_EFI_MODULES)].sort(),
  ];
}
