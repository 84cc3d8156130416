/**
 * Top-level keys of the pre-Ocata ramdisk contract (ironic-discoverd and the
 * bash ramdisk): cpus, cpu_arch, memory_mb, local_gb, interfaces {name:
 * {mac, ip}} and ipmi_address. Sent by default: ironic-inspector 11.1
 * overwrites interfaces/ipmi_address from the inventory in its first hook and
 * Ironic's built-in inspection keeps them as inert plugin data, so they only
 * matter to old services, which need them. ipa-inspection-legacy=0 drops them.
 */
import type { BlockDevice, Inventory } from '../hardware/types.js';

const GIB = 1024 ** 3;

export function buildLegacyKeys(inventory: Inventory, rootDisk: BlockDevice | undefined): Record<string, unknown> {
  const keys: Record<string, unknown> = {
    // Optional chaining: a site manager's inventory may leave keys out.
    cpus: inventory.cpu?.count,
    cpu_arch: inventory.cpu?.architecture,
    memory_mb: inventory.memory?.physical_mb,
    interfaces: Object.fromEntries(
      (inventory.interfaces ?? [])
        .filter((i) => i.name !== 'lo' && i.mac_address)
        .map((i) => [i.name, { mac: i.mac_address, ip: i.ipv4_address }]),
    ),
  };
  // Same formula as the inspector's root_disk_selection hook (floor GiB, minus 1 for partitioning).
  if (rootDisk) keys.local_gb = Math.floor(rootDisk.size / GIB) - 1;
  const bmc = inventory.bmc_address;
  if (bmc && bmc !== '0.0.0.0') keys.ipmi_address = bmc;
  return keys;
}

export function legacyEnabled(cmdline: Record<string, string>): boolean {
  const v = cmdline['ipa-inspection-legacy'];
  return v === undefined || !['0', 'false', 'no', 'off'].includes(v.toLowerCase());
}
