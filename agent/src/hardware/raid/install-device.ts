/**
 * The install device when the node has a software RAID. IPA returns the
 * volume created with is_root_volume=true, drops volumes created with
 * is_root_volume=false (and their disks) from the candidates, and otherwise
 * relies on the md device being the smallest disk >= 4 GiB. That last part
 * picks a member disk (and destroys the array) when the root volume is
 * smaller than 4 GiB or bigger than a spare disk, so here, when the node's
 * target_raid_config asks for software RAID and no root device hints are
 * given, the first array (md0: the first logical disk, which
 * validation made RAID-1) is the install device whatever its size.
 * Arrays whose volume_name is on skip_block_devices are never candidates
 * (IPA's list_block_devices_check_skip_list), for any of these rules.
 */
import type { Log } from '../../util/log.js';
import type { ProgramRunner } from '../../util/exec.js';
import { readRootDeviceHints } from '../inventory/root-device.js';
import type { BlockDevice, Node } from '../types.js';
import { getComponentDevices, getHolderDisks, getVolumeName } from './md-devices.js';
import { isSoftwareRaidConfig } from './raid-config.js';
import { filterRaidSkipList } from './software-raid.js';

const ARRAY = /^\/dev\/md\d+$/;

export interface RaidInstallChoice {
  /** The md device to install on, or null: choose among `candidates` as usual. */
  device: string | null;
  /** The disks left for the usual choice (volumes marked is_root_volume=false and their members removed). */
  candidates: BlockDevice[];
}

export async function chooseRaidInstallDevice(
  offered: BlockDevice[],
  node: Node | undefined,
  rootVolumes: Readonly<Record<string, boolean>>,
  run: ProgramRunner,
  log?: Log,
): Promise<RaidInstallChoice> {
  // IPA's list_block_devices_check_skip_list: an array kept by a skip_block_devices volume_name is never a candidate.
  const disks = await filterRaidSkipList(offered, node ?? {}, run, false);
  const kept = offered.filter((d) => !disks.includes(d)).map((d) => d.name);
  if (kept.length) log?.info(`software RAID: ${kept.join(', ')} kept by skip_block_devices, not an install device candidate`);
  const present = new Set(disks.map((d) => d.name));
  const hints = readRootDeviceHints(node);
  for (const [md, isRoot] of Object.entries(rootVolumes)) {
    if (isRoot && present.has(md)) {
      if (hints)
        log?.warn(`both root device hints ${JSON.stringify(hints)} and a root volume (${md}) in the target RAID config: using ${md}`);
      return { device: md, candidates: disks };
    }
  }
  let candidates = disks;
  for (const [md, isRoot] of Object.entries(rootVolumes)) {
    if (isRoot !== false) continue;
    const drop = new Set([md, ...(await getHolderDisks(md, run)), ...(await getComponentDevices(md, run))]);
    candidates = candidates.filter((d) => !drop.has(d.name));
  }
  if (hints) return { device: null, candidates };
  const wantsRaid =
    isSoftwareRaidConfig(node?.target_raid_config) ||
    isSoftwareRaidConfig(node?.driver_internal_info?.target_raid_config) ||
    Object.keys(rootVolumes).length > 0;
  if (!wantsRaid) return { device: null, candidates };
  let arrays = candidates
    .map((d) => d.name)
    .filter((n) => ARRAY.test(n))
    .sort((a, b) => Number(a.slice(7)) - Number(b.slice(7)));
  // A later boot knows the volumes marked is_root_volume: false only by name: those arrays and their disks are out.
  const excluded = new Set(notRootVolumeNames(node?.target_raid_config));
  if (excluded.size) {
    const out: string[] = [];
    for (const md of arrays) {
      if (!excluded.has((await getVolumeName(md, run)) ?? '')) continue;
      out.push(md);
      const drop = new Set([md, ...(await getHolderDisks(md, run)), ...(await getComponentDevices(md, run))]);
      candidates = candidates.filter((d) => !drop.has(d.name));
    }
    arrays = arrays.filter((md) => !out.includes(md));
  }
  if (!arrays.length) return { device: null, candidates };
  const want = rootVolumeName(node?.target_raid_config);
  if (arrays.length > 1 && want) {
    for (const md of arrays) {
      if ((await getVolumeName(md, run)) === want) {
        log?.info(`software RAID: installing on ${md} (volume ${want}, the root volume of target_raid_config)`);
        return { device: md, candidates };
      }
    }
  }
  log?.info(`software RAID: installing on ${arrays[0]} (the first array)`);
  return { device: arrays[0]!, candidates };
}

/**
 * The mdadm name the root volume of a target_raid_config gets: the logical
 * disk marked is_root_volume, else the first; its volume_name, else md<i>
 * where i is its place once MAX is moved last (as plan.ts numbers arrays).
 * Arrays assembled in a later boot are /dev/md127, /dev/md126...: the name is
 * what still tells them apart.
 */
/** The mdadm names of the logical disks marked is_root_volume: false (named as rootVolumeName names them). */
export function notRootVolumeNames(config: unknown): string[] {
  const lds = (config as { logical_disks?: unknown } | undefined)?.logical_disks;
  if (!Array.isArray(lds)) return [];
  const list = lds as Array<Record<string, unknown>>;
  return list.filter((ld) => ld.is_root_volume === false).map((ld) => volumeNameOf(list, ld));
}

/** volume_name, else md<i> where i is the place once MAX is moved last (as plan.ts numbers arrays). */
function volumeNameOf(list: Array<Record<string, unknown>>, ld: Record<string, unknown>): string {
  if (typeof ld.volume_name === 'string') return ld.volume_name;
  const ordered = [...list.filter((l) => l.size_gb !== 'MAX'), ...list.filter((l) => l.size_gb === 'MAX')];
  return `md${ordered.indexOf(ld)}`;
}

export function rootVolumeName(config: unknown): string | null {
  const lds = (config as { logical_disks?: unknown } | undefined)?.logical_disks;
  if (!Array.isArray(lds) || !lds.length) return null;
  const list = lds as Array<Record<string, unknown>>;
  // Never one marked is_root_volume: false (IPA leaves those and their disks out of the install device).
  const root = list.find((ld) => ld.is_root_volume === true) ?? list.find((ld) => ld.is_root_volume !== false);
  return root ? volumeNameOf(list, root) : null;
}
