/**
 * DHCP-less deploys: Ironic puts the node's OpenStack `network_data.json` on
 * the virtual-media ISO (openstack/latest/network_data.json) and the agent
 * configures the interfaces from it before inspection and lookup, as glean
 * does in IPA's DIB ramdisks. In every flavor the agent does it itself, with
 * `ip` and sysfs only (busybox `ip` in tinyipa: see docs/ramdisk-tools.md).
 *
 * Three steps: parseNetworkData() checks the document (pure; what cannot be
 * used, a link, a network, a route, a DNS entry, is skipped with a warning
 * naming its JSON path, as glean skips it; only a document that is not an
 * object with a list of links is refused), planNetwork() turns it and the
 * physical interfaces present (name + permanent MAC) into a list of actions
 * (pure, data), applyNetworkPlan() runs them through the ProgramRunner and
 * writes the sysfs/resolv.conf files, logging failures and going on.
 *
 * Semantics (the network_data.json format, Ironic's network-data schema,
 * glean's reading of it):
 *  - links: `phy`/`ethernet`/`vif`/... (anything not bond or vlan) match a
 *    physical interface (one with /sys/class/net/<if>/device; bonds and
 *    VLANs carry a member's or parent's MAC) by `ethernet_mac_address`
 *    (case-insensitive; a bond member's bonding_slave/perm_hwaddr, as the
 *    bond changed its address); `mtu` applies.
 *  - `bond`: members `bond_links` (link ids), `bond_mode` (Ironic's schema
 *    says `802.1ad` for LACP: the kernel's `802.3ad`), `bond_miimon`,
 *    `bond_xmit_hash_policy`, `bond_lacp_rate`. Created through sysfs
 *    (/sys/class/net/bonding_masters, <bond>/bonding/*): busybox `ip` cannot
 *    create a bond or set its mode, and sysfs works with both ip's. The bond
 *    is named after its link id when that is a valid interface name, else
 *    bondN.
 *  - `vlan`: `vlan_link` (a link id) and `vlan_id`; created with `ip link add
 *    link P name P.ID type vlan id ID` (busybox and iproute2 both take it),
 *    named P.ID (vlanID when longer than 15 characters).
 *  - networks: `ipv4`/`ipv6` give a static `ip_address` (+ `netmask`, or a
 *    /prefix in the address; neither is required by the schema: without an
 *    address only the link comes up, without a mask it is a host address)
 *    and `routes` ({network, netmask, gateway}). `ipv4_dhcp`, `ipv6_dhcp`,
 *    `ipv6_slaac` and Nova's `ipv6_dhcpv6-stateful`/`-stateless`: no address
 *    is made up. On a NIC networkd (on every wired link in dib/coreos; a
 *    NIC whose networks are all IPv6 gets a file of the agent's without
 *    DHCPv4, see networkdUnits) and the kernel's SLAAC do it; tinyipa's rcS starts no DHCP client when the
 *    media carries the document, and the agent starts udhcpc on exactly the
 *    NICs whose link has an ipv4_dhcp network and those no network is on
 *    (not named, as glean does in IPA's ramdisks, or named in `links` only,
 *    as networkd's wired default does in dib/coreos; NetworkPlan.nicDhcp);
 *    a static link gets no DHCP client. On a bond or VLAN, which no ramdisk
 *    client covers, the agent starts DHCP itself: through networkd where it
 *    runs (below), else udhcpc in the background as tinyipa's ramforge-dhcp
 *    starts it (DHCPv4 only: busybox has no DHCPv6 client).
 *  - systemd-networkd (dib, coreos: DHCP on every wired link; found by
 *    networkctl, or by its runtime directory /run/systemd/netif in the
 *    coreos container, which has no systemd but the host's /run): before any
 *    `ip` command, the agent writes a /run/systemd/network/10-ramforge-<dev>.network
 *    per device it configures and has networkd load them (networkctl reload,
 *    systemctl try-restart, or in the coreos container a request the host's
 *    ramforge-networkd-reload.path answers) (networkdUnits()):
 *    bond members and static-only links Unmanaged=yes (no DHCP on a member,
 *    nothing flushed on a reload, a restart or the rescue hand-over), links
 *    with DHCP managed with their static addresses in the file; what
 *    networkd's DHCP took on the unmanaged links before it let go (a lease
 *    at boot) is removed first (networkdLeftoversArgv()).
 *  - DNS: `services` of type dns at the top and per network, plus a
 *    network's `dns_nameservers`/`dns_search`, become <root>/etc/resolv.conf
 *    (under a header line: tinyipa's udhcpc script keeps it until a rescue).
 *  - With udhcpc (tinyipa), the static IPv4 default routes configured are
 *    listed in /run/ramforge/static-default-routes (STATIC_DEFAULTS): the
 *    udhcpc script does not replace them with a lease's router.
 *  - A second run (the agent restarts after a failed lookup): bonds and
 *    VLANs present are reused, members already in their bond are left alone,
 *    an address or route already there counts as configured.
 *  - Nothing usable (no static address applied, no DHCP/SLAAC network on a
 *    present link, or an unusable document): tinyipa's /usr/sbin/ramforge-dhcp
 *    is run once, so the node is not left without network.
 */
import { constants } from 'node:fs';
import { access, mkdir, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { describeError } from './errors.js';
import type { ProgramRunner } from './util/exec.js';
import type { Log } from './util/log.js';

export interface NdLink {
  id: string;
  type: string;
  mac?: string;
  mtu?: number;
  bondLinks?: string[];
  bondMode?: string;
  bondMiimon?: number;
  bondXmitHashPolicy?: string;
  bondLacpRate?: string;
  vlanLink?: string;
  vlanId?: number;
}

export interface NdRoute {
  /** CIDR, "default" for 0.0.0.0/0 and ::/0. */
  dest: string;
  gateway: string;
}

export type NdNetworkType = 'ipv4' | 'ipv6' | 'ipv4_dhcp' | 'ipv6_dhcp' | 'ipv6_slaac' | 'ipv6_dhcpv6-stateful' | 'ipv6_dhcpv6-stateless';

export interface NdNetwork {
  id: string;
  type: NdNetworkType;
  link: string;
  /** address/prefix (or the bare address when the document gives no netmask), static networks only. */
  cidr?: string;
  routes: NdRoute[];
  dns: string[];
  search: string[];
}

export interface NetworkData {
  links: NdLink[];
  networks: NdNetwork[];
  dns: string[];
}

/**
 * ok: the usable part of the document; each link, network, route or DNS
 * entry that could not be used is left out with a warning (glean skips what
 * it cannot use). Refused only when the document as a whole is unusable.
 */
export type ParsedNetworkData = { ok: true; data: NetworkData; warnings: string[] } | { ok: false; reason: string };

const NETWORK_TYPES = new Set<string>([
  'ipv4',
  'ipv6',
  'ipv4_dhcp',
  'ipv6_dhcp',
  'ipv6_slaac',
  // Nova's and metalsmith's names for Neutron's ipv6_address_mode: DHCPv6 with addresses, SLAAC + DHCPv6 for options.
  'ipv6_dhcpv6-stateful',
  'ipv6_dhcpv6-stateless',
]);
/** Networks whose address comes from a DHCP server (the agent starts a client where the ramdisk's does not run). */
export const DHCP_TYPES = new Set<string>(['ipv4_dhcp', 'ipv6_dhcp', 'ipv6_dhcpv6-stateful']);
const BOND_MODES = new Set(['balance-rr', 'active-backup', 'balance-xor', 'broadcast', '802.3ad', 'balance-tlb', 'balance-alb']);
/**
 * Ironic's network-data schema spells LACP "802.1ad" (its bond_mode enum:
 * 802.1ad, balance-rr, active-backup, balance-xor, broadcast, balance-tlb,
 * balance-alb); the kernel's bonding driver calls that mode 802.3ad.
 */
const BOND_MODE_ALIASES: Record<string, string> = { '802.1ad': '802.3ad' };
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

class Bad extends Error {}
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function ipv4ToInt(s: string): number | undefined {
  // No leading zeros: ip (iproute2 and busybox) reads 010 as octal 8, Python's ipaddress (glean) refuses it.
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** Expand an IPv6 address to 8 groups (an embedded IPv4 tail such as ::192.168.81.99 is two), or undefined if it is not one. */
function ipv6Groups(s: string): number[] | undefined {
  const v4 = /^(.*:)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(s);
  if (v4) {
    const n = ipv4ToInt(v4[2]!);
    if (n === undefined) return undefined;
    // The dotted quad stands for the last two groups.
    const head = v4[1]!.endsWith('::') ? v4[1]! : v4[1]!.slice(0, -1);
    return ipv6Groups(`${head}${head.endsWith('::') ? '' : ':'}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`);
  }
  if (!/^[0-9a-f:]+$/i.test(s) || (s.match(/::/g) ?? []).length > 1) return undefined;
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  if (fill < 0 || (tail === undefined && h.length !== 8)) return undefined;
  const groups = [...h, ...Array<string>(fill).fill('0'), ...t];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return undefined;
  return groups.map((g) => parseInt(g, 16));
}

/** Prefix length of a netmask ("255.255.255.0", "ffff:ffff::", or "24"), undefined if not a contiguous mask. */
export function prefixLength(mask: string, family: 4 | 6): number | undefined {
  if (/^\d{1,3}$/.test(mask)) {
    const n = Number(mask);
    return n <= (family === 4 ? 32 : 128) ? n : undefined;
  }
  let bits: string | undefined;
  if (family === 4) bits = ipv4ToInt(mask)?.toString(2).padStart(32, '0');
  else
    bits = ipv6Groups(mask)
      ?.map((g) => g.toString(2).padStart(16, '0'))
      .join('');
  if (bits === undefined || /01/.test(bits)) return undefined;
  return bits.indexOf('0') < 0 ? bits.length : bits.indexOf('0');
}

const isIp = (s: string, family: 4 | 6): boolean => (family === 4 ? ipv4ToInt(s) !== undefined : ipv6Groups(s) !== undefined);

function str(o: Record<string, unknown>, key: string, at: string, required = false): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw new Bad(`${at}.${key}: missing`);
    return undefined;
  }
  if (typeof v !== 'string' || !v) throw new Bad(`${at}.${key}: expected a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function int(o: Record<string, unknown>, key: string, at: string, max: number): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > max) {
    throw new Bad(`${at}.${key}: expected a whole number 0-${max}, got ${JSON.stringify(v)}`);
  }
  return n;
}

/** The DNS servers of a services list; a bad entry is skipped with a warning. */
function dnsOf(services: unknown, at: string, warnings: string[]): string[] {
  if (services === undefined || services === null) return [];
  if (!Array.isArray(services)) {
    warnings.push(`${at}: expected a list; skipped`);
    return [];
  }
  const out: string[] = [];
  for (const [i, s] of services.entries()) {
    try {
      if (!isObj(s)) throw new Bad(`${at}[${i}]: expected an object`);
      if (s.type !== 'dns') continue;
      const a = str(s, 'address', `${at}[${i}]`, true)!;
      if (!isIp(a, 4) && !isIp(a, 6)) throw new Bad(`${at}[${i}].address: not an IP address: ${JSON.stringify(a)}`);
      out.push(a);
    } catch (e) {
      if (!(e instanceof Bad)) throw e;
      warnings.push(`${e.message}; this DNS server is skipped`);
    }
  }
  return out;
}

function stringList(v: unknown, at: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new Bad(`${at}: expected a list of strings`);
  return v as string[];
}

function parseLink(l: unknown, at: string): NdLink {
  if (!isObj(l)) throw new Bad(`${at}: expected an object`);
  const link: NdLink = { id: str(l, 'id', at, true)!, type: str(l, 'type', at) ?? 'phy' };
  const given = str(l, 'ethernet_mac_address', at);
  // Ironic's network-data schema allows "-" between the octets too.
  const mac = given?.replace(/-/g, ':');
  if (mac !== undefined && !MAC.test(mac)) throw new Bad(`${at}.ethernet_mac_address: not a MAC address: ${JSON.stringify(given)}`);
  if (mac) link.mac = mac.toLowerCase();
  const mtu = int(l, 'mtu', at, 65535);
  if (mtu !== undefined) link.mtu = mtu;
  if (link.type === 'bond') {
    link.bondLinks = stringList(l.bond_links, `${at}.bond_links`);
    if (!link.bondLinks.length) throw new Bad(`${at}.bond_links: a bond needs at least one member link`);
    const given = str(l, 'bond_mode', at);
    const mode = given === undefined ? undefined : (BOND_MODE_ALIASES[given] ?? given);
    if (mode !== undefined && !BOND_MODES.has(mode) && !/^[0-6]$/.test(mode)) {
      throw new Bad(
        `${at}.bond_mode: unknown bonding mode ${JSON.stringify(given)} (one of ${[...BOND_MODES, ...Object.keys(BOND_MODE_ALIASES)].join(', ')})`,
      );
    }
    if (mode) link.bondMode = mode;
    const miimon = int(l, 'bond_miimon', at, 1_000_000);
    if (miimon !== undefined) link.bondMiimon = miimon;
    const hash = str(l, 'bond_xmit_hash_policy', at);
    if (hash) link.bondXmitHashPolicy = hash;
    const lacp = str(l, 'bond_lacp_rate', at);
    if (lacp) link.bondLacpRate = lacp;
  } else if (link.type === 'vlan') {
    link.vlanLink = str(l, 'vlan_link', at, true);
    link.vlanId = int(l, 'vlan_id', at, 4094);
    if (link.vlanId === undefined || link.vlanId < 1) throw new Bad(`${at}.vlan_id: expected 1-4094`);
    const vmacGiven = str(l, 'vlan_mac_address', at);
    const vmac = vmacGiven?.replace(/-/g, ':');
    if (vmac && !link.mac) {
      if (!MAC.test(vmac)) throw new Bad(`${at}.vlan_mac_address: not a MAC address: ${JSON.stringify(vmacGiven)}`);
      link.mac = vmac.toLowerCase();
    }
  }
  return link;
}

function parseRoute(r: unknown, at: string, family: 4 | 6): NdRoute {
  if (!isObj(r)) throw new Bad(`${at}: expected an object`);
  const network = str(r, 'network', at, true)!;
  const gateway = str(r, 'gateway', at, true)!;
  if (!isIp(network, family)) throw new Bad(`${at}.network: not an IPv${family} address: ${JSON.stringify(network)}`);
  // Without a netmask only the default route is unambiguous (Ironic's schema requires one): taking 0 for any
  // network made `{network: 172.16.0.0, gateway: ...}` the default route.
  const isAny = family === 4 ? network === '0.0.0.0' : /^[0:]+$/.test(network);
  const mask = str(r, 'netmask', at) ?? (isAny ? (family === 4 ? '0.0.0.0' : '0') : undefined);
  if (mask === undefined) throw new Bad(`${at}.netmask: missing, and network ${network} is not the default route's`);
  if (!isIp(gateway, family)) throw new Bad(`${at}.gateway: not an IPv${family} address: ${JSON.stringify(gateway)}`);
  const prefix = prefixLength(mask, family);
  if (prefix === undefined) throw new Bad(`${at}.netmask: not a netmask: ${JSON.stringify(mask)}`);
  return { dest: prefix === 0 ? 'default' : `${network}/${prefix}`, gateway };
}

function parseNetwork(n: unknown, at: string, linkIds: Set<string>, warnings: string[]): NdNetwork {
  if (!isObj(n)) throw new Bad(`${at}: expected an object`);
  const type = str(n, 'type', at, true)!;
  if (!NETWORK_TYPES.has(type))
    throw new Bad(`${at}.type: unknown network type ${JSON.stringify(type)} (${[...NETWORK_TYPES].join(', ')})`);
  const link = str(n, 'link', at, true)!;
  if (!linkIds.has(link)) throw new Bad(`${at}.link: no (usable) link with id ${JSON.stringify(link)}`);
  const net: NdNetwork = {
    id: str(n, 'id', at) ?? at,
    type: type as NdNetworkType,
    link,
    routes: [],
    dns: [...dnsOf(n.services, `${at}.services`, warnings), ...stringList(n.dns_nameservers, `${at}.dns_nameservers`)],
    search: stringList(n.dns_search, `${at}.dns_search`),
  };
  if (type === 'ipv4' || type === 'ipv6') {
    const family = type === 'ipv4' ? 4 : 6;
    // Ironic's schema requires neither ip_address nor netmask: without an address only the link comes up.
    const raw = str(n, 'ip_address', at);
    if (raw === undefined) {
      warnings.push(`${at}: an ${type} network without ip_address; no address or route is configured for it (its link still comes up)`);
      return net;
    }
    const [addr, inlinePrefix] = raw.split('/');
    if (!isIp(addr!, family)) throw new Bad(`${at}.ip_address: not an IPv${family} address: ${JSON.stringify(raw)}`);
    const mask = inlinePrefix ?? str(n, 'netmask', at);
    if (mask === undefined) {
      // What `ip addr add` does with a bare address: a host address (/32, /128), no on-link subnet.
      warnings.push(`${at}: no netmask (and no /prefix in ip_address); ${addr} is added as a host address (/${family === 4 ? 32 : 128})`);
      net.cidr = `${addr}/${family === 4 ? 32 : 128}`;
    } else {
      const prefix = prefixLength(mask, family);
      if (prefix === undefined) throw new Bad(`${at}.netmask: not a netmask: ${JSON.stringify(mask)}`);
      net.cidr = `${addr}/${prefix}`;
    }
    if (n.routes !== undefined && n.routes !== null && !Array.isArray(n.routes)) {
      warnings.push(`${at}.routes: expected a list; no route is configured for this network`);
    } else {
      for (const [i, r] of ((n.routes as unknown[] | undefined) ?? []).entries()) {
        try {
          net.routes.push(parseRoute(r, `${at}.routes[${i}]`, family));
        } catch (e) {
          if (!(e instanceof Bad)) throw e;
          warnings.push(`${e.message}; this route is skipped`);
        }
      }
    }
  }
  return net;
}

/**
 * Check a network_data.json text. Refused (with the reason) only when it is
 * not a JSON object with a list of links; a bad link, network, route or DNS
 * entry is left out with a warning naming its JSON path, and so is what sits
 * on a left-out link (a VLAN on it, its networks; a bond keeps its other members).
 */
export function parseNetworkData(text: string): ParsedNetworkData {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: `not valid JSON: ${(e as Error).message}` };
  }
  if (!isObj(doc)) return { ok: false, reason: 'expected a JSON object with "links" and "networks"' };
  if (!Array.isArray(doc.links)) return { ok: false, reason: 'links: expected a list' };
  const warnings: string[] = [];
  const skip = (e: unknown, what: string): void => {
    if (!(e instanceof Bad)) throw e;
    warnings.push(`${e.message}; ${what} is skipped`);
  };
  let links: Array<{ link: NdLink; at: string }> = [];
  const ids = new Set<string>();
  for (const [i, l] of doc.links.entries()) {
    const at = `links[${i}]`;
    try {
      const link = parseLink(l, at);
      if (ids.has(link.id)) throw new Bad(`${at}: the id ${JSON.stringify(link.id)} is used twice`);
      ids.add(link.id);
      links.push({ link, at });
    } catch (e) {
      skip(e, 'this link');
    }
  }
  // References: until nothing changes, as a VLAN may sit on a bond that loses all its members.
  for (let changed = true; changed; ) {
    changed = false;
    const kept: typeof links = [];
    for (const { link: l, at } of links) {
      const missing = (l.bondLinks ?? []).filter((m) => !ids.has(m));
      if (missing.length) {
        warnings.push(
          `${at}.bond_links: no (usable) link with id ${missing.map((m) => JSON.stringify(m)).join(', ')}; left out of the bond`,
        );
        l.bondLinks = l.bondLinks!.filter((m) => ids.has(m));
      }
      let bad: string | undefined;
      if (l.bondLinks && !l.bondLinks.length) bad = `${at}.bond_links: none of the bond's links is usable`;
      if (l.vlanLink !== undefined && !ids.has(l.vlanLink)) bad = `${at}.vlan_link: no (usable) link with id ${JSON.stringify(l.vlanLink)}`;
      if (bad) {
        warnings.push(`${bad}; this link is skipped`);
        ids.delete(l.id);
        changed = true;
      } else kept.push({ link: l, at });
    }
    links = kept;
  }
  const networks: NdNetwork[] = [];
  if (doc.networks !== undefined && doc.networks !== null && !Array.isArray(doc.networks))
    warnings.push('networks: expected a list; skipped');
  else {
    for (const [i, n] of ((doc.networks as unknown[] | undefined) ?? []).entries()) {
      try {
        networks.push(parseNetwork(n, `networks[${i}]`, ids, warnings));
      } catch (e) {
        skip(e, 'this network');
      }
    }
  }
  return { ok: true, data: { links: links.map((l) => l.link), networks, dns: dnsOf(doc.services, 'services', warnings) }, warnings };
}

/**
 * One step of a plan: run a program (argv), write a value into a file
 * (sysfs, resolv.conf), or start a DHCP client on a device the ramdisk's own
 * client does not cover (a bond or VLAN the agent made): how depends on the
 * ramdisk (networkd or udhcpc, see startDhcp()).
 * `exists`: a failure saying the object is there already (EEXIST) counts as done.
 */
/** A sysfs write; on EBUSY (the device came up meanwhile) the device is set down and the write tried again, up to 5 times. */
export async function writeRetryingDown(
  a: { write: string; value: string; downOnBusy?: string },
  run: ProgramRunner,
  write: (path: string, value: string) => Promise<void> = writeFile,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await write(a.write, a.value);
      return;
    } catch (e) {
      if (!a.downOnBusy || (e as NodeJS.ErrnoException).code !== 'EBUSY' || attempt >= 5) throw e;
      await run(['ip', 'link', 'set', a.downOnBusy, 'down']);
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

export type NetAction =
  | { run: string[]; optional?: boolean; exists?: boolean }
  /** `downOnBusy`: a device to set down and write again when the write fails with EBUSY (a bond's mode and options). */
  | { write: string; value: string; downOnBusy?: string }
  | { dhcp: string; families: Array<4 | 6> };

export interface NetworkPlan {
  actions: NetAction[];
  /** Link id → the interface name it became. */
  devices: Record<string, string>;
  /** What could not be planned (a MAC with no interface): logged, the rest still applies. */
  warnings: string[];
  /** DHCP/SLAAC networks on physical links, left to the ramdisk's own client (networkd) and the kernel: device → types. */
  leftToRamdisk: Record<string, string[]>;
  /**
   * Physical interfaces that get DHCPv4 where no DHCP client runs on every
   * wired link (tinyipa: its rcS starts none when the media carries the
   * document): those whose link has an ipv4_dhcp network, then those no
   * network of the document is on (not named by a link, or named by one
   * that no network uses: networkd's wired default gives both DHCP in dib
   * and coreos), bond members excepted. The agent starts udhcpc on them
   * (applyNetworkPlan); networkd covers them already.
   */
  nicDhcp: string[];
  /**
   * What systemd-networkd must be told (dib, coreos: networkd runs DHCP on
   * every wired link): one .network file per device the agent configures,
   * written and loaded before the plan's actions run (see networkdUnits()).
   */
  networkd: NetworkdUnit[];
}

/** A physical interface: its name, its (permanent) MAC, and the bond it is a member of, if any. */
export interface HostInterface {
  name: string;
  mac: string;
  master?: string;
}

/**
 * The actions that configure `data` on a host with the physical `interfaces`
 * (name, permanent MAC, master). `sysfs` is where /sys/class/net is,
 * `resolvConf` the file to write; `existing` names every interface present
 * (bonds and VLANs of an earlier run of the agent are reused, not made again).
 */
export function planNetwork(
  data: NetworkData,
  interfaces: ReadonlyArray<HostInterface>,
  paths: { sysfs: string; resolvConf: string } = { sysfs: '/sys/class/net', resolvConf: '/etc/resolv.conf' },
  existing: ReadonlyArray<string> = [],
): NetworkPlan {
  const warnings: string[] = [];
  const devices: Record<string, string> = {};
  // The first interface with a MAC wins (a bond's members may all carry one MAC; the permanent one is asked for).
  const byMac = new Map<string, string>();
  for (const i of interfaces) if (!byMac.has(i.mac.toLowerCase())) byMac.set(i.mac.toLowerCase(), i.name);
  const masterOf = new Map(interfaces.map((i) => [i.name, i.master]));
  const present = new Set(existing);
  const linkById = new Map(data.links.map((l) => [l.id, l]));
  let bondN = 0;
  // Names first: physical links, bonds of present members, then VLANs on top of them (a VLAN may sit on a bond).
  for (const l of data.links) {
    if (l.type === 'bond' || l.type === 'vlan') continue;
    const dev = l.mac ? byMac.get(l.mac) : undefined;
    if (dev) devices[l.id] = dev;
    else warnings.push(`link ${l.id}: no interface with MAC ${l.mac ?? '(none given)'}; it and what sits on it are not configured`);
  }
  for (const l of data.links) {
    if (l.type !== 'bond') continue;
    if (!l.bondLinks!.some((m) => devices[m])) {
      warnings.push(`bond ${l.id}: none of its links (${l.bondLinks!.join(', ')}) is present; the bond is skipped`);
      continue;
    }
    devices[l.id] = IFNAME.test(l.id) && !interfaces.some((i) => i.name === l.id) ? l.id : `bond${bondN++}`;
  }
  for (const l of data.links) {
    if (l.type !== 'vlan') continue;
    const parent = devices[l.vlanLink!];
    if (!parent) {
      warnings.push(`link ${l.id}: its vlan_link ${l.vlanLink} is not configured; the VLAN is skipped`);
      continue;
    }
    // Interface names have 15 characters: a long parent's VLAN is vlan<id>, and the same id on another parent then
    // vlan<id>-<n> (two links in one device would put both subnets on the first parent's VLAN).
    const taken = new Set(Object.values(devices));
    let name = `${parent}.${l.vlanId}`;
    if (name.length > 15) name = `vlan${l.vlanId}`;
    for (let n = 1; taken.has(name); n++) name = `vlan${l.vlanId}-${n}`;
    devices[l.id] = name;
  }

  const actions: NetAction[] = [];
  const bonds = data.links.filter((l) => l.type === 'bond' && devices[l.id]);
  const newBonds = bonds.filter((b) => !present.has(devices[b.id]!));
  // max_bonds=0: loading the driver must not create a bond0 of its own (writing +bond0 would then fail with EEXIST).
  if (newBonds.length) actions.push({ run: ['modprobe', 'bonding', 'max_bonds=0'], optional: true });
  const memberOf = new Map<string, string>();
  for (const b of bonds) {
    const name = devices[b.id]!;
    const members = b.bondLinks!.map((m) => devices[m]).filter((d): d is string => !!d);
    for (const m of members) memberOf.set(m, name);
    const sys = (f: string): string => join(paths.sysfs, name, 'bonding', f);
    if (!present.has(name)) {
      actions.push({ write: join(paths.sysfs, 'bonding_masters'), value: `+${name}` });
      // The mode and its options must be set while the bond is down and has no members. A new bond is down, unless
      // networkd manages it (the agent's DHCP .network for it is loaded first) and brought it up as it appeared:
      // then writing the mode fails with EBUSY (seen on coreos). networkd does not bring up again a link set down,
      // but it may do its first bring-up only after this down (it acts on the kernel's and udev's events in its
      // own time): each write is tried again after another down (downOnBusy).
      actions.push({ run: ['ip', 'link', 'set', name, 'down'] });
      if (b.bondMode) actions.push({ write: sys('mode'), value: b.bondMode, downOnBusy: name });
      if (b.bondMiimon !== undefined) actions.push({ write: sys('miimon'), value: String(b.bondMiimon), downOnBusy: name });
      if (b.bondXmitHashPolicy) actions.push({ write: sys('xmit_hash_policy'), value: b.bondXmitHashPolicy, downOnBusy: name });
      if (b.bondLacpRate) actions.push({ write: sys('lacp_rate'), value: b.bondLacpRate, downOnBusy: name });
    }
    for (const m of members) {
      // A second run of the agent: a member already in this bond is left alone (no flap).
      if (masterOf.get(m) === name) continue;
      // A udhcpc on a member (ramforge-dhcp's, or an older rcS's) goes: a member keeps no client and no lease of
      // its own (the bond's DHCP, if any, is the agent's). A no-op without that pid file.
      actions.push({ run: udhcpcStopArgv(m), optional: true });
      // The kernel only enslaves a link that is down.
      actions.push({ run: ['ip', 'link', 'set', m, 'down'] });
      actions.push({ write: sys('slaves'), value: `+${m}` });
    }
    if (b.mac) actions.push({ run: ['ip', 'link', 'set', name, 'address', b.mac] });
  }
  const up = (l: NdLink): void => {
    const dev = devices[l.id];
    if (!dev) return;
    if (l.mtu) actions.push({ run: ['ip', 'link', 'set', dev, 'mtu', String(l.mtu)] });
    actions.push({ run: ['ip', 'link', 'set', dev, 'up'] });
  };
  // Members and plain links up, then the bonds, then VLANs on them.
  for (const l of data.links) if (l.type !== 'bond' && l.type !== 'vlan') up(l);
  for (const l of bonds) up(l);
  const vlans = data.links.filter((l) => l.type === 'vlan' && devices[l.id]);
  if (vlans.some((l) => !present.has(devices[l.id]!))) actions.push({ run: ['modprobe', '8021q'], optional: true });
  for (const l of vlans) {
    const parent = devices[l.vlanLink!]!;
    if (!present.has(devices[l.id]!))
      actions.push({
        run: ['ip', 'link', 'add', 'link', parent, 'name', devices[l.id]!, 'type', 'vlan', 'id', String(l.vlanId)],
        exists: true,
      });
    if (l.mac && l.mac !== linkById.get(l.vlanLink!)?.mac) actions.push({ run: ['ip', 'link', 'set', devices[l.id]!, 'address', l.mac] });
    up(l);
  }
  const dns = [...data.dns];
  const search: string[] = [];
  const dhcp = new Map<string, Set<4 | 6>>();
  const leftToRamdisk: Record<string, string[]> = {};
  const nicDhcp: string[] = [];
  const statics = new Map<string, { addresses: string[]; routes: NdRoute[] }>();
  for (const n of data.networks) {
    const dev = devices[n.link];
    if (!dev) continue;
    for (const d of n.dns) if (!dns.includes(d)) dns.push(d);
    for (const s of n.search) if (!search.includes(s)) search.push(s);
    if (n.type !== 'ipv4' && n.type !== 'ipv6') {
      const type = linkById.get(n.link)!.type;
      if (DHCP_TYPES.has(n.type) && (type === 'bond' || type === 'vlan')) {
        // No DHCP client of the ramdisk runs there (tinyipa's starts on devices with /device, before the bond exists;
        // networkd's 80-ramforge-wired.network matches Type=ether only): the agent starts one.
        const fams = dhcp.get(dev) ?? new Set<4 | 6>();
        fams.add(n.type === 'ipv4_dhcp' ? 4 : 6);
        dhcp.set(dev, fams);
      } else {
        (leftToRamdisk[dev] ??= []).push(n.type);
        if (n.type === 'ipv4_dhcp' && !nicDhcp.includes(dev)) nicDhcp.push(dev);
      }
      continue;
    }
    if (!n.cidr) continue;
    const st = statics.get(dev) ?? { addresses: [], routes: [] };
    if (!st.addresses.includes(n.cidr)) st.addresses.push(n.cidr);
    for (const r of n.routes) if (!st.routes.some((x) => x.dest === r.dest && x.gateway === r.gateway)) st.routes.push(r);
    statics.set(dev, st);
    const fam = n.type === 'ipv6' ? '-6' : '-4';
    actions.push({ run: ['ip', fam, 'addr', 'add', n.cidr, 'dev', dev], exists: true });
    for (const r of n.routes) actions.push({ run: ['ip', fam, 'route', 'add', r.dest, 'via', r.gateway, 'dev', dev], exists: true });
  }
  for (const [dev, fams] of dhcp) actions.push({ dhcp: dev, families: [...fams].sort() });
  if (dns.length) {
    const lines = [
      '# written by the ramforge agent from network_data.json',
      ...(search.length ? [`search ${search.join(' ')}`] : []),
      ...dns.map((d) => `nameserver ${d}`),
    ];
    actions.push({ write: paths.resolvConf, value: `${lines.join('\n')}\n` });
  }
  // A NIC no network of the document is on gets DHCP, as networkd's wired default gives it in dib and coreos (no
  // file of the agent's matches it there): one the document does not name (by its MAC; glean gives those DHCP too in
  // IPA's ramdisks), and one named in `links` only, or only as a VLAN's parent (glean brings that one up without an
  // address). A bond member (in sysfs, or made one by this plan) stays as it is.
  const onNetwork = new Set(data.networks.map((n) => devices[n.link]).filter((d): d is string => !!d));
  for (const i of interfaces)
    if (!onNetwork.has(i.name) && !i.master && !memberOf.has(i.name) && !nicDhcp.includes(i.name)) nicDhcp.push(i.name);
  const networkd = networkdUnits({ memberOf, statics, dhcp, leftToRamdisk, nics: new Set(interfaces.map((i) => i.name)) });
  return { actions, devices, warnings, leftToRamdisk, nicDhcp, networkd };
}

/** One systemd-networkd .network file the agent writes for a device (a member, a static or an agent-DHCP link). */
export interface NetworkdUnit {
  dev: string;
  /** Unmanaged=yes: networkd leaves the device alone (the agent's `ip` configuration is all it gets). */
  unmanaged: boolean;
  content: string;
}

const HEADER = '# written by the ramforge agent from network_data.json';

/**
 * The .network files that keep systemd-networkd (dib and coreos run it with
 * DHCP on every wired link: 80-ramforge-wired.network) from fighting what
 * the agent configures from network_data.json. Each sorts before that file
 * (10-ramforge-<dev>.network; networkd takes the first file that matches):
 *  - a bond member: Unmanaged=yes. networkd runs no DHCP on it, does not
 *    flush it, and does not take it down or out of its bond on a reload or
 *    a restart; the agent enslaved it through sysfs. (The other way, a
 *    `Bond=` file, needs a matching .netdev, and networkd would then own the
 *    bond's mode and options too: two writers of one bond.)
 *  - a link with static addresses only (a NIC, a bond, a VLAN): Unmanaged=yes
 *    for the same reasons; its addresses and routes stay exactly as the
 *    agent's `ip` commands set them, across a `networkctl reload`, a restart
 *    of networkd, or the rescue hand-over's restart (which flushes managed
 *    links only).
 *  - a link with DHCP as well (the agent's DHCP on a bond or VLAN, or a NIC
 *    with both a static and a DHCP network): managed, with DHCP= and its
 *    static Address=/[Route] sections, so networkd, which owns the link,
 *    keeps those on a reload or restart too (KeepConfiguration=static keeps
 *    them when networkd stops).
 *  - a NIC with IPv6 networks only (SLAAC, DHCPv6), no static one: managed,
 *    DHCP=ipv6 or no, router advertisements accepted (no DHCPv4, as glean
 *    and tinyipa's udhcpc give it none).
 * A NIC with an ipv4_dhcp network and no static one stays with
 * 80-ramforge-wired.network.
 */
export function networkdUnits(p: {
  memberOf: ReadonlyMap<string, string>;
  statics: ReadonlyMap<string, { addresses: string[]; routes: NdRoute[] }>;
  dhcp: ReadonlyMap<string, ReadonlySet<4 | 6>>;
  leftToRamdisk: Readonly<Record<string, string[]>>;
  /** The physical NICs (the only links networkd's wired default matches). */
  nics: ReadonlySet<string>;
}): NetworkdUnit[] {
  const units: NetworkdUnit[] = [];
  const match = (dev: string): string[] => ['[Match]', `Name=${dev}`, ''];
  const unmanaged = (dev: string, why: string): NetworkdUnit => ({
    dev,
    unmanaged: true,
    content: [`${HEADER}: ${why}; networkd leaves it alone`, ...match(dev), '[Link]', 'Unmanaged=yes', ''].join('\n'),
  });
  for (const [dev, bond] of p.memberOf) units.push(unmanaged(dev, `a member of ${bond}, enslaved by the agent`));
  // A NIC whose networks are all IPv6 (SLAAC, DHCPv6) gets no DHCPv4, as with glean in IPA's ramdisks and with
  // tinyipa's udhcpc (NetworkPlan.nicDhcp): networkd's wired default would run it there, so it gets a file too.
  const v6Only = Object.entries(p.leftToRamdisk)
    .filter(([dev, types]) => p.nics.has(dev) && !types.includes('ipv4_dhcp'))
    .map(([dev]) => dev);
  const devs = new Set([...p.statics.keys(), ...p.dhcp.keys(), ...v6Only]);
  for (const dev of devs) {
    if (p.memberOf.has(dev)) continue;
    const st = p.statics.get(dev) ?? { addresses: [], routes: [] };
    const fams = new Set<4 | 6>(p.dhcp.get(dev) ?? []);
    for (const t of p.leftToRamdisk[dev] ?? []) {
      if (t === 'ipv4_dhcp') fams.add(4);
      else if (DHCP_TYPES.has(t)) fams.add(6);
    }
    if (!fams.size && !(p.leftToRamdisk[dev] ?? []).length) {
      units.push(unmanaged(dev, `static addresses ${st.addresses.join(', ')}, set by the agent`));
      continue;
    }
    const dhcp = fams.size === 2 ? 'yes' : fams.has(4) ? 'ipv4' : fams.has(6) ? 'ipv6' : 'no';
    const lines = [
      `${HEADER}: ${fams.size ? 'DHCP' : 'SLAAC'}${st.addresses.length ? ' and static addresses' : ''} on ${dev}`,
      ...match(dev),
      '[Network]',
      `DHCP=${dhcp}`,
      'LinkLocalAddressing=yes',
      'IPv6AcceptRA=yes',
      // Addresses and routes set statically (here and by the agent's ip) stay when networkd stops or restarts.
      'KeepConfiguration=static',
      ...st.addresses.map((a) => `Address=${a}`),
      '',
    ];
    for (const r of st.routes) {
      lines.push('[Route]', ...(r.dest === 'default' ? [] : [`Destination=${r.dest}`]), `Gateway=${r.gateway}`, '');
    }
    lines.push('[DHCPv4]', 'ClientIdentifier=mac', 'UseDomains=yes', '');
    units.push({ dev, unmanaged: false, content: lines.join('\n') });
  }
  return units;
}

/**
 * Every interface name under <sysfs>, and the physical ones (those with a
 * <sysfs>/<name>/device link) with their MAC: a bond member's permanent one
 * (bonding_slave/perm_hwaddr) where the bond changed its address, else
 * <name>/address. Bonds and VLANs carry a member's or their parent's MAC,
 * so only physical interfaces are matched against the document's MACs.
 */
export async function listInterfaces(sysfs: string): Promise<{ physical: HostInterface[]; all: string[] }> {
  const physical: HostInterface[] = [];
  const all: string[] = [];
  const read = (...p: string[]): Promise<string> =>
    readFile(join(sysfs, ...p), 'utf8')
      .then((s) => s.trim().toLowerCase())
      .catch(() => '');
  for (const name of (await readdir(sysfs).catch(() => [] as string[])).sort()) {
    if (name === 'lo' || name === 'bonding_masters') continue;
    all.push(name);
    if (
      !(await stat(join(sysfs, name, 'device')).then(
        () => true,
        () => false,
      ))
    )
      continue;
    const perm = await read(name, 'bonding_slave', 'perm_hwaddr');
    const mac = MAC.test(perm) ? perm : await read(name, 'address');
    if (!MAC.test(mac) || mac === '00:00:00:00:00:00') continue;
    const master = await readlink(join(sysfs, name, 'master')).then(
      (t) => basename(t),
      () => undefined,
    );
    physical.push(master ? { name, mac, master } : { name, mac });
  }
  return { physical, all };
}

/** How the agent starts a DHCP client on a device it made: networkd where networkctl exists (dib, coreos), else udhcpc (tinyipa). */
export type DhcpMethod = 'networkd' | 'udhcpc';

/** Where the agent's .network file for a device goes (sorts before the ramdisk's 80-ramforge-wired.network; /run: this boot only). */
export const networkdUnitPath = (root: string, dev: string): string => join(root, 'run/systemd/network', `10-ramforge-${dev}.network`);

/**
 * Where the agent asks the host to load its networkd files when it can run
 * neither networkctl nor systemctl (the coreos container): the host's
 * ramforge-networkd-reload.path (cloud-config/cloud-config.yml) watches it.
 */
export const NETWORKD_RELOAD_REQUEST = 'run/ramforge/networkd-reload';

/** networkd's state file for a link (ADMIN_STATE=unmanaged once it has let go of it), by interface index. */
const networkdLinkState = (root: string, ifindex: string): string => join(root, 'run/systemd/netif/links', ifindex);

/**
 * udhcpc in the background on one device, as tinyipa's ramforge-dhcp starts
 * it (same script and options, pid file /run/udhcpc.<dev>.pid); left alone
 * when that pid file names a running client (a second run of the agent).
 */
export function udhcpcArgv(dev: string): string[] {
  const script = [
    'command -v udhcpc >/dev/null || { echo "udhcpc: not found" >&2; exit 127; }',
    'pidfile=/run/udhcpc.$1.pid',
    '[ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && { echo running; exit 0; }',
    'udhcpc -i "$1" -s /usr/share/udhcpc/default.script -b -t 10 -T 2 -A 10 -O mtu -x hostname:"$(hostname)" -p "$pidfile" >/dev/null 2>&1 &',
    'echo started',
  ].join('\n');
  return ['sh', '-c', script, 'ramforge-dhcp', dev];
}

/**
 * Stop the udhcpc that tinyipa's ramforge-dhcp started on a device about to become a bond member (its pid file):
 * every IPv4 address of the device goes (a member carries none), and the lease file with them.
 */
export function udhcpcStopArgv(dev: string): string[] {
  const script = [
    'pidfile=/run/udhcpc.$1.pid',
    '[ -s "$pidfile" ] || exit 0',
    'kill "$(cat "$pidfile")" 2>/dev/null',
    'rm -f "$pidfile" /run/udhcpc.$1.lease',
    'ip -4 addr flush dev "$1"',
  ].join('\n');
  return ['sh', '-c', script, 'ramforge-dhcp-stop', dev];
}

const isExists = (e: unknown): boolean =>
  /File exists|EEXIST|already assigned/i.test(`${describeError(e)} ${(e as { stderr?: string }).stderr ?? ''}`);

/**
 * A destination or gateway in one form for comparing what `ip route add` was given with what `ip route show`
 * prints: 0/0 as default, a host prefix without its length, IPv6 as its eight groups (ipv6Groups: the short
 * form ip prints and the long one a document may give compare equal).
 */
function routeDest(dest: string): string {
  if (dest === 'default' || dest === '0.0.0.0/0' || dest === '::/0') return 'default';
  const [ip = '', len] = dest.split('/');
  const v6 = ip.includes(':');
  const addr = v6
    ? (ipv6Groups(ip)
        ?.map((g) => g.toString(16))
        .join(':') ?? ip.toLowerCase())
    : ip;
  return len === undefined || len === (v6 ? '128' : '32') ? addr : `${addr}/${len}`;
}

/** Route types `ip route show` may print before the destination. */
const ROUTE_TYPES = new Set([
  'unicast',
  'blackhole',
  'unreachable',
  'prohibit',
  'throw',
  'local',
  'broadcast',
  'multicast',
  'anycast',
  'nat',
]);

/**
 * After `ip route add DEST via GW dev DEV` answered "File exists": whether
 * that very route is in `listing` (the output of `ip -4|-6 route show`,
 * busybox's or iproute2's): same destination, gateway and device, at the
 * metric `ip route add` gives without one (IPv4 0, printed as none; IPv6
 * 1024), as a route of its own or one next hop of a multipath route; and
 * the routes to DEST that are there instead (another link's default route,
 * the same destination through another gateway or at another metric, a
 * blackhole: the kernel keeps one route per destination and metric).
 */
export function findRoute(listing: string, argv: readonly string[]): { present: boolean; sameDest: string[] } {
  const v6 = argv[1] === '-6';
  const dest = routeDest(argv[4] ?? '');
  const via = routeDest(argv[6] ?? '');
  const dev = argv[8];
  // One entry per route: its own line plus the `nexthop ...` lines printed under it.
  const routes: { line: string; hops: string[][] }[] = [];
  for (const raw of listing.split('\n')) {
    const t = raw.trim().split(/\s+/).filter(Boolean);
    if (!t.length) continue;
    if (t[0] === 'nexthop' && routes.length) {
      const r = routes[routes.length - 1]!;
      r.line += ` ${raw.trim()}`;
      r.hops.push(t);
    } else routes.push({ line: raw.trim(), hops: [t] });
  }
  const at = (t: string[], k: string) => {
    const i = t.indexOf(k);
    return i >= 0 ? t[i + 1] : undefined;
  };
  const sameDest: string[] = [];
  for (const r of routes) {
    const head = [...r.hops[0]!];
    const type = ROUTE_TYPES.has(head[0]!) ? head.shift() : 'unicast';
    if (!head[0] || routeDest(head[0]) !== dest) continue;
    const metric = at(head, 'metric'); // iproute2 prints none for 0
    const defaultMetric = metric === undefined || metric === (v6 ? '1024' : '0');
    const hops = r.hops.length > 1 ? r.hops.slice(1) : [head];
    const here = hops.some((h) => {
      const gw = at(h, 'via');
      // A multipath hop may carry the device of the route line.
      return gw !== undefined && routeDest(gw) === via && (at(h, 'dev') ?? at(head, 'dev')) === dev;
    });
    if (type === 'unicast' && defaultMetric && here) return { present: true, sameDest: [] };
    sameDest.push(r.line);
  }
  return { present: false, sameDest };
}

/**
 * Where the agent lists the static IPv4 default routes it configured from
 * network_data.json, one `<dev> <gateway>` line each (tinyipa: udhcpc, no
 * networkd). tinyipa's udhcpc script (/usr/share/udhcpc/default.script)
 * reads it: on a link listed there a lease's router does not replace the
 * static default route (the lease's address is still added); on other links
 * the lease's routers are added as before, where the kernel refuses a second
 * default route at the same metric, so the static one stays the default.
 * Written before the first DHCP client starts, on every run of the agent
 * (removed when there is none); a route that failed is not listed, so DHCP
 * can give that link its default route. Kept after a rescue, as the static
 * links are.
 */
export const STATIC_DEFAULTS = 'run/ramforge/static-default-routes';

const defaultRouteLine = (run: string[]): string => `${run[8]} ${run[6]}`;

/** What applyNetworkPlan did. */
export interface ApplyResult {
  failed: number;
  /** Static addresses configured (added now or already there), as "cidr on dev". */
  addresses: string[];
  /** DHCP clients the agent started (or found running), as "dev (how)". */
  dhcpStarted: string[];
}

/**
 * Run a plan: every action in order; a failure is logged and the next
 * action still runs. What exists already (an address, a route, a VLAN of an
 * earlier run of the agent) counts as done.
 */
export async function applyNetworkPlan(
  plan: NetworkPlan,
  o: { run: ProgramRunner; log: Log; dhcp?: DhcpMethod; root?: string },
): Promise<ApplyResult> {
  for (const w of plan.warnings) o.log.warn(`network_data.json: ${w}`);
  const result: ApplyResult = { failed: 0, addresses: [], dhcpStarted: [] };
  // networkd first: it must let go of the links before the agent configures them (else a reload or a new
  // carrier on a link it manages drops the agent's addresses, and it runs DHCP on a bond's members).
  const networkd =
    o.dhcp === 'networkd' ? await loadNetworkdUnits(plan.networkd, { run: o.run, log: o.log, root: o.root ?? '/' }) : undefined;
  if (networkd) result.failed += networkd.failed;
  if (networkd?.loaded) await dropNetworkdLeftovers(plan.networkd, { run: o.run, log: o.log, root: o.root ?? '/' });
  // The static IPv4 default routes configured (added now or there already), for udhcpc's script: see STATIC_DEFAULTS.
  const staticDefaults: string[] = [];
  let defaultsWritten = false;
  const writeDefaults = async (): Promise<void> => {
    if (defaultsWritten || networkd) return;
    defaultsWritten = true;
    const path = join(o.root ?? '/', STATIC_DEFAULTS);
    try {
      if (staticDefaults.length) {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, staticDefaults.map((l) => `${l}\n`).join(''));
      } else await rm(path, { force: true });
    } catch (e) {
      result.failed++;
      o.log.warn(`network_data.json: writing ${path} failed (a DHCP lease may replace a static default route): ${describeError(e)}`);
    }
  };
  for (const a of plan.actions) {
    const what = 'run' in a ? a.run.join(' ') : 'write' in a ? `${a.write} <- ${a.value.trim()}` : `DHCP on ${a.dhcp}`;
    const isAddr = 'run' in a && a.run[2] === 'addr';
    const isDefault = 'run' in a && a.run.slice(1, 5).join(' ') === '-4 route add default';
    try {
      // Every route is planned before the first DHCP action: the list is complete when a client may get a lease.
      if ('dhcp' in a) await writeDefaults();
      if ('run' in a) await o.run(a.run);
      else if ('write' in a) await writeRetryingDown(a, o.run);
      else {
        const fams = a.families.map((f) => `DHCPv${f}`).join(' + ');
        if (networkd) {
          // Its .network file is loaded already: networkd starts DHCP when the device appears (or has).
          if (networkd.loaded) result.dhcpStarted.push(`${a.dhcp} (${fams}, networkd: ${networkdUnitPath(o.root ?? '/', a.dhcp)})`);
          else o.log.warn(`network_data.json: networkd did not load its file for ${a.dhcp}: no DHCP there`);
        } else {
          if (!a.families.includes(4)) {
            o.log.warn(
              `network_data.json: ${a.dhcp}: DHCPv6 asked for, but this ramdisk has no DHCPv6 client; only the kernel's SLAAC runs there`,
            );
            continue;
          }
          const out = await o.run(udhcpcArgv(a.dhcp));
          const running = out.stdout.trim() === 'running';
          result.dhcpStarted.push(`${a.dhcp} (udhcpc ${running ? 'already running' : 'started in the background'})`);
          if (a.families.includes(6))
            o.log.warn(`network_data.json: ${a.dhcp}: no DHCPv6 client in this ramdisk; only DHCPv4 and the kernel's SLAAC`);
        }
      }
      if (isAddr) result.addresses.push(`${(a as { run: string[] }).run[4]} on ${(a as { run: string[] }).run[6]}`);
      if (isDefault) staticDefaults.push(defaultRouteLine((a as { run: string[] }).run));
      o.log.debug(`network_data.json: ${what}`);
    } catch (e) {
      if ('run' in a && a.exists && isExists(e)) {
        if (a.run[2] === 'route') {
          // "File exists" for a route only says the kernel has one to that destination (at that metric).
          const listing = await o.run(['ip', a.run[1]!, 'route', 'show']).catch(() => undefined);
          const found = listing ? findRoute(listing.stdout, a.run) : undefined;
          if (!found?.present) {
            result.failed++;
            const other = !found
              ? 'and the route table could not be read'
              : found.sameDest.length
                ? `the kernel has ${found.sameDest.join('; ')} instead`
                : 'and it is not listed';
            o.log.warn(`network_data.json: ${what}: not added: a route to ${a.run[4]} exists already (${other})`);
            continue;
          }
        }
        if (isAddr) result.addresses.push(`${a.run[4]} on ${a.run[6]}`);
        if (isDefault) staticDefaults.push(defaultRouteLine(a.run));
        o.log.debug(`network_data.json: ${what}: already there`);
        continue;
      }
      if ('run' in a && a.optional) {
        o.log.debug(`network_data.json: ${what} failed (optional): ${describeError(e)}`);
        continue;
      }
      result.failed++;
      o.log.warn(`network_data.json: ${'write' in a ? `writing ${a.write}` : what} failed: ${describeError(e)}`);
    }
  }
  await writeDefaults();
  // tinyipa: no DHCP client runs on the NICs (rcS leaves them to the agent when the media carries the document):
  // udhcpc on those the document asks DHCP for or puts no network on, once their links are up. networkd runs its own there.
  if (!networkd)
    for (const dev of plan.nicDhcp) {
      try {
        const out = await o.run(udhcpcArgv(dev));
        const running = out.stdout.trim() === 'running';
        result.dhcpStarted.push(`${dev} (udhcpc ${running ? 'already running' : 'started in the background'})`);
        o.log.debug(`network_data.json: DHCP on ${dev}`);
      } catch (e) {
        result.failed++;
        o.log.warn(`network_data.json: DHCP on ${dev} failed: ${describeError(e)}`);
      }
    }
  return result;
}

/**
 * What networkd's DHCP and RA clients left on the links it has just let go
 * of: on a network that has a DHCP server after all, networkd took a lease
 * on every wired link at boot, before the agent read the virtual media, and
 * an unmanaged link keeps those addresses and routes (a bond member with
 * the bond's subnet on it). Their dynamic addresses (a lifetime: DHCP, RA;
 * the agent's own are permanent) and DHCP/RA routes are removed.
 */
export function networkdLeftoversArgv(dev: string): string[][] {
  return [
    ['ip', '-4', 'addr', 'flush', 'dev', dev, 'scope', 'global', 'dynamic'],
    ['ip', '-6', 'addr', 'flush', 'dev', dev, 'scope', 'global', 'dynamic'],
    ['ip', '-4', 'route', 'flush', 'dev', dev, 'proto', 'dhcp'],
    ['ip', '-6', 'route', 'flush', 'dev', dev, 'proto', 'ra'],
  ];
}

async function dropNetworkdLeftovers(units: ReadonlyArray<NetworkdUnit>, o: { run: ProgramRunner; log: Log; root: string }): Promise<void> {
  for (const u of units) {
    if (!u.unmanaged) continue;
    const present = await access(join(o.root, 'sys/class/net', u.dev)).then(
      () => true,
      () => false,
    );
    if (!present) continue;
    for (const argv of networkdLeftoversArgv(u.dev)) {
      await o.run(argv).catch((e: unknown) => o.log.debug(`network_data.json: ${argv.join(' ')}: ${describeError(e)}`));
    }
  }
}

/**
 * Write the plan's .network files under <root>/run/systemd/network and have
 * networkd load them: `networkctl reload` where it works (it needs D-Bus),
 * else `systemctl try-restart systemd-networkd.service` (PID 1's own socket:
 * the dib image and the coreos host run no D-Bus daemon; a new networkd
 * reads every file, leaves unmanaged links as they are, and on the links it
 * manages starts DHCP afresh, before lookup, where the node has no lease to
 * lose on a DHCP-less network). Files already there with the same content
 * (a restarted agent) are not loaded again. Then waits up to 5 s for
 * networkd to report the unmanaged links present (ADMIN_STATE=unmanaged in
 * its state file) before the agent configures them.
 */
async function loadNetworkdUnits(
  units: ReadonlyArray<NetworkdUnit>,
  o: { run: ProgramRunner; log: Log; root: string },
): Promise<{ loaded: boolean; failed: number }> {
  let changed = false;
  let failed = 0;
  let requested = false;
  for (const u of units) {
    const path = networkdUnitPath(o.root, u.dev);
    if ((await readFile(path, 'utf8').catch(() => undefined)) === u.content) continue;
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, u.content);
      changed = true;
    } catch (e) {
      failed++;
      o.log.warn(`network_data.json: writing ${path} failed: ${describeError(e)}`);
    }
  }
  if (!units.length || failed) return { loaded: !failed, failed };
  if (changed) {
    let how = 'networkctl reload';
    try {
      await o.run(['networkctl', 'reload']);
    } catch (e) {
      how = `systemctl try-restart systemd-networkd.service (networkctl reload: ${describeError(e).split('\n')[0]})`;
      try {
        await o.run(['systemctl', 'try-restart', 'systemd-networkd.service']);
      } catch (e2) {
        // The coreos container: neither program; the host's ramforge-networkd-reload.path loads the files.
        const request = join(o.root, NETWORKD_RELOAD_REQUEST);
        try {
          await mkdir(dirname(request), { recursive: true });
          await writeFile(request, `${new Date().toISOString()} ${units.map((u) => u.dev).join(' ')}\n`);
          how = `asked the host through ${request} (networkctl reload: ${describeError(e).split('\n')[0]}; systemctl: ${describeError(e2).split('\n')[0]})`;
          requested = true;
        } catch (e3) {
          o.log.warn(
            `network_data.json: networkd did not load ${units.map((u) => networkdUnitPath(o.root, u.dev)).join(', ')}: ${how}; systemctl: ${describeError(e2)}; ${request}: ${describeError(e3)}`,
          );
          return { loaded: false, failed: failed + 1 };
        }
      }
    }
    o.log.info(
      `network_data.json: networkd ${requested ? 'asked to load' : 'loaded'} the agent's files for ${units.map((u) => u.dev).join(', ')} (${how})`,
    );
  }
  const waiting = new Map<string, string>();
  for (const u of units.filter((x) => x.unmanaged)) {
    const ifindex = (await readFile(join(o.root, 'sys/class/net', u.dev, 'ifindex'), 'utf8').catch(() => '')).trim();
    if (/^\d+$/.test(ifindex)) waiting.set(u.dev, ifindex);
  }
  const running = await access(join(o.root, 'run/systemd/netif/links')).then(
    () => true,
    () => false,
  );
  if (!running || !waiting.size) return { loaded: true, failed };
  const asked = waiting.size;
  // The host's path unit, then a restart of networkd: longer than a restart of our own.
  for (let i = 0; i < (requested ? 100 : 25) && waiting.size; i++) {
    for (const [dev, ifindex] of waiting) {
      const state = await readFile(networkdLinkState(o.root, ifindex), 'utf8').catch(() => '');
      if (/^ADMIN_STATE=unmanaged$/m.test(state)) waiting.delete(dev);
    }
    if (waiting.size) await new Promise((r) => setTimeout(r, 200));
  }
  if (waiting.size) {
    o.log.warn(`network_data.json: networkd does not report ${[...waiting.keys()].join(', ')} unmanaged yet; going on`);
    // Nobody answered the request: networkd still manages the links (no path unit on this host).
    if (requested && waiting.size === asked) return { loaded: false, failed: failed + 1 };
  }
  return { loaded: true, failed };
}

/** Whether `prog` is an executable file on PATH (as seen under `root`). */
async function onPath(root: string, prog: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').filter(Boolean)) {
    if (
      await access(join(root, dir, prog), constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return true;
  }
  return false;
}

/**
 * networkd where networkctl exists (dib) or where networkd's runtime
 * directory is visible without it (coreos: the agent's container has no
 * systemd; the host's /run is bound into its chroot, or under nspawn
 * /run/systemd/network, /run/systemd/netif and /run/ramforge), else udhcpc
 * (tinyipa).
 */
async function dhcpMethod(root: string): Promise<DhcpMethod> {
  if (await onPath(root, 'networkctl')) return 'networkd';
  const netif = await stat(join(root, 'run/systemd/netif')).then(
    (st) => st.isDirectory(),
    () => false,
  );
  return netif ? 'networkd' : 'udhcpc';
}

/** tinyipa's script that (re)starts udhcpc on every wired interface; the fallback when nothing static could be applied. */
export const TINYIPA_DHCP = '/usr/sbin/ramforge-dhcp';
/** Written once the fallback ran: a restarted agent does not restart the DHCP clients (which flushes their leases). */
export const FALLBACK_MARK = 'run/ramforge-network-fallback';
/** Written by tinyipa's rcS when it started no DHCP client because the virtual media carries network_data.json. */
export const DHCP_DEFERRED_MARK = 'run/ramforge/dhcp-deferred';

/**
 * Configure the network from a network_data.json text: parse (what cannot be
 * used is logged and skipped; a document that is not usable at all is logged
 * and ignored), plan against the interfaces under `root`, apply. When that
 * leaves the node with no static address and no DHCP/SLAAC network (tinyipa's
 * rcS runs no DHCP client when the media carries the document), DHCP
 * is started on every wired interface with tinyipa's ramforge-dhcp where it
 * exists (networkd's DHCP on wired interfaces runs in any case).
 * Never throws.
 */
export async function configureNetworkData(
  text: string,
  o: { root: string; run: ProgramRunner; log: Log; source: string; dhcp?: DhcpMethod },
): Promise<ApplyResult & { fallback: boolean }> {
  const parsed = parseNetworkData(text);
  let result: ApplyResult = { failed: 0, addresses: [], dhcpStarted: [] };
  let ramdisk: string[] = [];
  if (!parsed.ok) o.log.error(`${o.source}: ${parsed.reason}; ignored`);
  else {
    for (const w of parsed.warnings) o.log.warn(`${o.source}: ${w}`);
    const sysfs = join(o.root, 'sys/class/net');
    const host = await listInterfaces(sysfs);
    const plan = planNetwork(parsed.data, host.physical, { sysfs, resolvConf: join(o.root, 'etc/resolv.conf') }, host.all);
    const dhcp = o.dhcp ?? (await dhcpMethod(o.root));
    result = await applyNetworkPlan(plan, { run: o.run, log: o.log, dhcp, root: o.root });
    // With udhcpc the agent runs DHCPv4 on the NICs itself (in dhcpStarted); what stays is the kernel's SLAAC.
    ramdisk = Object.entries(plan.leftToRamdisk)
      .map(([dev, types]) => [dev, dhcp === 'networkd' ? types : types.filter((t) => t !== 'ipv4_dhcp')] as const)
      .filter(([, types]) => types.length)
      .map(([dev, types]) => `${dev} (${types.join(', ')})`);
    o.log.info(
      [
        `${o.source}: links ${
          Object.entries(plan.devices)
            .map(([id, dev]) => `${id}=${dev}`)
            .join(', ') || '(none)'
        }`,
        `static addresses: ${result.addresses.join(', ') || '(none)'}`,
        ...(result.dhcpStarted.length ? [`DHCP started by the agent: ${result.dhcpStarted.join(', ')}`] : []),
        ...(ramdisk.length ? [`left to the ramdisk's DHCP client / the kernel's SLAAC: ${ramdisk.join(', ')}`] : []),
      ].join('; ') + (result.failed ? ` (${result.failed} step(s) failed, see above)` : ''),
    );
  }
  if (result.addresses.length || result.dhcpStarted.length || ramdisk.length) return { ...result, fallback: false };
  return { ...result, fallback: await fallbackDhcp(o) };
}

/**
 * ramforge-dhcp on every wired interface, once per boot (FALLBACK_MARK): where
 * nothing static could be applied, and where the ramdisk deferred its DHCP
 * to a network_data.json the agent then did not find (main.ts).
 */
export async function fallbackDhcp(o: { root: string; run: ProgramRunner; log: Log; source: string }): Promise<boolean> {
  const mark = join(o.root, FALLBACK_MARK);
  if (
    await access(mark).then(
      () => true,
      () => false,
    )
  ) {
    o.log.warn(`${o.source}: no static address could be applied; the DHCP fallback runs since an earlier start of the agent`);
    return true;
  }
  if (
    !(await access(join(o.root, TINYIPA_DHCP), constants.X_OK).then(
      () => true,
      () => false,
    ))
  ) {
    o.log.warn(`${o.source}: no static address could be applied and no DHCP network configured; only the ramdisk's own DHCP (if any) runs`);
    return false;
  }
  try {
    const out = await o.run([TINYIPA_DHCP]);
    await writeFile(mark, `${new Date().toISOString()}\n`).catch(() => undefined);
    o.log.warn(
      `${o.source}: no static address could be applied: DHCP started on every wired interface (${TINYIPA_DHCP}): ${out.stdout.trim().split(/\s+/).join(' ') || '(none found)'}`,
    );
    return true;
  } catch (e) {
    o.log.error(
      `${o.source}: no static address could be applied, and ${TINYIPA_DHCP} failed: ${describeError(e)}; the node has no network`,
    );
    return false;
  }
}
