/**
 * The software RAID layout as data (pure): which disks each logical disk
 * spans (physical_disks hints), the partition table and one partition per
 * member disk for every volume, and the mdadm --create command per volume.
 * The layout is IPA's (raid_utils.py and create_configuration):
 *
 * - every member disk gets a fresh label: GPT when the node boots UEFI or
 *   asks for disk_label=gpt, else msdos;
 * - the first RAID partition starts after room kept for the bootloader:
 *   551 MiB for UEFI (the 550 MiB ESP that install_bootloader adds on every
 *   member and mirrors), 8 MiB on GPT for BIOS (a bios_boot partition for
 *   GRUB's core image), 1 MiB on msdos (GRUB uses the gap after the MBR);
 * - partitions end on whole GiB as IPA's parted calls do: the first volume
 *   ends at size_gb GiB, the next one size_gb GiB later; MAX (always placed
 *   last) runs to the end of the disk;
 * - volume i is /dev/md<i> named volume_name (default md<i>), metadata 1.2
 *   (IPA's --metadata=1: superblock 4 KiB into each member), level 1+0 as
 *   mdadm's 10. Where /dev/md<i> is taken (an array kept by
 *   skip_block_devices, assembled under that name), the volume gets the
 *   lowest free /dev/mdN instead: IPA creates it under the taken name and
 *   mdadm fails.
 */
import { SoftwareRAIDError } from '../../errors.js';
import { partitionPath } from '../disks/disk-facts.js';
import { findDevicesByHints } from '../inventory/root-device.js';
import type { BlockDevice } from '../types.js';
import type { LogicalDisk } from './raid-config.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
/** IPA's ESP_SIZE_MIB (what DIB uses). */
export const ESP_SIZE_MIB = 550;
/** Sectors a GPT keeps at the end of the disk for its backup copy. */
const GPT_BACKUP_BYTES = 33 * 512;

export type TableType = 'gpt' | 'msdos';
export type BootMode = 'uefi' | 'bios';

/** A logical disk with the disks it spans (IPA's logical_disk['block_devices']). */
export interface PlacedLogicalDisk extends LogicalDisk {
  block_devices: string[];
}

/**
 * IPA's get_block_devices_for_raid: each physical_disks hint picks the first
 * matching disk not already picked for this volume; without hints a volume
 * spans every disk. Returns the disks involved (first-use order) and the
 * logical disks with their block_devices.
 */
export function placeLogicalDisks(devices: BlockDevice[], lds: LogicalDisk[]): { disks: string[]; logicalDisks: PlacedLogicalDisk[] } {
  const disks: string[] = [];
  const placed = lds.map((ld, i): PlacedLogicalDisk => {
    let matching: string[];
    if (ld.physical_disks?.length) {
      matching = [];
      for (const [j, hints] of ld.physical_disks.entries()) {
        let candidates: string[];
        try {
          candidates = findDevicesByHints(devices, hints).map((d) => d.name);
        } catch (e) {
          throw new SoftwareRAIDError(
            `logical_disks[${i}].physical_disks[${j}]: invalid device hints ${JSON.stringify(hints)}: ${(e as Error).message}`,
          );
        }
        if (!candidates.length) {
          throw new SoftwareRAIDError(
            `logical_disks[${i}].physical_disks[${j}]: No candidates for physical disk ${JSON.stringify(hints)} from the list ${devices.map((d) => d.name).join(', ')}`,
          );
        }
        const pick = candidates.find((c) => !matching.includes(c));
        if (!pick) {
          throw new SoftwareRAIDError(
            `logical_disks[${i}].physical_disks[${j}]: No candidates left for physical disk ${JSON.stringify(hints)} from the list ${candidates.join(', ')} after picking ${matching.join(', ')} for previous volumes`,
          );
        }
        matching.push(pick);
      }
    } else {
      matching = devices.map((d) => d.name);
    }
    for (const d of matching) if (!disks.includes(d)) disks.push(d);
    return { ...ld, block_devices: matching };
  });
  return { disks, logicalDisks: placed };
}

/** Where the first RAID partition starts, in bytes (IPA's calculate_raid_start). */
export function raidStartBytes(bootMode: BootMode, table: TableType): number {
  if (bootMode === 'uefi') return (ESP_SIZE_MIB + 1) * MiB;
  return table === 'gpt' ? 8 * MiB : MiB;
}

export interface PlannedPartition {
  device: string;
  /** The partition device, e.g. /dev/sda1, /dev/nvme0n1p2. */
  path: string;
  /** parted's units as IPA passes them: "551MiB", "10GiB", "-1" (end of disk). */
  start: string;
  end: string;
  argv: string[];
}

export interface PlannedArray {
  md: string;
  name: string;
  level: string;
  components: string[];
  isRootVolume: boolean | undefined;
  argv: string[];
}

export interface RaidPlan {
  table: TableType;
  bootMode: BootMode;
  disks: string[];
  labels: string[][];
  partitions: PlannedPartition[];
  arrays: PlannedArray[];
}

/** mdadm's name for an Ironic RAID level. */
export const mdadmLevel = (level: string): string => (level === '1+0' ? '10' : level);

/** IPA's create_raid_device command line. */
export function mdadmCreateArgv(md: string, level: string, name: string, components: string[], metadata = '1'): string[] {
  return [
    'mdadm',
    '--create',
    md,
    '--force',
    '--run',
    `--metadata=${metadata}`,
    '--level',
    mdadmLevel(level),
    '--name',
    name,
    '--raid-devices',
    String(components.length),
    ...components,
  ];
}

/**
 * The whole layout. `sizes` maps each disk to its size in bytes; a volume
 * that does not fit is refused here, naming the logical disk, rather than
 * by parted halfway through.
 */
export function planSoftwareRaid(
  placed: PlacedLogicalDisk[],
  disks: string[],
  o: { table: TableType; bootMode: BootMode; sizes: Record<string, number>; usedMd?: readonly string[] },
): RaidPlan {
  const taken = new Set(o.usedMd ?? []);
  const mdFor = (index: number): string => {
    let n = index;
    if (taken.has(`/dev/md${n}`)) for (n = 0; taken.has(`/dev/md${n}`); n++);
    taken.add(`/dev/md${n}`);
    return `/dev/md${n}`;
  };
  // MAX goes last, so the fixed sizes are laid out first (IPA reorders the same way).
  const ordered = [...placed.filter((ld) => ld.size_gb !== 'MAX'), ...placed.filter((ld) => ld.size_gb === 'MAX')];
  const first = raidStartBytes(o.bootMode, o.table);
  const startLabel = `${first / MiB}MiB`;
  /** Per disk: where the next partition starts (GiB, or null for "the first one": startLabel) and how many it has. */
  const cursor = new Map<string, { endGiB: number | null; count: number }>(disks.map((d) => [d, { endGiB: null, count: 0 }]));
  const partitions: PlannedPartition[] = [];
  const arrays: PlannedArray[] = [];
  ordered.forEach((ld, index) => {
    const at = `logical_disks[${placed.indexOf(ld)}]`;
    const components: string[] = [];
    for (const device of ld.block_devices) {
      const c = cursor.get(device)!;
      const start = c.endGiB === null ? startLabel : `${c.endGiB}GiB`;
      let end: string;
      const usable = (o.sizes[device] ?? 0) - (o.table === 'gpt' ? GPT_BACKUP_BYTES : 0);
      if (ld.size_gb === 'MAX') {
        end = '-1';
        const from = c.endGiB === null ? first : c.endGiB * GiB;
        if (usable - from < MiB) {
          throw new SoftwareRAIDError(`${at}.size_gb: MAX leaves no space on ${device}: the volumes before it use the whole disk`);
        }
      } else {
        const endGiB = (c.endGiB ?? 0) + ld.size_gb;
        if (endGiB * GiB > usable) {
          throw new SoftwareRAIDError(
            `${at}.size_gb: ${ld.size_gb} GiB does not fit on ${device} (${(usable / GiB).toFixed(2)} GiB, ${start} already used); lower size_gb or use "MAX"`,
          );
        }
        c.endGiB = endGiB;
        end = `${endGiB}GiB`;
      }
      c.count++;
      const path = partitionPath(device, c.count);
      components.push(path);
      partitions.push({ device, path, start, end, argv: ['parted', device, '-s', '-a', 'optimal', '--', 'mkpart', 'primary', start, end] });
    }
    const md = mdFor(index);
    const name = typeof ld.volume_name === 'string' ? ld.volume_name : `md${index}`;
    arrays.push({
      md,
      name,
      level: ld.raid_level,
      components,
      isRootVolume: ld.is_root_volume,
      argv: mdadmCreateArgv(md, ld.raid_level, name, components),
    });
  });
  return {
    table: o.table,
    bootMode: o.bootMode,
    disks,
    labels: disks.map((d) => ['parted', d, '-s', '--', 'mklabel', o.table]),
    partitions,
    arrays,
  };
}

/** The disk of a partition: /dev/sda1 → /dev/sda, /dev/nvme0n1p2 → /dev/nvme0n1 (IPA's extract_device). */
export function diskOfPartition(part: string): string | null {
  const p = /^(\/dev\/.*\d)p\d+$/.exec(part) ?? /^(\/dev\/\D+?)\d+$/.exec(part);
  return p ? p[1]! : null;
}

/** Members of an array from `mdadm --detail` (every /dev/... after the first line, as IPA reads it). */
export function parseMdadmDetailDevices(stdout: string): string[] {
  const out: string[] = [];
  for (const line of stdout.split('\n').slice(1)) {
    if (/Events|Name/.test(line)) continue;
    for (const m of line.matchAll(/\/dev\/[\w/]+/g)) if (!out.includes(m[0])) out.push(m[0]);
  }
  return out;
}

/** The volume name of `mdadm --detail`/`--examine` output ("Name : host:root  (local to host host)" → "root"). */
export function parseMdadmName(stdout: string): string | null {
  const line = stdout.split('\n').find((l) => /^\s*Name\s*:/.test(l));
  if (!line) return null;
  const value = line.slice(line.indexOf(':') + 1).trim();
  const name = value.includes(':') ? value.slice(value.indexOf(':') + 1) : value;
  return name.split(' ')[0] || null;
}

/** node.properties.skip_block_devices entries that name a RAID volume (IPA's get_skip_list_from_node_for_raids). */
export function readSkipVolumeNames(properties: Record<string, unknown> | undefined): string[] {
  const list = properties?.skip_block_devices;
  if (!Array.isArray(list)) return [];
  return list
    .filter(
      (e): e is Record<string, unknown> =>
        typeof e === 'object' && e !== null && typeof (e as Record<string, unknown>).volume_name === 'string',
    )
    .map((e) => String(e.volume_name));
}

/** IPA's get_partition_table_type_from_specs: gpt for UEFI, else capabilities disk_label (instance_info first), default msdos. */
export function partitionTableType(
  node: { instance_info?: Record<string, unknown>; properties?: Record<string, unknown> },
  bootMode: BootMode,
): TableType {
  if (bootMode === 'uefi') return 'gpt';
  const label = readCapability(node.instance_info, 'disk_label') ?? readCapability(node.properties, 'disk_label') ?? 'msdos';
  return label === 'gpt' ? 'gpt' : 'msdos';
}

/** IPA's get_node_boot_mode: secure boot → uefi, else deploy_boot_mode / boot_mode capability / driver_internal_info, else the ramdisk's. */
export function nodeBootMode(
  node: { instance_info?: Record<string, unknown>; properties?: Record<string, unknown>; driver_internal_info?: Record<string, unknown> },
  ramdiskMode: BootMode,
): BootMode {
  const secure = (v: string | undefined) => v !== undefined && ['true', '1', 'yes', 'on'].includes(v.toLowerCase());
  if (secure(readCapability(node.instance_info, 'secure_boot')) || secure(readCapability(node.properties, 'secure_boot'))) return 'uefi';
  const mode = String(
    node.instance_info?.deploy_boot_mode ??
      readCapability(node.properties, 'boot_mode') ??
      node.driver_internal_info?.deploy_boot_mode ??
      ramdiskMode,
  ).toLowerCase();
  return mode === 'uefi' || mode === 'bios' ? mode : ramdiskMode;
}

/** A capability from an object's `capabilities`: a dict, a JSON text of one (as Nova stores instance_info's), or "k1:v1,k2:v2" (IPA's parse_capabilities). */
export function readCapability(o: Record<string, unknown> | undefined, key: string): string | undefined {
  let caps = o?.capabilities;
  if (typeof caps === 'string' && caps.trim().startsWith('{')) {
    try {
      caps = JSON.parse(caps) as unknown;
    } catch {
      /* not JSON: the k:v form below */
    }
  }
  if (caps && typeof caps === 'object' && !Array.isArray(caps)) {
    const v = (caps as Record<string, unknown>)[key];
    return v === undefined || v === null ? undefined : String(v);
  }
  if (typeof caps !== 'string') return undefined;
  for (const pair of caps.split(',')) {
    const i = pair.indexOf(':');
    if (i > 0 && pair.slice(0, i).trim() === key) return pair.slice(i + 1).trim();
  }
  return undefined;
}
