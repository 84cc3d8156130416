/**
 * The mount table as the kernel lists it in /proc/mounts: one line per mount,
 * "device mount-point type options 0 0", with space, tab, newline and
 * backslash in the first two fields written as octal escapes (\040 ...).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface MountEntry {
  device: string;
  mountPoint: string;
  fsType: string;
}

const decodeOctal = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/** Entries of /proc/mounts text, escapes decoded; malformed lines left out. */
export function parseProcMounts(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const [device, mountPoint, fsType] = line.trim().split(/\s+/);
    if (device && mountPoint && fsType) out.push({ device: decodeOctal(device), mountPoint: decodeOctal(mountPoint), fsType });
  }
  return out;
}

/** `<root>/proc/mounts` parsed (root: '/' on the ramdisk, a fixture tree in unit tests); none when unreadable. */
export async function readProcMounts(root: string): Promise<MountEntry[]> {
  return parseProcMounts(await readFile(join(root, 'proc/mounts'), 'utf8').catch(() => ''));
}
