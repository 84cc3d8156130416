/**
 * What is on the disks now: md arrays (lsblk), their members and holder
 * disks (mdadm --detail, as IPA's get_holder_disks and
 * _get_actual_component_devices read it), their volume names.
 */
import { access, realpath } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { ProgramRunner } from '../../util/exec.js';
import { diskOfPartition, parseMdadmDetailDevices, parseMdadmName } from './plan.js';

export interface MdDevice {
  /** /dev/md0 */
  name: string;
  /** lsblk TYPE: raid1, raid10, ... (md for a partition of an array or an inactive one). */
  type: string;
}

/** Every md device lsblk lists (arrays, partitions on arrays, inactive arrays), in kernel order, once each. */
export async function listMdDevices(run: ProgramRunner): Promise<MdDevice[]> {
  // -a: an inactive (broken) array has size 0, which lsblk hides without it (IPA's _scan_raids lists with -a too).
  const { stdout } = await run(['lsblk', '-J', '-l', '-p', '-a', '-o', 'NAME,TYPE'], { okCodes: [0, 32, 64] });
  let rows: Array<{ name?: string; type?: string }> = [];
  try {
    rows = (JSON.parse(stdout || '{}') as { blockdevices?: typeof rows }).blockdevices ?? [];
  } catch {
    rows = [];
  }
  const out: MdDevice[] = [];
  for (const r of rows) {
    const type = r.type ?? '';
    if (!r.name || !(type.startsWith('raid') || type === 'md' || type === 'linear')) continue;
    if (!out.some((o) => o.name === r.name)) out.push({ name: r.name, type });
  }
  return out;
}

/** The member partitions (or disks) of an array; [] when mdadm cannot read it (a partition of an array). */
export async function getComponentDevices(md: string, run: ProgramRunner): Promise<string[]> {
  try {
    return parseMdadmDetailDevices((await run(['mdadm', '--detail', md])).stdout).filter((d) => d !== md);
  } catch {
    return [];
  }
}

/**
 * The disks under an array's members (a whole-disk member is its own
 * holder). The kernel says which is which: /sys/class/block/<name>/partition
 * exists for a partition only, whose directory sits in its disk's. So
 * /dev/loop0 or /dev/mmcblk0 as a whole-disk member is its own holder (not
 * "/dev/loop"), as IPA checks for a whole disk first. A name sysfs does not
 * know falls back to the naming rules (diskOfPartition).
 */
export async function getHolderDisks(md: string, run: ProgramRunner, sysRoot = '/sys'): Promise<string[]> {
  const out: string[] = [];
  for (const c of await getComponentDevices(md, run)) {
    const disk = await holderOf(c, sysRoot);
    if (!out.includes(disk)) out.push(disk);
  }
  return out;
}

/** The disk a member device is on: itself for a whole disk. */
async function holderOf(dev: string, sysRoot: string): Promise<string> {
  const dir = `${sysRoot}/class/block/${basename(dev)}`;
  const real = await realpath(dir).catch(() => null);
  if (real !== null) {
    const isPartition = await access(`${dir}/partition`).then(
      () => true,
      () => false,
    );
    if (!isPartition) return dev;
    // A partition's sysfs directory is inside its disk's: .../block/loop0/loop0p1.
    const parent = basename(dirname(real));
    if (parent && parent !== 'block') return `${dirname(dev)}/${parent}`;
  }
  return /\d$/.test(dev) ? (diskOfPartition(dev) ?? dev) : dev;
}

/** The array's volume name (mdadm --name), or null. */
export async function getVolumeName(md: string, run: ProgramRunner): Promise<string | null> {
  try {
    return parseMdadmName((await run(['mdadm', '--detail', md])).stdout);
  } catch {
    return null;
  }
}

/** Is `dev` an md array mdadm can describe (IPA's is_md_device)? */
export async function isMdDevice(dev: string, run: ProgramRunner): Promise<boolean> {
  if (!/^\/dev\/md/.test(dev)) return false;
  return run(['mdadm', '--detail', dev]).then(
    () => true,
    () => false,
  );
}

/** Does this device carry an md superblock? (mdadm --examine exits non-zero when not.) */
export async function hasMdSuperblock(dev: string, run: ProgramRunner): Promise<boolean> {
  return run(['mdadm', '--examine', dev]).then(
    () => true,
    () => false,
  );
}
