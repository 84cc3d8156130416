/**
 * The raid interface's steps for software RAID (IPA's create_configuration,
 * delete_configuration, apply_configuration): plan.ts decides, this module
 * runs parted and mdadm through the ProgramRunner.
 */
import { SoftwareRAIDError } from '../../errors.js';
import { ExecError, isProgramMissing, type ProgramRunner } from '../../util/exec.js';
import type { Log } from '../../util/log.js';
import { destroyDiskMetadata } from '../disks/destroy-metadata.js';
import { getDeviceSize, listPartitions } from '../disks/disk-facts.js';
import type { BlockDevice, Node } from '../types.js';
import { getComponentDevices, getHolderDisks, getVolumeName, hasMdSuperblock, listMdDevices } from './md-devices.js';
import {
  nodeBootMode,
  partitionTableType,
  placeLogicalDisks,
  planSoftwareRaid,
  readSkipVolumeNames,
  type BootMode,
  type RaidPlan,
} from './plan.js';
import { isSoftwareRaidConfig, validateRaidConfig, type RaidConfig } from './raid-config.js';

export interface RaidContext {
  run: ProgramRunner;
  log: Log;
  /** Candidate member disks (the manager's list_block_devices: skip_block_devices already left out); md devices are ignored. */
  listDisks(): Promise<BlockDevice[]>;
  /** How the ramdisk booted, the fallback of the node's boot mode. */
  ramdiskBootMode: BootMode;
  /**
   * The agent's config.disks (an agent on a host, restricted to some loop
   * devices): arrays are then neither assembled by a scan nor touched unless
   * all their disks are in this list.
   */
  onlyDisks?: readonly string[];
  /** Removes a holder disk's partition table (default: the agent's metadata wipe, destroyDiskMetadata); unit tests fake it. */
  wipeDisk?(disk: string): Promise<void>;
}

/** What create reports besides the config: the arrays made and which is the root volume. */
export interface CreatedRaid {
  config: RaidConfig;
  plan: RaidPlan | null;
  /** md device → is_root_volume as given (true, false, or absent). */
  rootVolumes: Record<string, boolean>;
}

const isMdName = (name: string): boolean => /^\/dev\/md/.test(name);

/** Disks that may become members: not md devices themselves. */
async function memberCandidates(c: RaidContext): Promise<BlockDevice[]> {
  return (await c.listDisks()).filter((d) => !isMdName(d.name));
}

/** Validate only (IPA's validate_configuration), against the disks present. */
export async function validateConfiguration(config: unknown, node: Node, c: RaidContext): Promise<RaidConfig> {
  const disks = await memberCandidates(c);
  return validateRaidConfig(config, {
    nodeUuid: node.uuid,
    diskCount: disks.length,
    skipVolumeNames: readSkipVolumeNames(node.properties),
  });
}

/**
 * Build the software RAID of `config` (node.target_raid_config for
 * create_configuration, the step argument for apply_configuration).
 * A config without a software logical disk does nothing, as in IPA.
 */
export async function createSoftwareRaid(config: unknown, node: Node, c: RaidContext): Promise<CreatedRaid> {
  if (!config || (typeof config === 'object' && Object.keys(config).length === 0)) {
    c.log.info('software RAID: no target_raid_config, nothing to create');
    return { config: {} as RaidConfig, plan: null, rootVolumes: {} };
  }
  if (!isSoftwareRaidConfig(config)) {
    c.log.info('software RAID: no logical disk with controller "software", nothing to create');
    return { config: {} as RaidConfig, plan: null, rootVolumes: {} };
  }
  const valid = await validateConfiguration(config, node, c);
  const run = c.run;
  let logicalDisks = valid.logical_disks;

  // Arrays delete_configuration left because of skip_block_devices {volume_name} are not created again; any other array is in the way.
  const skipNames = readSkipVolumeNames(node.properties);
  const existing = await listArrays(c);
  let leftOut = 0;
  if (existing.length) {
    const toCreate = await logicalDisksToCreate(existing, logicalDisks, skipNames, c);
    leftOut = logicalDisks.length - toCreate.length;
    logicalDisks = toCreate;
    if (!logicalDisks.length) return { config: valid, plan: null, rootVolumes: {} };
  }

  const candidates = await memberCandidates(c);
  const { disks, logicalDisks: placed } = placeLogicalDisks(candidates, logicalDisks);
  const withParts: string[] = [];
  for (const d of disks) if ((await listPartitions(d, run).catch(() => [])).length) withParts.push(d);
  if (withParts.length) {
    // IPA skips this check when it left logical disks out, and then writes new partition tables over the kept volumes' disks.
    const why = leftOut
      ? `: the disks of volumes kept by skip_block_devices cannot take the other logical disks (give those physical_disks elsewhere)`
      : `: run the raid interface's delete_configuration step (or erase_devices_metadata) first`;
    throw new SoftwareRAIDError(`Partitions detected on devices ${withParts.join(', ')} during RAID config${why}`);
  }
  const bootMode = nodeBootMode(node, c.ramdiskBootMode);
  const table = partitionTableType(node, bootMode);
  const sizes: Record<string, number> = {};
  for (const d of disks) sizes[d] = candidates.find((x) => x.name === d)?.size || (await getDeviceSize(d, run));
  // Names of arrays still there (kept by skip_block_devices, or of the host itself with onlyDisks).
  const usedMd = (await listMdDevices(run)).map((d) => d.name);
  const plan = planSoftwareRaid(placed, disks, { table, bootMode, sizes, usedMd });
  c.log.info(`software RAID: ${plan.arrays.length} volume(s) on ${disks.join(', ')}, ${table} labels, ${bootMode} boot`);

  const step = async (argv: string[], what: string): Promise<void> => {
    try {
      await run(argv);
    } catch (e) {
      throw new SoftwareRAIDError(`${what}: ${(e as Error).message}`);
    }
  };
  for (const argv of plan.labels) await step(argv, `Failed to create partition table on ${argv[1]}`);
  for (const p of plan.partitions) await step(p.argv, `Failed to create partitions on ${p.device}`);
  for (const d of disks) await rescan(d, run);
  // md personalities load on demand through request_module; load them up front where modprobe can (harmless when built in).
  await run(['modprobe', '-a', 'raid0', 'raid1', 'raid10', 'raid456']).catch(() => undefined);
  const rootVolumes: Record<string, boolean> = {};
  for (const a of plan.arrays) {
    c.log.info(`software RAID: creating ${a.md} (${a.name}, RAID-${a.level}) on ${a.components.join(' ')}`);
    await step(a.argv, `Failed to create md device ${a.md} on ${a.components.join(' ')}`);
    // IPA re-adds members mdadm left out (a slow device can miss the create).
    const actual = await getComponentDevices(a.md, run);
    for (const missing of a.components.filter((m) => !actual.includes(m))) {
      c.log.warn(`software RAID: ${missing} is missing from ${a.md}, re-adding it`);
      await step(['mdadm', '--add', a.md, missing], `Failed re-add ${missing} to ${a.md}`);
    }
    if (a.isRootVolume !== undefined) rootVolumes[a.md] = a.isRootVolume;
  }
  c.log.info('software RAID: created');
  return { config: valid, plan, rootVolumes };
}

/**
 * IPA's _create_raid_ignore_list: with arrays present, only a skip list
 * lets create go on. A logical disk whose volume exists is not created
 * again when that volume is on the skip list (kept) or was wiped because it
 * shares disks with a kept one; a kept `esp` array (find_esp_raid reuses
 * it) may stay; any other array (unnamed, deleted by the classification,
 * or in no logical disk) refuses the step. Returns the logical disks to
 * create.
 */
async function logicalDisksToCreate(
  existing: string[],
  logicalDisks: RaidConfig['logical_disks'],
  skipNames: readonly string[],
  c: RaidContext,
): Promise<RaidConfig['logical_disks']> {
  const first = "run the raid interface's delete_configuration step first (or name the volume in skip_block_devices to keep it)";
  if (!skipNames.length) {
    throw new SoftwareRAIDError(`Existing Software RAID device detected that should not: ${existing.join(', ')}; ${first}`);
  }
  const { actions, names } = await classifyArrays(existing, skipNames, c.run);
  const unnamed = existing.filter((a) => !names[a]);
  if (unnamed.length) {
    throw new SoftwareRAIDError(
      `A Software RAID device detected that does not have a volume name (${unnamed.join(', ')}). This is not allowed because there is a volume_name hint in the property 'skip_block_devices'; ${first}`,
    );
  }
  const left = new Set(existing);
  const toCreate = logicalDisks.filter((ld) => {
    const md = existing.find((a) => names[a] === ld.volume_name);
    if (!md) return true;
    if (skipNames.includes(ld.volume_name!)) {
      c.log.info(`software RAID: volume ${ld.volume_name} (${md}) exists and is on the skip list, not creating it again`);
    } else if (actions[md] === 'wipe') {
      c.log.info(
        `software RAID: volume ${ld.volume_name} (${md}) exists, kept (wiped) beside a volume on the skip list, not creating it again`,
      );
    } else {
      throw new SoftwareRAIDError(`Existing Software RAID device detected that should not: ${md} (volume ${ld.volume_name}); ${first}`);
    }
    left.delete(md);
    return false;
  });
  for (const a of left) {
    if (names[a] === 'esp' && actions[a] === 'keep') {
      c.log.info(`software RAID: keeping the EFI array ${a}: it is on the disks of a volume on the skip list`);
      left.delete(a);
    }
  }
  if (left.size) {
    throw new SoftwareRAIDError(
      `Existing Software RAID device detected that should not: ${[...left].map((a) => `${a} (volume ${names[a]}, ${actions[a]})`).join(', ')}; it is in no logical disk of the RAID config: ${first}`,
    );
  }
  return toCreate;
}

/** Arrays proper (not partitions of arrays), only those wholly on c.onlyDisks when that is set. */
async function listArrays(c: RaidContext): Promise<string[]> {
  const arrays = (await listMdDevices(c.run)).filter((d) => d.type !== 'md' || !/p\d+$/.test(d.name)).map((d) => d.name);
  const only = c.onlyDisks ?? [];
  if (!only.length) return arrays;
  const out: string[] = [];
  for (const a of arrays) {
    const holders = await getHolderDisks(a, c.run);
    if (holders.length && holders.every((h) => only.includes(h))) out.push(a);
  }
  return out;
}

async function rescan(dev: string, run: ProgramRunner): Promise<void> {
  await run(['partprobe', dev]).catch(() => run(['blockdev', '--rereadpt', dev]).catch(() => undefined));
}

/**
 * Assemble whatever the disks describe, so arrays of a previous boot are
 * seen (and can be deleted). Never with `onlyDisks`: a scan would assemble
 * the arrays of the host the agent runs on. mdadm's exit code is not
 * looked at (IPA: check_exit_code=False): "nothing to assemble" is not an
 * error. mdadm that cannot be run at all (not installed) is one when
 * `required` (the raid steps: IPA's call raises there and the step fails);
 * at start-up (initialize) it is ignored: the agent must still come up.
 */
export async function assembleArrays(
  run: ProgramRunner,
  onlyDisks: readonly string[] = [],
  { required = false }: { required?: boolean } = {},
): Promise<void> {
  if (onlyDisks.length) return;
  try {
    await run(['mdadm', '--assemble', '--scan'], { okCodes: [0, 1, 2] });
  } catch (e) {
    if (!required) return;
    if (isProgramMissing(e)) {
      throw new SoftwareRAIDError(
        `mdadm not found: the software RAID steps need mdadm in the ramdisk (install the mdadm package): ${(e as Error).message}`,
      );
    }
    if (e instanceof ExecError && e.code === null && e.cause !== undefined) {
      throw new SoftwareRAIDError(`mdadm could not be run: ${e.message}`);
    }
  }
}

/** What delete did to each array: "delete", "keep" (volume on the skip list), "wipe" (shares a disk with a kept one). */
export type DeleteAction = 'delete' | 'keep' | 'wipe';

/**
 * IPA's delete_configuration: assemble, then for every array: wipe its
 * signatures, stop it, zero the superblock of every member; then zero any md
 * superblock left on any disk or partition; then wipe the partition tables
 * of the holder disks. Arrays whose volume_name is in
 * skip_block_devices are kept, and so are their disks; other arrays on those
 * disks lose their data but keep their superblocks. Two passes, as in IPA,
 * and always the first one, even when no array assembled: its sweep zeroes
 * the superblocks of arrays that cannot assemble. mdadm missing fails the
 * step (the scan could not look). Arrays still there after the passes fail
 * the step, and so does a holder disk whose partitions could not be
 * removed (IPA only logs that: the next create_configuration then refuses
 * the disk for its partitions, naming delete_configuration, which had
 * reported success).
 */
export async function deleteSoftwareRaid(node: Node, c: RaidContext): Promise<Record<string, DeleteAction>> {
  const run = c.run;
  const skipNames = readSkipVolumeNames(node.properties);
  let result: Record<string, DeleteAction> = {};
  await assembleArrays(run, c.onlyDisks, { required: true });
  let arrays = await listArrays(c);
  /** Holder disk → why its partitions are still there (a later pass that succeeds clears it). */
  const notWiped = new Map<string, string>();
  // At least one pass even when nothing assembled (as IPA): its sweep zeroes md superblocks that no array uses.
  for (let pass = 1; pass === 1 || (pass <= 2 && arrays.length); pass++) {
    result = { ...result, ...(await deletePass(arrays, skipNames, c, notWiped)) };
    await assembleArrays(run, c.onlyDisks, { required: true });
    arrays = (await listArrays(c)).filter((a) => (result[a] ?? 'delete') === 'delete');
  }
  if (arrays.length) throw new SoftwareRAIDError(`Unable to clean all softraid correctly. Remaining ${JSON.stringify(arrays)}`);
  if (notWiped.size) {
    const why = [...notWiped].map(([d, m]) => `${d}: ${m}`).join('; ');
    throw new SoftwareRAIDError(`The arrays are deleted but the partitions on their disks could not be removed: ${why}`);
  }
  c.log.info(`software RAID: deleted (${JSON.stringify(result)})`);
  return result;
}

/**
 * IPA's _handle_raid_skip_list: an array whose volume name is on the skip
 * list is kept; the other arrays on its disks are wiped (data) but stay,
 * except an `esp` array, which is kept (find_esp_raid reuses it); the rest
 * are deleted. `names`: the volume names (only read with a skip list).
 */
export async function classifyArrays(
  arrays: string[],
  skipNames: readonly string[],
  run: ProgramRunner,
): Promise<{ actions: Record<string, DeleteAction>; holders: Record<string, string[]>; names: Record<string, string | null> }> {
  const actions: Record<string, DeleteAction> = Object.fromEntries(arrays.map((a) => [a, 'delete' as DeleteAction]));
  const holders: Record<string, string[]> = {};
  const names: Record<string, string | null> = {};
  for (const a of arrays) holders[a] = await getHolderDisks(a, run);
  if (!skipNames.length) return { actions, holders, names };
  for (const a of arrays) {
    names[a] = await getVolumeName(a, run);
    if (names[a] && skipNames.includes(names[a])) actions[a] = 'keep';
  }
  const byName = arrays.filter((a) => actions[a] === 'keep');
  for (const a of byName) {
    for (const b of arrays) {
      if (actions[b] === 'delete' && holders[b]!.some((h) => holders[a]!.includes(h))) actions[b] = 'wipe';
    }
  }
  for (const a of arrays) if (names[a] === 'esp' && actions[a] === 'wipe') actions[a] = 'keep';
  return { actions, holders, names };
}

/**
 * The erase steps' view of skip_block_devices volume names (IPA's
 * list_block_devices_check_skip_list): kept arrays are never erased;
 * erase_devices_metadata and erase_devices_express (`includeWipe`) also
 * leave the arrays that only lose their data to a kept neighbour.
 */
export async function filterRaidSkipList(
  devices: BlockDevice[],
  node: Node,
  run: ProgramRunner,
  includeWipe: boolean,
): Promise<BlockDevice[]> {
  const skipNames = readSkipVolumeNames(node.properties);
  const arrays = devices.map((d) => d.name).filter(isMdName);
  if (!skipNames.length || !arrays.length) return devices;
  const { actions } = await classifyArrays(arrays, skipNames, run);
  return devices.filter((d) => actions[d.name] !== 'keep' && !(includeWipe && actions[d.name] === 'wipe'));
}

async function deletePass(
  arrays: string[],
  skipNames: string[],
  c: RaidContext,
  notWiped: Map<string, string>,
): Promise<Record<string, DeleteAction>> {
  const run = c.run;
  const { actions, holders, names } = await classifyArrays(arrays, skipNames, run);
  const members: Record<string, string[]> = {};
  for (const a of arrays) members[a] = await getComponentDevices(a, run);
  const keepMembers = new Set<string>();
  const keepDisks = new Set<string>();
  const allHolders: string[] = [];
  const deletedParts: Record<string, string[]> = {};
  for (const a of arrays) {
    if (!members[a]!.length) {
      // A partition on an array (the conductor's config drive): it goes with its array.
      c.log.info(`software RAID: skipping ${a}, it has no member devices`);
      continue;
    }
    for (const h of holders[a]!) if (!allHolders.includes(h)) allHolders.push(h);
    if (actions[a] !== 'delete') {
      for (const m of members[a]!) keepMembers.add(m);
      for (const h of holders[a]!) keepDisks.add(h);
      if (actions[a] === 'wipe') {
        c.log.warn(`software RAID: ${a} shares a disk with a volume on the skip list: its data is wiped, the array stays`);
        await run(['wipefs', '-af', a]).catch((e: Error) => c.log.warn(`wipefs ${a}: ${e.message}`));
      } else if (names[a] && skipNames.includes(names[a])) {
        c.log.warn(`software RAID: ${a} is on the skip list (skip_block_devices), not deleted`);
      } else c.log.warn(`software RAID: EFI array ${a} shares a disk with a volume on the skip list: kept, not deleted`);
      continue;
    }
    c.log.info(`software RAID: deleting ${a} (members ${members[a]!.join(' ')})`);
    await run(['wipefs', '-af', a]).catch((e: Error) => c.log.warn(`wipefs ${a}: ${e.message}`));
    await run(['mdadm', '--stop', a]).catch((e: Error) => c.log.warn(`mdadm --stop ${a}: ${e.message}`));
    for (const m of members[a]!) {
      if (!(await hasMdSuperblock(m, run))) continue;
      await run(['mdadm', '--zero-superblock', m]).catch((e: Error) => c.log.warn(`mdadm --zero-superblock ${m}: ${e.message}`));
      const disk = holders[a]!.find((h) => m.startsWith(h) && m !== h);
      if (disk) (deletedParts[disk] ??= []).push(m.slice(disk.length).replace(/^p/, ''));
    }
  }
  // Superblocks left behind by arrays that never assembled: partitions first, then disks (IPA's order).
  for (const d of await memberCandidates(c)) {
    const devs = [...(await listPartitions(d.name, run).catch(() => [] as string[])).reverse(), d.name];
    for (const dev of devs) {
      if (keepMembers.has(dev) || keepDisks.has(dev)) continue;
      if (!(await hasMdSuperblock(dev, run))) continue;
      await run(['mdadm', '--zero-superblock', dev]).catch((e: Error) => c.log.warn(`mdadm --zero-superblock ${dev}: ${e.message}`));
    }
  }
  const attempt = async (disk: string, what: string, work: () => Promise<unknown>): Promise<void> => {
    try {
      await work();
      notWiped.delete(disk);
    } catch (e) {
      c.log.warn(`software RAID: ${what} on ${disk} failed: ${(e as Error).message}`);
      notWiped.set(disk, `${what}: ${(e as Error).message}`);
    }
  };
  for (const h of allHolders) {
    if (keepDisks.has(h)) {
      // A disk shared with a kept volume keeps its table: only the deleted arrays' partitions go.
      const parts = deletedParts[h] ?? [];
      if (parts.length)
        await attempt(h, `removing partitions ${parts.join(', ')}`, async () => {
          for (const n of parts) await run(['parted', h, '-s', 'rm', n]);
        });
      continue;
    }
    c.log.info(`software RAID: removing the partition table of holder disk ${h}`);
    await attempt(h, 'removing the partition table', () => (c.wipeDisk ? c.wipeDisk(h) : destroyDiskMetadata(h, run)));
  }
  return actions;
}
