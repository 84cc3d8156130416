/**
 * UEFI NVRAM entries for an installed image, after IPA's efi_utils.manage_uefi:
 * find the ESP, look for the image's bootloader on it (BOOTX64.CSV first, then
 * shim, then grub, then the removable-media fallback \EFI\BOOT\BOOTX64.EFI),
 * drop the NVRAM entries that carry the same label and add one per loader.
 */
import { mkdtemp, readdir, readFile, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DeviceNotFound } from '../errors.js';
import type { ProgramRunner } from '../util/exec.js';
import { listPartitions } from '../hardware/disks/disk-facts.js';

export const ESP_TYPES = ['c12a7328-f81f-11d2-ba4b-00a0c93ec93b', '0xef'];
const LOADERS = ['shimx64.efi', 'grubx64.efi', 'shimaa64.efi', 'grubaa64.efi'];
/** The firmware's removable-media path: an image whose only loader is this still boots (issue 11). */
/** The removable-media fallback loader this machine's firmware runs (UEFI spec §3.5.1.1); another architecture's is no bootloader here. */
export const fallbackLoaderOf = (arch: string): string => (arch === 'arm64' ? 'bootaa64.efi' : 'bootx64.efi');

export interface EfiLoader {
  path: string;
  label: string;
}

export async function probe(part: string, tag: string, run: ProgramRunner): Promise<string> {
  return (await run(['blkid', '-p', '-o', 'value', '-s', tag, part], { okCodes: [0, 2] })).stdout.trim().toLowerCase();
}

/** The partition with this filesystem or partition UUID, else (uuid null) the ESP by type. */
export async function findPartition(dev: string, uuid: string | null, run: ProgramRunner): Promise<string | null> {
  for (const p of await listPartitions(dev, run)) {
    if (uuid) {
      if ([await probe(p, 'UUID', run), await probe(p, 'PART_ENTRY_UUID', run)].includes(uuid.toLowerCase())) return p;
    } else if (ESP_TYPES.includes(await probe(p, 'PART_ENTRY_TYPE', run))) return p;
  }
  return null;
}

/** The ESP: the recorded UUID first, then the partition type (a whole-disk image's own ESP); DeviceNotFound when there is none. */
export async function findEsp(dev: string, espUuid: string | null, run: ProgramRunner): Promise<string> {
  const esp = (espUuid ? await findPartition(dev, espUuid, run) : null) ?? (await findPartition(dev, null, run));
  if (esp) return esp;
  throw new DeviceNotFound(
    `No EFI system partition on ${dev}${espUuid ? ` (none with UUID ${espUuid})` : ''}: the node boots in UEFI mode, so the image ` +
      'must carry an ESP (GPT type EF00 holding \\EFI\\...\\*.efi). Use a UEFI-capable whole-disk image, a partition image, ' +
      'or deploy in BIOS mode (capabilities boot_mode:bios).',
  );
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out.sort();
}

const base = (f: string): string => f.slice(f.lastIndexOf('/') + 1).toLowerCase();

/** Bootloaders on a mounted ESP, as \EFI\... paths: shim's CSV, else shim/grub, else the EFI/BOOT fallback. */
export async function findEfiBootloaders(espRoot: string, arch: string = process.arch): Promise<EfiLoader[]> {
  const all = await walk(espRoot);
  const isFallbackDir = (f: string): boolean => /\/efi\/boot\//i.test(`/${relative(espRoot, f)}`);
  const files = all.filter((f) => !isFallbackDir(f));
  const toEfi = (f: string): string => `\\${relative(espRoot, f).split('/').join('\\')}`;
  const csv = files.filter((f) => /^boot(x64|aa64)\.csv$/.test(base(f)));
  if (csv.length) {
    // shim's BOOT<arch>.CSV: UTF-16 "loader,label,options,comment" naming a file in the same directory.
    const out: EfiLoader[] = [];
    for (const c of csv) {
      const raw = await readFile(c);
      const text = decodeShimCsv(raw);
      const [loader, label] = text.trim().split(',');
      if (loader && label) out.push({ path: toEfi(join(c, '..', loader.trim())), label: label.trim() });
    }
    if (out.length) return out;
  }
  for (const name of LOADERS) {
    const hit = files.filter((f) => base(f) === name);
    if (hit.length) return hit.map((f, i) => ({ path: toEfi(f), label: `ironic${i + 1}` }));
  }
  // Only this architecture's: with BOOTAA64.EFI and BOOTX64.EFI both there, an x86 node got an entry for the ARM one.
  const fallback = all.filter((f) => isFallbackDir(f) && base(f) === fallbackLoaderOf(arch));
  return fallback.slice(0, 1).map((f) => ({ path: toEfi(f), label: 'ironic1' }));
}

export interface BootRecord {
  num: string;
  label: string;
  path: string;
}

/** `efibootmgr -v` lines "Boot0003* label<ws>HD(...)/File(...)" (IPA's _ENTRY_LABEL). */
export function parseBootRecords(text: string): BootRecord[] {
  const re = /^Boot([0-9a-fA-F]{4})\*?\s+(.*?)\s+((?:BBS|HD|FvFile|FvVol|PciRoot|VenMsg|VenHw|UsbClass)\(.*)$/;
  const out: BootRecord[] = [];
  for (const line of text.split('\n')) {
    const m = re.exec(line.trimEnd());
    if (m) out.push({ num: m[1]!, label: m[2]!, path: m[3]! });
  }
  return out;
}

/** Where an NVRAM entry points: a disk, its ESP's partition number, and a suffix making the label unique per disk. */
export interface EntryTarget {
  disk: string;
  partNum: string;
  labelSuffix?: string;
}

/** One entry per (target, loader): the label, the disk and partition, the loader's \EFI\ path, in creation order. */
export function bootEntries(
  loaders: EfiLoader[],
  targets: EntryTarget[],
): Array<{ disk: string; partNum: string; label: string; path: string }> {
  return targets.flatMap((t) =>
    loaders.map((l) => ({
      disk: t.disk,
      partNum: t.partNum,
      label: t.labelSuffix ? `${l.label} ${t.labelSuffix}` : l.label,
      path: l.path,
    })),
  );
}

/** efibootmgr: each entry after removing those with its label (IPA's _run_efibootmgr). */
export async function writeBootEntries(loaders: EfiLoader[], targets: EntryTarget[], run: ProgramRunner): Promise<void> {
  for (const e of bootEntries(loaders, targets)) {
    for (const r of parseBootRecords((await run(['efibootmgr', '-v'])).stdout)) {
      if (r.label === e.label) await run(['efibootmgr', '-b', r.num, '-B']);
    }
    await run(['efibootmgr', '-v', '-c', '-d', e.disk, '-p', e.partNum, '-w', '-L', e.label, '-l', e.path]);
  }
}

/**
 * shim's BOOT<arch>.CSV is UTF-16LE, and Debian's (shim-signed) has no byte
 * order mark: a NUL as the second byte gives it away (an ASCII loader name
 * in UTF-8 never has one). Read as UTF-8, its NULs reached efibootmgr's argv.
 */
export function decodeShimCsv(raw: Buffer): string {
  if (raw[0] === 0xff && raw[1] === 0xfe) return raw.subarray(2).toString('utf16le');
  if (raw[0] === 0xfe && raw[1] === 0xff)
    return Buffer.from(raw.subarray(2, raw.length - (raw.length % 2)))
      .swap16()
      .toString('utf16le');
  if (raw.length >= 2 && raw[1] === 0) return raw.toString('utf16le');
  return raw.toString('utf8');
}

/**
 * Add NVRAM entries for the ESP's bootloaders, each after removing the entries
 * with the same label (a redeploy gives the ESP a new partition GUID, so an old
 * entry of that name points nowhere). False when the ESP holds no bootloader;
 * DeviceNotFound when the disk has no ESP.
 */
export async function manageUefi(dev: string, espUuid: string | null, run: ProgramRunner): Promise<boolean> {
  const esp = await findEsp(dev, espUuid, run);
  const partNum = (await probe(esp, 'PART_ENTRY_NUMBER', run)) || (/(\d+)$/.exec(esp)?.[1] ?? '1');
  const mnt = await mkdtemp(join(tmpdir(), 'rf-esp-'));
  try {
    await run(['mount', esp, mnt]);
    try {
      const loaders = await findEfiBootloaders(mnt);
      if (!loaders.length) return false;
      await writeBootEntries(loaders, [{ disk: dev, partNum }], run);
      return true;
    } finally {
      await run(['umount', mnt]).catch(() => undefined);
    }
  } finally {
    // rmdir, never a recursive rm: after a failed umount that would empty the ESP.
    await rmdir(mnt).catch(() => undefined);
  }
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
