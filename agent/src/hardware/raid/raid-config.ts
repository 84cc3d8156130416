/**
 * Ironic's target_raid_config for `controller: software`, checked the way
 * IPA's GenericHardwareManager.validate_configuration checks it (one or two
 * logical disks, the first RAID-1, one MAX at most, levels 0/1/1+0/5/6),
 * plus the checks IPA leaves to mdadm or to a Python TypeError: size_gb is a
 * positive integer or "MAX", and every volume has enough member disks for
 * its level. Every problem is collected and reported in one
 * SoftwareRAIDError whose parts name the field (logical_disks[1].raid_level).
 */
import { SoftwareRAIDError } from '../../errors.js';

export interface LogicalDisk {
  size_gb: number | 'MAX';
  raid_level: string;
  controller?: string;
  volume_name?: string;
  is_root_volume?: boolean;
  physical_disks?: Array<Record<string, unknown>>;
  [k: string]: unknown;
}

export interface RaidConfig {
  logical_disks: LogicalDisk[];
  [k: string]: unknown;
}

/** The levels IPA's SUPPORTED_SOFTWARE_RAID_LEVELS allows. */
export const SOFTWARE_RAID_LEVELS = ['0', '1', '1+0', '5', '6'] as const;

/** Fewest member disks mdadm needs for a level (RAID-5 and 6 as in IPA's checks; 0, 1 and 10 need two). */
export const MIN_MEMBERS: Readonly<Record<string, number>> = { '0': 2, '1': 2, '1+0': 2, '5': 3, '6': 4 };

/** Does the config ask for software RAID at all (any logical disk with controller "software")? */
export function isSoftwareRaidConfig(config: unknown): boolean {
  const lds = (config as { logical_disks?: unknown } | null | undefined)?.logical_disks;
  return Array.isArray(lds) && lds.some((ld) => (ld as { controller?: unknown } | null)?.controller === 'software');
}

export interface ValidateOptions {
  /** Node UUID, named in the message as IPA does. */
  nodeUuid?: string;
  /** How many disks a logical disk without physical_disks spans. */
  diskCount: number;
  /** Volume names of node.properties.skip_block_devices (then every volume needs a name). */
  skipVolumeNames?: readonly string[];
}

/** Throws SoftwareRAIDError listing every problem; returns the config typed. */
export function validateRaidConfig(config: unknown, o: ValidateOptions): RaidConfig {
  const fail = (errors: string[]): never => {
    throw new SoftwareRAIDError(`Could not validate Software RAID config for ${o.nodeUuid ?? 'the node'}: ${errors.join('; ')}`);
  };
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    fail([
      'raid_config must be an object with a logical_disks list (the node\'s target_raid_config, set with "baremetal node set --target-raid-config")',
    ]);
  }
  const lds = (config as { logical_disks?: unknown }).logical_disks;
  if (!Array.isArray(lds) || lds.length === 0) throw new SoftwareRAIDError('RAID config contains no logical disks');
  const errors: string[] = [];
  if (lds.length > 2) errors.push(`logical_disks: Software RAID configuration requires one or two logical disks, got ${lds.length}`);
  const names = new Set<string>();
  let roots = 0;
  let maxCount = 0;
  lds.forEach((raw, i) => {
    const at = `logical_disks[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      errors.push(`${at}: must be an object`);
      return;
    }
    const ld = raw as Record<string, unknown>;
    if (ld.controller !== 'software') {
      errors.push(`${at}.controller: Software RAID configuration requires all logical disks to have 'controller'='software'`);
    }
    const level = ld.raid_level;
    if (typeof level !== 'string' || !(SOFTWARE_RAID_LEVELS as readonly string[]).includes(level)) {
      errors.push(
        `${at}.raid_level: Software RAID configuration does not support RAID level ${JSON.stringify(level)} (supported: ${SOFTWARE_RAID_LEVELS.join(', ')})`,
      );
    } else if (i === 0 && level !== '1') {
      errors.push(`${at}.raid_level: Software RAID Configuration requires RAID-1 for the first logical disk, got ${level}`);
    }
    const size = ld.size_gb;
    if (size === 'MAX') maxCount++;
    else if (typeof size !== 'number' || !Number.isInteger(size) || size <= 0) {
      errors.push(`${at}.size_gb: must be a positive integer (GiB) or "MAX", got ${JSON.stringify(size)}`);
    }
    const name = ld.volume_name;
    if (name === undefined || name === null) {
      if (o.skipVolumeNames?.length) {
        errors.push(
          `${at}.volume_name: All logical disks are required to have a volume name specified as a volume name is mentioned in the property skip block devices.`,
        );
      }
    } else if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,32}$/.test(name)) {
      errors.push(`${at}.volume_name: must be 1-32 letters, digits, '.', '_' or '-' (mdadm --name), got ${JSON.stringify(name)}`);
    } else if (names.has(name)) {
      errors.push(`${at}.volume_name: Duplicate software RAID device name ${name} detected`);
    } else names.add(name);
    if (ld.is_root_volume === true && ++roots > 1) {
      errors.push(`${at}.is_root_volume: Software RAID configuration allows only one logical disk to be marked as is_root_volume`);
    }
    const pd = ld.physical_disks;
    let members = o.diskCount;
    if (pd !== undefined && pd !== null) {
      if (!Array.isArray(pd) || pd.length < 2) {
        errors.push(
          `${at}.physical_disks: The physical_disks parameter for software RAID must be a list with at least 2 items, each specifying a disk in the device hints format`,
        );
      } else if (pd.some((h) => typeof h !== 'object' || h === null || Array.isArray(h))) {
        errors.push(`${at}.physical_disks: The physical_disks parameter for software RAID must be a list of device hints (dictionaries)`);
      } else members = pd.length;
    }
    const need = typeof level === 'string' ? MIN_MEMBERS[level] : undefined;
    if (need !== undefined && members < need) {
      errors.push(
        `${at}.raid_level: Software RAID configuration is not possible for RAID level ${String(level)} with only ${members} block devices found (needs ${need})`,
      );
    }
  });
  if (maxCount > 1) errors.push(`logical_disks[*].size_gb: Software RAID can have only one RAID device with size 'MAX'`);
  if (errors.length) fail(errors);
  return config as RaidConfig;
}
