/**
 * Network interfaces as IPA lists them: /sys/class/net entries that are
 * physical (device/), bonds (bonding/) or VLANs (name.N, N digits). Node cannot issue
 * the ETHTOOL_GPERMADDR ioctl, so the permanent MAC comes from `ip -j addr`
 * ("permaddr", printed by iproute2 when it differs from the current one).
 */
import os from 'node:os';
import path from 'node:path';
import type { NetworkInterface } from '../types.js';
import type { HostAccess } from './host-access.js';
import type { LldpCache } from './lldp.js';
import { tryRun } from './host-access.js';
import { findLshwNode, type LshwNode } from './lshw.js';
import type { Log } from '../../util/log.js';

export const IP_ADDR_ARGV = ['ip', '-j', 'addr'];

interface IpLink {
  mac: string | null;
  perm: string | null;
  v4: string | null;
  v6: string | null;
}

const PCI_ADDR = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i;

export function parseIpAddr(json: string): Map<string, IpLink> {
  const out = new Map<string, IpLink>();
  for (const l of JSON.parse(json) as Array<Record<string, unknown>>) {
    const addrs = (l.addr_info ?? []) as Array<{ family?: string; local?: string; scope?: string }>;
    const v4 = addrs.find((a) => a.family === 'inet')?.local ?? null;
    const a6 = addrs.find((a) => a.family === 'inet6');
    // psutil (what IPA reads) renders link-local addresses with their zone.
    const v6 = a6?.local ? (a6.scope === 'link' ? `${a6.local}%${String(l.ifname)}` : a6.local) : null;
    out.set(String(l.ifname), { mac: (l.address as string) ?? null, perm: (l.permaddr as string) ?? null, v4, v6 });
  }
  return out;
}

/** Live fallback when `ip` is missing: Node's getifaddrs view (no permanent MAC). */
function readNodeInterfaces(): Map<string, IpLink> {
  const out = new Map<string, IpLink>();
  for (const [name, list] of Object.entries(os.networkInterfaces())) {
    const v4 = list?.find((a) => a.family === 'IPv4')?.address ?? null;
    const a6 = list?.find((a) => a.family === 'IPv6');
    const v6 = a6 ? (a6.scopeid ? `${a6.address}%${name}` : a6.address) : null;
    out.set(name, { mac: list?.[0]?.mac ?? null, perm: null, v4, v6 });
  }
  return out;
}

/**
 * Whether the `ip` on PATH is busybox's (tinyipa ships it, docs/ramdisk-tools.md), which has no `-j`: running it
 * only prints its usage, and costs a process start at every listing (0.03 s of a TCG boot, at the wait for a
 * network interface before lookup). Live machines only: a fixture replays what was recorded.
 */
export async function ipIsBusybox(host: HostAccess, pathEnv = process.env.PATH ?? ''): Promise<boolean> {
  if (host.replay) return false;
  for (const dir of new Set(pathEnv.split(':').filter((d) => d.startsWith('/')))) {
    const real = await host.realPath(path.join(dir, 'ip'));
    if (real) return path.basename(real) === 'busybox';
  }
  return false;
}

export async function readAddresses(host: HostAccess): Promise<Map<string, IpLink>> {
  const out = (await ipIsBusybox(host)) ? undefined : await tryRun(host, IP_ADDR_ARGV);
  if (out !== undefined) {
    try {
      return parseIpAddr(out);
    } catch {
      /* fall through */
    }
  }
  return host.replay ? new Map() : readNodeInterfaces();
}

/**
 * IPA's netutils.is_vlan: a VLAN has no device/ link, so IPA goes by the name `ip link add` gives one, <parent>.<id>:
 * everything after the first dot is digits. "br.ex", "eth0.abc" and QinQ's "eth0.100.200" are not VLANs.
 */
export function isVlanName(name: string): boolean {
  const dot = name.indexOf('.');
  return dot >= 0 && /^[0-9]+$/.test(name.slice(dot + 1));
}

/** Names IPA considers interfaces (lo, bridges, tunnels and ifb are not). */
export async function listInterfaceNames(host: HostAccess): Promise<string[]> {
  const names = await host.listDir('/sys/class/net');
  const flags = await Promise.all(
    names.map(
      async (n) => isVlanName(n) || (await host.exists(`/sys/class/net/${n}/device`)) || (await host.exists(`/sys/class/net/${n}/bonding`)),
    ),
  );
  return names.filter((_, i) => flags[i]);
}

/** PCI address of a NIC: the device link, or its parent for virtio/usb children. */
async function readPciAddress(host: HostAccess, name: string): Promise<string | null> {
  const link = await host.readLink(`/sys/class/net/${name}/device`);
  if (!link) return null;
  const base = path.basename(link);
  if (PCI_ADDR.test(base)) return base;
  const real = await host.realPath(`/sys/class/net/${name}/device`);
  const parent = real ? path.basename(path.dirname(real)) : '';
  return PCI_ADDR.test(parent) ? parent : base;
}

/** An IPoIB hardware address: 20 bytes, 59 characters (4-byte QPN and flags, then the 16-byte GID). */
const INFINIBAND_ADDR_LEN = 59;
const MELLANOX_VENDOR_ID = '0x15b3';

/**
 * IPA's Mellanox hardware manager (hardware_managers/mlnx.py) for an
 * InfiniBand port of a Mellanox NIC: the MAC Ironic knows the port by is
 * the GUID's upper three and lower three bytes, and the DHCP client-id is
 * Mellanox's prefix and the GUID. Without it the 59-character address
 * would be the MAC, which Ironic's lookup drops as invalid.
 */
export function mellanoxInfiniband(address: string, vendor: string | null): { mac: string; clientId: string } | undefined {
  if (address.length !== INFINIBAND_ADDR_LEN || vendor !== MELLANOX_VENDOR_ID) return undefined;
  return { mac: address.slice(36, -14) + address.slice(51), clientId: `ff:00:00:00:00:00:02:00:00:02:c9:00:${address.slice(36)}` };
}

/** Mbit/s of a value in lshw's units (IPA's unit registry knows these three). */
const toMbit = (value: number, units: string): number | undefined =>
  units === 'bit/s' ? value / 1e6 : units === 'Mbit/s' ? value : units === 'Gbit/s' ? value * 1000 : undefined;

/**
 * IPA's _get_network_speed: lshw's network node whose logicalname is the interface (anywhere in the tree), its
 * capacity (the fastest link mode the NIC supports) or else its speed, in Mbit/s, truncated. undefined: no lshw
 * node for this name (IPA then reports null), null: a node without a usable figure.
 */
export function lshwSpeedMbps(lshw: LshwNode, name: string): number | null | undefined {
  const node = findLshwNode({ children: lshw.children }, (n) => n.class === 'network' && n.logicalname === name);
  if (!node) return undefined;
  const value = node.capacity || (typeof node.speed === 'number' ? node.speed : undefined);
  const mbit = value ? toMbit(value, (node.units ?? 'bit/s').replace('_', '/')) : undefined;
  return mbit === undefined ? null : Math.trunc(mbit);
}

async function describeInterface(
  host: HostAccess,
  name: string,
  ip: IpLink | undefined,
  lldp: Map<string, Array<[number, string]>> | undefined,
  biosdevname: boolean,
  lshw: LshwNode | undefined,
): Promise<NetworkInterface | undefined> {
  const sys = `/sys/class/net/${name}`;
  const rd = async (f: string) => (await host.readText(`${sys}/${f}`))?.trim() || null;
  const [address, carrier, vendor, product, speed, pci, driverLink, bios] = await Promise.all([
    rd('address'),
    rd('carrier'),
    rd('device/vendor'),
    rd('device/device'),
    rd('speed'),
    readPciAddress(host, name),
    host.readLink(`${sys}/device/driver`),
    // As IPA's get_bios_given_nic_name: never asked for a VLAN.
    biosdevname && !isVlanName(name) ? tryRun(host, ['biosdevname', '-i', name]) : Promise.resolve(undefined),
  ]);
  let mac = (ip?.perm ?? address ?? ip?.mac ?? '').toLowerCase() || null;
  // IPA drops interfaces without a MAC and the fa: addresses of virtual functions.
  if (!mac || mac.startsWith('fa:')) return undefined;
  const infiniband = mellanoxInfiniband(mac, vendor);
  if (infiniband) mac = infiniband.mac;
  // speed_mbps: IPA's source, lshw, where the ramdisk has it (no flavor ships it: docs/ramdisk-tools.md); else the
  // link's current speed from sysfs (the negotiated rate, not lshw's capacity; null while the link is down).
  const speedNum = lshw ? (lshwSpeedMbps(lshw, name) ?? NaN) : speed === null ? NaN : Number(speed);
  return {
    name,
    mac_address: mac,
    ipv4_address: ip?.v4 ?? null,
    ipv6_address: ip?.v6 ?? null,
    has_carrier: carrier === '1',
    lldp: lldp ? (lldp.get(name) ?? null) : null,
    vendor,
    product,
    client_id: infiniband?.clientId ?? null,
    biosdevname: bios?.trim() || null,
    speed_mbps: Number.isFinite(speedNum) && speedNum > 0 ? speedNum : null,
    pci_address: pci,
    driver: driverLink ? path.basename(driverLink) : null,
  };
}

/** ipa-enable-vlan-interfaces, and what it needs. */
export interface VlanOptions {
  /** Entries: "<interface or MAC>.<vlan id>", an interface name, or "all" (the last two from LLDP). */
  enableVlanInterfaces: readonly string[];
  /** ipa-collect-lldp: VLANs named by LLDP need the capture. */
  collectLldp: boolean;
  log: Log;
}

/** LLDP's organisationally specific TLV carrying IEEE 802.1 subtype 3, VLAN Name: OUI 00-80-C2, subtype, then the 2-byte VLAN ID. */
const LLDP_TLV_ORG_SPECIFIC = 127;
const LLDP_8021_VLAN_NAME = '0080c203';

/** The VLAN IDs a switch announced on a port (IPA's _add_vlans_from_lldp). */
export function vlanIdsFromLldp(tlvs: ReadonlyArray<[number, string]> | null): number[] {
  const ids: number[] = [];
  for (const [type, value] of tlvs ?? []) {
    if (type !== LLDP_TLV_ORG_SPECIFIC || !value.toLowerCase().startsWith(LLDP_8021_VLAN_NAME)) continue;
    const id = Number.parseInt(value.slice(LLDP_8021_VLAN_NAME.length, LLDP_8021_VLAN_NAME.length + 4), 16);
    if (Number.isInteger(id) && id > 0 && id < 4095) ids.push(id);
  }
  return ids;
}

/**
 * IPA's netutils.bring_up_vlan_interfaces: creates and raises the VLAN
 * interfaces ipa-enable-vlan-interfaces asks for, and returns the names it
 * created. "eth0.100" (or "<mac>.100") is that VLAN; "eth0" or "all" are
 * the VLANs LLDP announced on that port or on every port, which needs
 * ipa-collect-lldp. One that exists already is left alone; a failure is a
 * warning (the inventory goes on), as in IPA.
 */
export async function bringUpVlanInterfaces(host: HostAccess, ifaces: readonly NetworkInterface[], o: VlanOptions): Promise<string[]> {
  const created: string[] = [];
  // The 8021q driver, once, before the first VLAN (it may be built in: a failure is no error).
  let driver: Promise<unknown> | undefined;
  const add = async (parent: string, vlan: string): Promise<void> => {
    const name = `${parent}.${vlan}`;
    if (ifaces.some((i) => i.name === name) || created.includes(name)) return;
    try {
      o.log.info(`adding VLAN interface ${name}`);
      await (driver ??= host.run(['modprobe', '8021q']).catch(() => undefined));
      // Exit 2: "File exists", as IPA accepts.
      await host.run(['ip', 'link', 'add', 'link', parent, 'name', name, 'type', 'vlan', 'id', vlan], { okCodes: [0, 2] });
      await host.run(['ip', 'link', 'set', 'dev', name, 'up']);
      created.push(name);
    } catch (e) {
      o.log.warn(`could not add VLAN interface ${name}: ${(e as Error).message}`);
    }
  };
  for (const entry of o.enableVlanInterfaces) {
    const dot = entry.lastIndexOf('.');
    if (dot > 0) {
      const [wanted, vlan] = [entry.slice(0, dot), entry.slice(dot + 1)];
      const parent = ifaces.find((i) => i.name === wanted || i.mac_address?.toLowerCase() === wanted.toLowerCase());
      if (!/^\d+$/.test(vlan)) o.log.warn(`ipa-enable-vlan-interfaces: ${entry}: the VLAN id must be a number`);
      else if (parent) await add(parent.name, vlan);
      else o.log.warn(`ipa-enable-vlan-interfaces: ${entry}: interface ${wanted} does not exist`);
    } else if (!o.collectLldp) {
      o.log.warn(
        `ipa-enable-vlan-interfaces: ${entry} names no VLAN and LLDP is off: set ipa-collect-lldp=1, or give <interface>.<vlan id>`,
      );
    } else if (entry === 'all') {
      for (const i of ifaces) for (const id of vlanIdsFromLldp(i.lldp)) await add(i.name, String(id));
    } else {
      const port = ifaces.find((i) => i.name === entry);
      if (!port?.lldp) o.log.warn(`ipa-enable-vlan-interfaces: ${entry}: no such interface, or no LLDP heard on it`);
      else for (const id of vlanIdsFromLldp(port.lldp)) await add(port.name, String(id));
    }
  }
  return created;
}

/** `lshw`: the inventory's lshw tree (undefined where lshw is missing or was not run: speed from sysfs). */
export async function collectInterfaces(
  host: HostAccess,
  lldp?: (names: string[]) => Promise<Map<string, Array<[number, string]>> | undefined>,
  lshw?: Promise<LshwNode | undefined>,
  vlans?: VlanOptions,
): Promise<NetworkInterface[]> {
  const [names, addrs, bios, tree] = await Promise.all([
    listInterfaceNames(host),
    readAddresses(host),
    host.hasCommand('biosdevname'),
    lshw,
  ]);
  const lldpData = lldp ? await lldp(names) : undefined;
  const list = (await Promise.all(names.map((n) => describeInterface(host, n, addrs.get(n), lldpData, bios, tree)))).filter(
    (x): x is NetworkInterface => x !== undefined,
  );
  if (vlans?.enableVlanInterfaces.length) {
    const created = await bringUpVlanInterfaces(host, list, vlans);
    for (const n of created) {
      const vlan = await describeInterface(host, n, undefined, lldpData, bios, tree);
      if (vlan) list.push(vlan);
    }
  }
  return list;
}

/**
 * The generic manager's list_network_interfaces. IPA captures LLDP at every
 * listing when ipa-collect-lldp is on; here only when the VLANs to bring up
 * come from it (ipa-enable-vlan-interfaces=all, or an interface without a
 * VLAN id), so that they exist before the lookup, as in IPA, while other
 * listings (the NIC wait polls every 0.5 s) never wait for a capture. What
 * is captured is kept in `lldpCache` for the inventory (lldp.ts cachedLldp).
 */
export async function listNetworkInterfaces(
  host: HostAccess,
  o: VlanOptions & { lldpTimeout: number; lldpCache: LldpCache },
): Promise<NetworkInterface[]> {
  const lldpNeeded = o.collectLldp && o.enableVlanInterfaces.some((v) => !v.includes('.'));
  const lldp = lldpNeeded
    ? async (names: string[]) =>
        (await import('./lldp.js')).cachedLldp(host, names, { lldpCache: o.lldpCache, lldpTimeout: o.lldpTimeout, log: o.log })
    : undefined;
  return collectInterfaces(host, lldp, undefined, o);
}
