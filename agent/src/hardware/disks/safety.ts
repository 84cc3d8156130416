/**
 * What must not be erased (IPA's safety_check_block_device,
 * _is_virtual_media_device and _is_linux_raid_member): disks holding a
 * shared-disk or cluster filesystem are refused, the virtual-media floppy and
 * members of assembled software-RAID arrays are skipped (the array itself is
 * erased as a disk of its own).
 *
 * IPA skips a disk for any linux_raid_member signature. When no assembled
 * array holds it (a member kicked out of a RAID1, a superblock a tenant
 * wrote), nothing else erases those bytes, yet the step succeeds; here such a
 * stale member is erased (the wipe takes the superblock too) and its result
 * says so. If skip_block_devices keeps RAID volumes by name, a stale member
 * might belong to one that did not assemble: the step fails instead of
 * guessing.
 *
 * Where IPA is weaker this does better: IPA asks lsblk for the disk alone and
 * without the FSTYPE column, so a GFS2 on a partition (or on the disk, when
 * udev has not probed it) passes. Here every signature on the disk and on each
 * of its partitions is read with wipefs (a direct probe, no udev cache, and it
 * lists every signature, not just the one blkid would pick), and the
 * partition types come from lsblk.
 */
import { realpath } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ProgramRunner } from '../../util/exec.js';
import { describeDevice, isVmediaCandidate, type DeviceFacts } from './vmedia-device.js';

/** Filesystem types (as libblkid names them, lower-cased) that are shared between hosts. IPA guards gfs2. */
export const GUARDED_FILESYSTEMS: Readonly<Record<string, string>> = {
  gfs2: 'Red Hat Global File System 2',
  gfs: 'Red Hat Global File System',
  ocfs2: 'Oracle Cluster File System 2',
  ocfs: 'Oracle Cluster File System',
  vmfs: 'VMware VMFS',
  vmfs_volume_member: 'VMware VMFS volume member',
};

/** Partition types IPA guards (GPT GUIDs lower-cased, MBR ids as lsblk prints them). */
export const GUARDED_PARTITION_TYPES: Readonly<Record<string, string>> = {
  '37affc90-ef7d-4e96-91c3-2d7ae055b174': 'IBM GPFS Partition',
  'aa31e02a-400f-11db-9590-000c2911d1b8': 'VMware VMFS Partition (GPT)',
  '0xfb': 'VMware VMFS Partition (MBR)',
};

/** The label Ironic gives the virtual-media floppy (IPA looks at /dev/disk/by-label/ir-vfd-dev). */
export const VMEDIA_LABEL = 'ir-vfd-dev';

/** One block device of a disk's tree (the disk itself, a partition, an md array on top). */
export interface DiskEntry {
  dev: string;
  /** lsblk TYPE: disk, part, raid1, ... */
  type: string;
  /** lsblk PARTTYPE, lower-cased ("0x83", a GPT GUID). */
  partType: string | null;
  /** Every signature wipefs finds on the device, lower-cased ("gfs2", "linux_raid_member"). */
  signatures: string[];
  /** Their labels, as written. */
  labels?: string[];
  /** lsblk TRAN ("usb", "sata", ...; absent when lsblk gives none) and SIZE in bytes, as read for the disk. */
  tran?: string;
  size?: number;
  /** The device lsblk lists it under (a partition's disk, an array's member). */
  parent?: string;
}

/**
 * `note`: what the step result adds about the disk (a label that did not make it virtual media).
 * `otherPartitions` of a skipped RAID member: its partitions in no array
 * (no md device on them, no linux_raid_member signature), which the metadata
 * steps still wipe, as IPA's _list_erasable_devices lists partitions too.
 */
export type DiskVerdict =
  | { kind: 'erase'; note?: string }
  | { kind: 'skip'; reason: string; otherPartitions?: string[] }
  | { kind: 'protected'; device: string; what: string }
  /** Cannot be decided safely: the step fails with `reason` before any disk is touched. */
  | { kind: 'refuse'; reason: string };

interface LsblkNode {
  name?: string;
  type?: string;
  parttype?: string | null;
  tran?: string | null;
  /** A number with -b (a string from old lsblk). */
  size?: number | string | null;
  children?: LsblkNode[];
}

/** lsblk -J tree → flat list (disk first). Unparsable or empty output → just the disk. */
export function parseLsblkTree(stdout: string, disk: string): Array<Omit<DiskEntry, 'signatures'>> {
  let top: LsblkNode[] = [];
  try {
    top = (JSON.parse(stdout) as { blockdevices?: LsblkNode[] }).blockdevices ?? [];
  } catch {
    top = [];
  }
  const out: Array<Omit<DiskEntry, 'signatures'>> = [];
  const walk = (n: LsblkNode, parent?: string): void => {
    if (n.name && !out.some((e) => e.dev === n.name)) {
      const size = n.size === null || n.size === undefined || n.size === '' ? Number.NaN : Number(n.size);
      out.push({
        dev: n.name,
        type: n.type ?? '',
        partType: n.parttype ? n.parttype.toLowerCase() : null,
        ...(n.tran ? { tran: n.tran } : {}),
        ...(Number.isFinite(size) ? { size } : {}),
        ...(parent ? { parent } : {}),
      });
    }
    for (const c of n.children ?? []) walk(c, n.name);
  };
  top.forEach((n) => walk(n));
  if (!out.some((e) => e.dev === disk)) out.unshift({ dev: disk, type: 'disk', partType: null });
  return out;
}

/** wipefs --json output → signature types (empty output: none). */
export function parseWipefsTypes(stdout: string): string[] {
  return parseWipefs(stdout).signatures;
}

/** wipefs --json output → lower-cased types and the labels (empty output: none). */
export function parseWipefs(stdout: string): { signatures: string[]; labels: string[] } {
  if (!stdout.trim()) return { signatures: [], labels: [] };
  const list = (JSON.parse(stdout) as { signatures?: Array<{ type?: string; label?: string | null }> }).signatures ?? [];
  return {
    signatures: list.map((s) => String(s.type ?? '').toLowerCase()).filter(Boolean),
    labels: list.map((s) => s.label ?? '').filter(Boolean),
  };
}

/** The disk, its partitions and what lies on top, each with every signature found on it. */
export async function readDiskEntries(disk: string, run: ProgramRunner): Promise<DiskEntry[]> {
  const { stdout } = await run(['lsblk', '-J', '-b', '-p', '-o', 'NAME,TYPE,PARTTYPE,TRAN,SIZE', disk], { okCodes: [0, 32, 64] });
  const tree = parseLsblkTree(stdout, disk);
  const out: DiskEntry[] = [];
  for (const e of tree) {
    // md arrays and device-mapper targets on top are not this disk's bytes; their members are.
    if (e.dev !== disk && e.type !== 'part') {
      out.push({ ...e, signatures: [] });
      continue;
    }
    const w = await run(['wipefs', '--json', e.dev]);
    // lsblk takes PARTTYPE from udev's database: on a ramdisk without one (tinyipa) it is empty for every
    // partition, and the partition-type guards (GPFS, VMFS on MBR) would never see one. blkid reads the table.
    const partType = e.type === 'part' && e.partType === null ? await blkidPartType(e.dev, run) : e.partType;
    out.push({ ...e, partType, ...parseWipefs(w.stdout) });
  }
  return out;
}

/**
 * A partition's type from its table (`blkid -p`: a GPT type GUID, or an MBR type such as 0xfb), lower-cased; null
 * when blkid finds none. Only the partition table is probed (`-u nofilesystem,raid,crypto,other`: the leading "no" negates the whole list): two filesystem signatures on the
 * partition (an earlier tenant's leftovers) would make blkid give up with exit code 8 and print nothing.
 */
async function blkidPartType(dev: string, run: ProgramRunner): Promise<string | null> {
  const r = await run(['blkid', '-p', '-u', 'nofilesystem,raid,crypto,other', '-o', 'value', '-s', 'PART_ENTRY_TYPE', dev], {
    okCodes: [0, 2, 8],
  });
  const t = r.stdout.trim().toLowerCase();
  return t === '' ? null : t;
}

/** Where /dev/disk/by-label/ir-vfd-dev points (IPA's test; needs udev), or null. classifyDisk also reads the label itself. */
export async function findVirtualMediaDevice(byLabelDir = '/dev/disk/by-label'): Promise<string | null> {
  return realpath(`${byLabelDir}/${VMEDIA_LABEL}`).catch(() => null);
}

/**
 * An md array on top of the disk or one of its partitions (lsblk TYPE raid0,
 * raid1, raid10, raid4-6, linear). Not the disk's own partitions, whatever
 * their TYPE: util-linux before 2.33 gave an array's partitions TYPE md, so
 * `/dev/md127p1` must not make `/dev/md127` a member of itself. Inactive
 * arrays have no size and lsblk does not list them: their members read as
 * stale.
 */
function isMdHolder(disk: string, e: DiskEntry): boolean {
  if (e.dev === disk || e.type === 'part' || isPartitionOf(disk, e.dev)) return false;
  return e.type.startsWith('raid') || e.type === 'linear';
}

/** `dev` names a partition of `disk` (/dev/sda1, /dev/nvme0n1p2, /dev/md127p1). */
function isPartitionOf(disk: string, dev: string): boolean {
  return dev.startsWith(disk) && /^p?\d+$/.test(dev.slice(disk.length));
}

/**
 * Decide what to do with one disk. Order as in IPA: the virtual-media device
 * and members of assembled RAID arrays are skipped; any other disk holding a
 * guarded filesystem or partition type is protected unless `guard` is off.
 *
 * The virtual-media floppy is the disk itself labelled ir-vfd-dev (by the
 * by-label link, or without udev by the label wipefs reads), as IPA's
 * _is_virtual_media_device compares, and only when the disk can be virtual
 * media at all (a CD-ROM or a USB disk under 4 GiB, isVmediaCandidate). IPA
 * trusts the label alone, so a former tenant could label a local disk and
 * keep it from every erase step; here such a disk is erased like any other
 * and the verdict's note says why its label was not followed. A partition
 * with that label never spares its disk.
 *
 * A linux_raid_member signature with no md array on top is stale (the arrays
 * are assembled when the agent starts): the disk is erased and the note says
 * so, unless `keptRaidVolumes` (skip_block_devices volume names) is not
 * empty, when the member may belong to a kept volume that did not assemble
 * and the verdict is refuse.
 */
export function classifyDisk(
  disk: string,
  entries: DiskEntry[],
  o: { vmediaDevice: string | null; guard: boolean; keptRaidVolumes?: readonly string[] },
): DiskVerdict {
  const self = entries.find((e) => e.dev === disk);
  const labelled = o.vmediaDevice === disk || (self?.labels?.some((l) => l.toLowerCase() === VMEDIA_LABEL) ?? false);
  const notes: string[] = [];
  if (labelled) {
    const facts: DeviceFacts = {
      NAME: basename(disk),
      TYPE: self?.type ?? '',
      TRAN: self?.tran ?? '',
      SIZE: self?.size === undefined ? '' : String(self.size),
    };
    if (isVmediaCandidate(facts)) return { kind: 'skip', reason: `skipped (virtual media: ${disk} is labelled ${VMEDIA_LABEL})` };
    notes.push(`labelled ${VMEDIA_LABEL}, but not virtual media (${describeDevice(facts)}): erased like any other disk`);
  }
  const array = entries.find((e) => isMdHolder(disk, e));
  if (array) {
    const otherPartitions = entries
      .filter((e) => e.type === 'part' && isPartitionOf(disk, e.dev) && !e.signatures.includes('linux_raid_member'))
      .filter((p) => !entries.some((e) => e.parent === p.dev && isMdHolder(disk, e)))
      .map((p) => p.dev);
    const reason = `skipped (software RAID member of ${array.dev})`;
    if (!otherPartitions.length) return { kind: 'skip', reason };
    // Those partitions are wiped by the metadata steps: the guard applies to them (IPA checks each erasable device).
    const guarded = o.guard
      ? guardedEntry(
          disk,
          entries.filter((e) => otherPartitions.includes(e.dev)),
        )
      : undefined;
    return guarded ?? { kind: 'skip', reason, otherPartitions };
  }
  const stale = entries.filter((e) => e.signatures.includes('linux_raid_member')).map((e) => e.dev);
  if (stale.length) {
    const where = `linux_raid_member signature on ${stale.join(', ')}, in no assembled array`;
    if (o.keptRaidVolumes?.length) {
      return {
        kind: 'refuse',
        reason:
          `${disk}: ${where}, and skip_block_devices keeps the RAID volume(s) ${o.keptRaidVolumes.join(', ')}: ` +
          'it may be a member of a kept volume that did not assemble, so it is neither erased nor skipped; ' +
          'assemble that volume (mdadm --assemble) or remove the stale superblock (mdadm --zero-superblock), then run the step again',
      };
    }
    notes.push(`stale software RAID member (${where}): erased, superblock included`);
  }
  const erase: DiskVerdict = notes.length ? { kind: 'erase', note: notes.join('; ') } : { kind: 'erase' };
  if (!o.guard) return erase;
  return guardedEntry(disk, entries) ?? erase;
}

/** The first of `entries` holding a guarded filesystem or partition type, as a 'protected' verdict. */
function guardedEntry(disk: string, entries: DiskEntry[]): DiskVerdict | undefined {
  for (const e of entries) {
    for (const sig of e.signatures) {
      const what = GUARDED_FILESYSTEMS[sig];
      if (what) return { kind: 'protected', device: e.dev === disk ? disk : `${disk} (partition ${e.dev})`, what: `${what} (${sig})` };
    }
    const what = e.partType ? GUARDED_PARTITION_TYPES[e.partType] : undefined;
    if (what) return { kind: 'protected', device: e.dev === disk ? disk : `${disk} (partition ${e.dev})`, what };
  }
  return undefined;
}
