/** Small facts about a disk from sysfs/lsblk: size, read-only flag, partitions. */
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ProgramRunner } from '../../util/exec.js';

/** Kernel name of a device node ("/dev/disk/by-id/x" → "sda"). */
export async function getKernelName(dev: string): Promise<string> {
  return basename(await realpath(dev).catch(() => dev));
}

/** /sys/block/<k>/ro says whether the kernel refuses writes (write-protected media, ro loop). */
export async function isReadOnlyDevice(dev: string, sysRoot = '/sys'): Promise<boolean> {
  const k = await getKernelName(dev);
  const ro = await readFile(`${sysRoot}/class/block/${k}/ro`, 'utf8').catch(() => '0');
  return ro.trim() === '1';
}

/** Size in bytes: stat for a regular file, sysfs (512-byte units) for a block device, else blockdev. */
export async function getDeviceSize(dev: string, run: ProgramRunner): Promise<number> {
  const st = await stat(dev);
  if (st.isFile()) return st.size;
  const k = await getKernelName(dev);
  const sectors = await readFile(`/sys/class/block/${k}/size`, 'utf8').catch(() => '');
  if (/^\d+\s*$/.test(sectors)) return Number(sectors) * 512;
  const { stdout } = await run(['blockdev', '--getsize64', dev]);
  return Number(stdout.trim());
}

/** Partition device paths of `dev` (lsblk knows loop/nvme "p" naming) by partition number, [] for a regular file. */
export async function listPartitions(dev: string, run: ProgramRunner): Promise<string[]> {
  return (await lsblkPartitions(dev, run, false)).map((p) => p.path);
}

/** A partition and its PARTTYPE as lsblk shows it: a GPT type GUID, an MBR type such as 0x8e, or '' where it has none. */
export interface PartitionWithType {
  path: string;
  partType: string;
}

/** listPartitions with each partition's PARTTYPE. */
export async function listPartitionsWithType(dev: string, run: ProgramRunner): Promise<PartitionWithType[]> {
  return lsblkPartitions(dev, run, true);
}

async function lsblkPartitions(dev: string, run: ProgramRunner, withType: boolean): Promise<PartitionWithType[]> {
  if ((await stat(dev).catch(() => null))?.isFile()) return [];
  const columns = withType ? 'NAME,TYPE,PARTTYPE' : 'NAME,TYPE';
  const { stdout } = await run(['lsblk', '-lnpo', columns, dev], { okCodes: [0, 32, 64] });
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1] === 'part')
    .map((f) => ({ path: f[0]!, partType: f[2] ?? '' }))
    .sort((a, b) => byPartitionNumber(a.path, b.path));
}

/** The partition number in a partition's name (sda10, nvme0n1p3, md0p2, mapper/mpatha-part1). */
const partitionNumber = (name: string): number => Number(/(\d+)$/.exec(name)?.[1] ?? Number.MAX_SAFE_INTEGER);

/**
 * Partitions by number, as IPA's parted listings give them: lsblk lists a disk's partitions in sysfs order, which
 * follows the order they were created in (p2, p3, p1 on a disk whose first partition was added last).
 */
export const byPartitionNumber = (a: string, b: string): number => partitionNumber(a) - partitionNumber(b);

/** Partition N of a disk: "/dev/sda"+"1", "/dev/nvme0n1"+"p1", "/dev/loop0"+"p1". */
export function partitionPath(dev: string, n: number): string {
  return /\d$/.test(dev) ? `${dev}p${n}` : `${dev}${n}`;
}

export const isNvme = (dev: string): boolean => /\/nvme\d+n\d+$/.test(dev);
