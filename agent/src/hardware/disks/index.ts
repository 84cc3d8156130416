/**
 * Disk cleaning steps of the generic hardware manager (§6): erase_devices,
 * erase_devices_metadata, erase_devices_express. Every disk is first checked
 * (safety.ts): the virtual-media device and members of assembled RAID
 * arrays are skipped (a stale member is erased), and a disk holding a
 * shared-disk/cluster filesystem stops the step before any disk is touched.
 * The rest are processed concurrently (bounded); failures are collected and
 * reported together. Each step returns {disk: what was done to it}.
 */
import { BlockDeviceEraseError, errMsg, ProtectedDeviceError } from '../../errors.js';
import type { Log } from '../../util/log.js';
import { execute, type ProgramRunner } from '../../util/exec.js';
import type { BlockDevice, Node } from '../types.js';
import { destroyDiskMetadata } from './destroy-metadata.js';
import { isNvme, isReadOnlyDevice } from './disk-facts.js';
import { eraseBlockDevice, readEraseSettings, withFirmwareCheck, type EraseSettings } from './erase-block-device.js';
import { createDiskIo, type DiskIo } from './overwrite-io.js';
import { eraseNvme } from './secure-erase.js';
import { classifyDisk, findVirtualMediaDevice, readDiskEntries } from './safety.js';
import { readSkipVolumeNames } from '../raid/plan.js';

export interface DiskOpts {
  run?: ProgramRunner;
  concurrency?: number;
  signal?: AbortSignal;
  /** Device I/O of the overwrite (a fake in unit tests). */
  io?: DiskIo;
  /** Progress and per-disk results (the agent log). */
  log?: Log;
  /** The agent's guardSpecialFilesystems (IPA's guard_special_filesystems); default true. */
  guardSpecialFilesystems?: boolean;
  /** The virtual-media device; undefined: found through /dev/disk/by-label/ir-vfd-dev. */
  vmediaDevice?: string | null;
  /** Where the read-only flags are read (<sysRoot>/class/block/<dev>/ro); default /sys (a fake tree in unit tests). */
  sysRoot?: string;
  /**
   * erase_devices only: erase one disk (the generic manager dispatches
   * erase_block_device through the hardware managers and describes the
   * result with describeEraseResult). Default: this module's eraseBlockDevice.
   */
  eraseOne?: (dev: BlockDevice) => Promise<unknown>;
}

const SKIPPED_RO = 'skipped (read-only)';

/** Read-only devices are skipped when allowed, otherwise they fail the step with a hint. */
async function checkWritable(dev: string, s: EraseSettings, sysRoot?: string): Promise<boolean> {
  if (!(await isReadOnlyDevice(dev, sysRoot))) return true;
  if (s.skipReadOnly) return false;
  throw new BlockDeviceEraseError(`${dev} is read-only; set driver_internal_info agent_erase_skip_read_only=true to skip such devices`);
}

/** What checkDisks found: {disk: why it is skipped}, and {disk: what its step result adds} for disks erased anyway. */
export interface DiskChecks {
  skipped: Map<string, string>;
  notes: Map<string, string>;
  /** Of a skipped RAID member: its partitions in no array (the metadata steps wipe them). */
  otherPartitions: Map<string, string[]>;
}

/**
 * Check every disk before erasing any; a protected disk throws
 * ProtectedDeviceError (IPA checks each disk just before it erases it, so
 * earlier disks may already be gone), a disk that cannot be decided safely
 * (a stale RAID member while skip_block_devices keeps volumes) throws
 * BlockDeviceEraseError.
 */
export async function checkDisks(devs: BlockDevice[], s: EraseSettings, o: DiskOpts, node?: Node): Promise<DiskChecks> {
  const run = o.run ?? execute;
  const vmediaDevice = o.vmediaDevice === undefined ? await findVirtualMediaDevice() : o.vmediaDevice;
  const guard = (o.guardSpecialFilesystems ?? true) && s.wipeSpecialFilesystemsGuard;
  const keptRaidVolumes = readSkipVolumeNames(node?.properties);
  const out: DiskChecks = { skipped: new Map(), notes: new Map(), otherPartitions: new Map() };
  for (const d of devs) {
    // Read-only disks the step skips anyway are left out before the safety checks (IPA's _list_erasable_devices).
    if (s.skipReadOnly && (await isReadOnlyDevice(d.name, o.sysRoot))) {
      out.skipped.set(d.name, SKIPPED_RO);
      continue;
    }
    const v = classifyDisk(d.name, await readDiskEntries(d.name, run), { vmediaDevice, guard, keptRaidVolumes });
    if (v.kind === 'protected') throw new ProtectedDeviceError(v.device, v.what);
    if (v.kind === 'refuse') throw new BlockDeviceEraseError(v.reason);
    if (v.kind === 'skip') {
      o.log?.info(`${d.name}: ${v.reason}`);
      out.skipped.set(d.name, v.reason);
      if (v.otherPartitions) out.otherPartitions.set(d.name, v.otherPartitions);
    } else if (v.note) {
      o.log?.warn(`${d.name}: ${v.note}`);
      out.notes.set(d.name, v.note);
    }
  }
  return out;
}

/**
 * IPA's erase_block_device checks its one disk itself (virtual media, RAID
 * member, read-only) whoever calls it: a site manager's own erase_devices
 * may dispatch erase_block_device per disk without erase_devices' checks.
 * The same checks as erase_devices (checkDisks, then the read-only rule);
 * returns why the disk is skipped, or null to erase it. Throws as
 * erase_devices would (a protected disk, a read-only one not allowed).
 */
export async function checkDiskBeforeErase(dev: BlockDevice, node: Node, o: DiskOpts = {}): Promise<string | null> {
  const s = readEraseSettings(node);
  const { skipped, notes } = await checkDisks([dev], s, o, node);
  const skip = skipped.get(dev.name);
  if (skip) return skip;
  if (!(await checkWritable(dev.name, s, o.sysRoot))) return SKIPPED_RO;
  const note = notes.get(dev.name);
  if (note) o.log?.info(`erase_block_device: ${dev.name}: ${note}`);
  return null;
}

/** Run `fn` on every device, collect {dev: result} and throw one error naming every failure. */
async function eraseAll(
  devs: BlockDevice[],
  node: Node | undefined,
  s: EraseSettings,
  what: string,
  o: DiskOpts,
  fn: (dev: BlockDevice) => Promise<string>,
  /** The metadata steps: what to do to a skipped RAID member's partitions that are in no array. */
  otherPartition?: { wipe: (part: string) => Promise<void>; done: string },
): Promise<Record<string, string>> {
  const { skipped, notes, otherPartitions } = await checkDisks(devs, s, o, node);
  const results = await runBounded(
    devs,
    s.concurrency,
    async (d) => {
      const skip = skipped.get(d.name);
      const parts = otherPartitions.get(d.name) ?? [];
      if (skip && otherPartition && parts.length) {
        for (const part of parts) await otherPartition.wipe(part);
        return `${skip}; ${otherPartition.done} on its partitions in no array: ${parts.join(', ')}`;
      }
      if (skip) return skip;
      const done = (await checkWritable(d.name, s, o.sysRoot)) ? await fn(d) : SKIPPED_RO;
      const note = notes.get(d.name);
      return note ? `${done}; ${note}` : done;
    },
    o.signal,
  );
  const out: Record<string, string> = {};
  const failed: string[] = [];
  results.forEach((r, i) => {
    const name = devs[i]!.name;
    if (r.status === 'fulfilled') out[name] = r.value;
    else failed.push(`"${name}": ${errText(r.reason)}`);
  });
  if (failed.length) throw new BlockDeviceEraseError(`Failed to ${what} on the device(s): ${failed.join('; ')}`);
  return out;
}

function errText(e: unknown): string {
  const d = (e as { details?: string }).details;
  return d || errMsg(e);
}

export const METADATA_ERASED = 'metadata (partition tables and signatures)';

/**
 * erase_devices_metadata and erase_devices_express leave read-only devices
 * out, whatever agent_erase_skip_read_only says (IPA's _list_erasable_devices);
 * only erase_devices refuses them unless that is set.
 */
const skippingReadOnly = (s: EraseSettings): EraseSettings => ({ ...s, skipReadOnly: true });

/** Both metadata steps: a skipped RAID member's partitions in no array get the metadata wipe too (eraseAll). */
const wipingFreePartitions = (run: ProgramRunner) => ({
  wipe: (part: string) => destroyDiskMetadata(part, run),
  done: 'partition tables and signatures erased',
});

/** erase_devices_metadata: wipe signatures and partition tables of every disk; {disk: what was done}, read-only disks skipped. */
export async function eraseDevicesMetadata(devs: BlockDevice[], o: DiskOpts & { node?: Node } = {}): Promise<Record<string, string>> {
  const run = o.run ?? execute;
  const s = skippingReadOnly(readEraseSettings(o.node, o.concurrency ?? devs.length));
  const out = await eraseAll(
    devs,
    o.node,
    s,
    'erase the metadata',
    o,
    async (d) => {
      await destroyDiskMetadata(d.name, run);
      return METADATA_ERASED;
    },
    wipingFreePartitions(run),
  );
  for (const [dev, how] of Object.entries(out)) o.log?.info(`erase_devices_metadata: ${dev}: ${how}`);
  return out;
}

/**
 * A manager's erase_block_device result as the step reports it. IPA stores
 * whatever dispatch_to_managers returns ({dev: None} even for its own
 * erase), so a manager that returns nothing is indistinguishable from one
 * that erased: here a missing result says only what is known, that the
 * manager raised no error, never that the disk was erased. A string is the
 * manager's own account; anything else is shown as JSON, naming the manager.
 */
export function describeEraseResult(r: unknown, manager = 'a hardware manager'): string {
  if (typeof r === 'string' && r) return r;
  const method = manager === 'a hardware manager' ? `${manager}'s erase_block_device` : `${manager}.erase_block_device`;
  if (r === undefined || r === null || r === '')
    return `not confirmed: ${method} returned no result and raised no error; the agent cannot tell whether or how it erased the disk`;
  let shown: string;
  try {
    shown = JSON.stringify(r) ?? String(r);
  } catch {
    shown = String(r);
  }
  return `${method} returned ${shown}`;
}

/**
 * erase_devices: NVMe format / ATA secure erase / verified overwrite per
 * disk; returns {devname: the method that ran}, "skipped (read-only)" for
 * read-only disks when agent_erase_skip_read_only is set (else they fail the
 * step). IPA returns {devname: null}; Ironic stores neither.
 */
export async function eraseDevices(devs: BlockDevice[], node: Node, o: DiskOpts = {}): Promise<Record<string, unknown>> {
  const run = o.run ?? execute;
  const s = readEraseSettings(node, o.concurrency ?? 1);
  const c = { run, io: o.io ?? createDiskIo(run), signal: o.signal, log: o.log };
  const eraseOne = o.eraseOne ?? ((d: BlockDevice) => eraseBlockDevice(d.name, s, c));
  const out = await eraseAll(devs, node, s, 'erase', o, async (d) => describeEraseResult(await eraseOne(d)));
  for (const [dev, how] of Object.entries(out)) o.log?.info(`erase_devices: ${dev}: ${how}`);
  return out;
}

/** What erase_devices_express reports for a disk it did not erase in firmware: like IPA, only metadata goes. */
export const EXPRESS_METADATA_ONLY = 'metadata only (partition tables and signatures; the data beyond them remains)';

/**
 * erase_devices_express: NVMe secure erase where possible, metadata wipe for
 * the rest (IPA's semantics); read-only disks skipped. An NVMe erase that
 * fails (no Format NVM, the format failing, or blocks left unchanged) falls
 * back to the metadata wipe, as IPA's does, and the disk's result says why;
 * only when the wipe fails too is the step failed.
 */
export async function eraseDevicesExpress(devs: BlockDevice[], node: Node, o: DiskOpts = {}): Promise<Record<string, unknown>> {
  const run = o.run ?? execute;
  const s = skippingReadOnly(readEraseSettings(node, o.concurrency ?? devs.length));
  const c = { run, io: o.io ?? createDiskIo(run), signal: o.signal, log: o.log };
  const out = await eraseAll(
    devs,
    node,
    s,
    'erase (express)',
    o,
    async ({ name: dev }) => {
      let firmwareFailure: string | undefined;
      if (s.enableNvmeSecureErase && isNvme(dev)) {
        try {
          const m = await withFirmwareCheck(dev, c, () => eraseNvme(dev, run));
          if (m) return m;
        } catch (e) {
          if (!(e instanceof BlockDeviceEraseError)) throw e;
          firmwareFailure = errText(e);
          o.log?.warn(`erase_devices_express: ${dev}: NVMe secure erase failed, wiping the metadata instead: ${firmwareFailure}`);
        }
      }
      try {
        await destroyDiskMetadata(dev, run);
      } catch (e) {
        if (firmwareFailure === undefined) throw e;
        throw new BlockDeviceEraseError(
          `NVMe secure erase failed: ${firmwareFailure}; the metadata wipe after it failed too: ${errText(e)}`,
        );
      }
      return firmwareFailure === undefined
        ? EXPRESS_METADATA_ONLY
        : `${EXPRESS_METADATA_ONLY}; NVMe secure erase failed: ${firmwareFailure}`;
    },
    wipingFreePartitions(run),
  );
  for (const [dev, how] of Object.entries(out)) o.log?.info(`erase_devices_express: ${dev}: ${how}`);
  return out;
}

/** Run async work over items with at most `limit` in flight; never rejects. */
export async function runBounded<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
  signal?: AbortSignal,
): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        // Do not start new work once aborted; work already running finishes.
        signal?.throwIfAborted();
        results[i] = { status: 'fulfilled', value: await fn(items[i]!) };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  const n = Math.max(1, Math.min(Math.floor(limit) || 1, items.length));
  await Promise.all(Array.from({ length: n }, worker));
  return results;
}
