/**
 * UEFI NVRAM entries for an installed image, after IPA's efi_utils.manage_uefi:
 * find the ESP, look for the image's bootloader on it (BOOTX64.CSV first, then
 * shim, then grub), and add an efibootmgr entry unless one already points there.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { ProgramRunner } from '../util/exec.js';
import { listPartitions } from '../hardware/disks/disk-facts.js';

const ESP_TYPES = ['c12a7328-f81f-11d2-ba4b-00a0c93ec93b', '0xef'];
const LOADERS = ['shimx64.efi', 'grubx64.efi', 'shimaa64.efi', 'grubaa64.efi'];

export interface EfiLoader {
  path: string;
  label: string;
}

async function probe(part: string, tag: string, run: ProgramRunner): Promise<string> {
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

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

/** Bootloaders on a mounted ESP, as \EFI\... paths; EFI/BOOT (the removable-media fallback) is ignored. */
export async function findEfiBootloaders(espRoot: string): Promise<EfiLoader[]> {
  const files = (await walk(espRoot)).filter((f) => !/\/efi\/boot\//i.test(`/${relative(espRoot, f)}`));
  const toEfi = (f: string): string => `\\${relative(espRoot, f).split('/').join('\\')}`;
  const csv = files.filter((f) => /^boot(x64|aa64)\.csv$/i.test(f.slice(f.lastIndexOf('/') + 1)));
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
    const hit = files.filter((f) => f.slice(f.lastIndexOf('/') + 1).toLowerCase() === name).sort();
    if (hit.length) return hit.map((f, i) => ({ path: toEfi(f), label: `ironic${i + 1}` }));
  }
  return [];
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

/** Add NVRAM entries for the ESP's bootloaders; false when there is no ESP or no bootloader. */
export async function manageUefi(dev: string, espUuid: string | null, run: ProgramRunner): Promise<boolean> {
  const esp = await findPartition(dev, espUuid, run);
  if (!esp) return false;
  const partNum = (await probe(esp, 'PART_ENTRY_NUMBER', run)) || (/(\d+)$/.exec(esp)?.[1] ?? '1');
  const mnt = await mkdtemp(join(tmpdir(), 'rf-esp-'));
  await run(['mount', esp, mnt]);
  try {
    const loaders = await findEfiBootloaders(mnt);
    if (!loaders.length) return false;
    const existing = (await run(['efibootmgr', '-v'])).stdout.toLowerCase();
    for (const l of loaders) {
      // efibootmgr -v shows the path as File(\EFI\debian\shimx64.efi).
      if (existing.includes(`file(${l.path.toLowerCase()})`)) continue;
      await run(['efibootmgr', '-v', '-c', '-d', dev, '-p', partNum, '-w', '-L', l.label, '-l', l.path]);
    }
    return true;
  } finally {
    await run(['umount', mnt]).catch(() => undefined);
    await rm(mnt, { recursive: true, force: true });
  }
}
