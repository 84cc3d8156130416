/**
 * The hardware inventory (IPA's list_hardware_info): every collector runs
 * concurrently; lshw runs once and feeds memory, vendor and NIC speed. Nothing here waits
 * on a timeout: ipmitool only runs when an IPMI device exists; only LLDP
 * (ipa-collect-lldp, off by default) listens for up to lldp_timeout seconds.
 */
import os from 'node:os';
import type { BlockDevice, Inventory } from '../types.js';
import { collectBmc } from './bmc.js';
import { collectBootSecurity } from './boot-security.js';
import { collectCpu } from './cpu.js';
import { collectDisks } from './disks.js';
import type { HostAccess } from './host-access.js';
import { createHostAccess } from './host-access.js';
import { cachedLldp, type LldpCache } from './lldp.js';
import { readLshw } from './lshw.js';
import { collectMemory } from './memory.js';
import { collectInterfaces } from './network.js';
import { findDevicesByHints } from './root-device.js';
import { collectSystemVendor } from './system-vendor.js';
import type { ProgramRunner } from '../../util/exec.js';
import { createConsoleLog, type Log } from '../../util/log.js';

/** A root-device-hint style filter: a disk matching every key of one entry is skipped. */
export type SkipBlockDevice = Record<string, unknown>;

export interface InventoryOptions {
  /** Filesystem root to inspect; default '/'. Anything else replays a fixture tree. */
  root?: string;
  /** Runs external programs; default: live execution, or replay under a fixture root. */
  run?: ProgramRunner;
  /** Capture LLDP frames on every NIC (tcpdump); off by default like ipa-collect-lldp. */
  collectLldp?: boolean;
  /** Seconds to wait for an LLDP frame (ipa-lldp-timeout, IPA's default 30). */
  lldpTimeout?: number;
  /** Where LLDP capture problems are logged (default: the console log). */
  log?: Log;
  /**
   * Kept by the caller across inventories (the generic manager): the first capture in which
   * some NIC heard a frame is stored and reused, as IPA's manager keeps its lldp_data.
   */
  lldpCache?: LldpCache;
  /** Skip ipmitool (lookup config agent_skip_bmc_detect). */
  skipBmc?: boolean;
  /** Raw BOOTIF kernel parameter, reported as boot.pxe_interface. */
  bootif?: string;
  /** node.properties.skip_block_devices (as the node has it): disks matching any entry are left out. */
  skipBlockDevices?: unknown;
  /** config.disks: when not empty, exactly these devices (e.g. /dev/loop3) are the disks. */
  onlyDisks?: readonly string[];
  /** ipa-enable-vlan-interfaces: VLAN interfaces created and listed (network.ts bringUpVlanInterfaces). */
  enableVlanInterfaces?: readonly string[];
}

export { getOsInstallDevice, guessRootDisk, findDevicesByHints, parseRootDeviceHints } from './root-device.js';
export { createHostAccess } from './host-access.js';
export type { HostAccess } from './host-access.js';

const hostOf = (o: InventoryOptions & { host?: HostAccess }): HostAccess => o.host ?? createHostAccess({ root: o.root, run: o.run });

/**
 * Disks minus those matching any node.properties.skip_block_devices entry.
 * With `strictSkipList` (the manager's list_block_devices: erase steps, the
 * install device) a value that is not a list, or an entry that is not an
 * object of valid hints, throws naming it, as IPA's find_devices_by_hints
 * does: skipping nothing would erase the disk the operator meant to protect.
 * Without it (the inventory) such an entry skips nothing.
 */
export async function listBlockDevices(
  o: InventoryOptions & { host?: HostAccess; strictSkipList?: boolean; onSkipped?: (names: string[]) => void } = {},
): Promise<BlockDevice[]> {
  const disks = await collectDisks(hostOf(o), o.onlyDisks);
  const raw = o.skipBlockDevices;
  if (raw === undefined || raw === null) return disks;
  const invalid = (why: string): Error => new Error(`node properties.skip_block_devices: ${why}; fix the node's skip_block_devices`);
  if (!Array.isArray(raw)) {
    if (o.strictSkipList) throw invalid(`must be a list of device hint objects, got ${JSON.stringify(raw)}`);
    return disks;
  }
  const skipped = new Set<string>();
  raw.forEach((entry: unknown, i) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      if (o.strictSkipList) throw invalid(`entry ${i} (${JSON.stringify(entry)}) is not an object of device hints`);
      return;
    }
    // An entry with volume_name names a software RAID volume to keep: IPA skips no disk for it, whatever else it holds.
    if ('volume_name' in entry) return;
    const hints = entry as SkipBlockDevice;
    if (!Object.keys(hints).length) return;
    try {
      // Every serial and WWN a disk is known by, as IPA's install-device path does (fix-matching-hints-lists): a disk
      // named by udev's long serial is protected too. IPA's erase path matches one value only; skipping more is safer.
      for (const d of findDevicesByHints(disks, hints, { allSerialsAndWwns: true })) skipped.add(d.name);
    } catch (e) {
      if (o.strictSkipList) throw invalid(`entry ${i} (${JSON.stringify(entry)}): ${(e as Error).message}`);
    }
  });
  if (skipped.size) o.onSkipped?.([...skipped].sort());
  return disks.filter((d) => !skipped.has(d.name));
}

async function readHostname(host: HostAccess): Promise<string> {
  const h = (await host.readText('/proc/sys/kernel/hostname'))?.trim();
  return h || (host.replay ? 'localhost' : os.hostname());
}

export async function collectInventory(o: InventoryOptions & { host?: HostAccess } = {}): Promise<Inventory> {
  const host = hostOf(o);
  const lshwP = readLshw(host);
  const [interfaces, cpu, disks, memory, bmc, systemVendor, uefi, hostname, security] = await Promise.all([
    collectInterfaces(
      host,
      o.collectLldp ? (names) => cachedLldp(host, names, { ...o, log: o.log ?? createConsoleLog() }) : undefined,
      lshwP,
      {
        enableVlanInterfaces: o.enableVlanInterfaces ?? [],
        collectLldp: !!o.collectLldp,
        log: o.log ?? createConsoleLog(),
      },
    ),
    collectCpu(host),
    listBlockDevices({ ...o, host }),
    lshwP.then((l) => collectMemory(host, l)),
    collectBmc(host, o.skipBmc),
    lshwP.then((l) => collectSystemVendor(host, l)),
    host.exists('/sys/firmware/efi'),
    readHostname(host),
    collectBootSecurity(host),
  ]);
  const inv: Inventory = {
    interfaces,
    cpu,
    // uuid/partuuid and the serial/WWN lists are kept on BlockDevice for callers but IPA never serializes them.
    disks: disks.map(({ uuid: _u, partuuid: _p, serials: _s, wwns: _w, ...d }) => d),
    memory,
    bmc_address: bmc.bmc_address,
    bmc_v6address: bmc.bmc_v6address,
    system_vendor: systemVendor,
    boot: { current_boot_mode: uefi ? 'uefi' : 'bios', pxe_interface: o.bootif ?? null, ...security },
    hostname,
  };
  if (bmc.bmc_mac) inv.bmc_mac = bmc.bmc_mac;
  return inv;
}
