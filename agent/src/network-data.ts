/**
 * DHCP-less deploys: Ironic puts the node's OpenStack `network_data.json` on
 * the virtual-media ISO (openstack/latest/network_data.json) and the agent
 * configures the interfaces from it before inspection and lookup, as glean
 * does in IPA's DIB ramdisks. In every flavor the agent does it itself, with
 * `ip` and sysfs only (busybox `ip` in tinyipa: see docs/ramdisk-tools.md).
 *
 * Three steps: parseNetworkData() checks the document (pure; a malformed one
 * is refused with the reason and nothing is configured), planNetwork() turns
 * it and the interfaces present (name + MAC) into a list of actions (pure,
 * data), applyNetworkPlan() runs them through the ProgramRunner and writes
 * the sysfs/resolv.conf files, logging failures and going on.
 *
 * Semantics (the network_data.json format, glean's reading of it):
 *  - links: `phy`/`ethernet`/`vif`/... (anything not bond or vlan) match an
 *    interface by `ethernet_mac_address` (case-insensitive); `mtu` applies.
 *  - `bond`: members `bond_links` (link ids), `bond_mode`, `bond_miimon`,
 *    `bond_xmit_hash_policy`, `bond_lacp_rate`. Created through sysfs
 *    (/sys/class/net/bonding_masters, <bond>/bonding/*): busybox `ip` cannot
 *    create a bond or set its mode, and sysfs works with both ip's. The bond
 *    is named after its link id when that is a valid interface name, else
 *    bondN.
 *  - `vlan`: `vlan_link` (a link id) and `vlan_id`; created with `ip link add
 *    link P name P.ID type vlan id ID` (busybox and iproute2 both take it),
 *    named P.ID (vlanID when longer than 15 characters).
 *  - networks: `ipv4`/`ipv6` give a static `ip_address` (+ `netmask`, or a
 *    /prefix in the address) and `routes` ({network, netmask, gateway});
 *    `ipv4_dhcp`, `ipv6_dhcp`, `ipv6_slaac` only bring the link up (the
 *    ramdisk's DHCP client or the kernel's SLAAC does the rest).
 *  - DNS: `services` of type dns at the top and per network, plus a
 *    network's `dns_nameservers`/`dns_search`, become <root>/etc/resolv.conf.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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

export interface NdNetwork {
  id: string;
  type: 'ipv4' | 'ipv6' | 'ipv4_dhcp' | 'ipv6_dhcp' | 'ipv6_slaac';
  link: string;
  /** address/prefix, static networks only. */
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

export type ParsedNetworkData = { ok: true; data: NetworkData } | { ok: false; reason: string };

const NETWORK_TYPES = new Set(['ipv4', 'ipv6', 'ipv4_dhcp', 'ipv6_dhcp', 'ipv6_slaac']);
const BOND_MODES = new Set(['balance-rr', 'active-backup', 'balance-xor', 'broadcast', '802.3ad', 'balance-tlb', 'balance-alb']);
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

class Bad extends Error {}
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function ipv4ToInt(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** Expand an IPv6 address to 8 groups, or undefined if it is not one. */
function ipv6Groups(s: string): number[] | undefined {
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

function dnsOf(services: unknown, at: string): string[] {
  if (services === undefined || services === null) return [];
  if (!Array.isArray(services)) throw new Bad(`${at}: expected a list`);
  const out: string[] = [];
  for (const [i, s] of services.entries()) {
    if (!isObj(s)) throw new Bad(`${at}[${i}]: expected an object`);
    if (s.type !== 'dns') continue;
    const a = str(s, 'address', `${at}[${i}]`, true)!;
    if (!isIp(a, 4) && !isIp(a, 6)) throw new Bad(`${at}[${i}].address: not an IP address: ${JSON.stringify(a)}`);
    out.push(a);
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
  const mac = str(l, 'ethernet_mac_address', at);
  if (mac !== undefined && !MAC.test(mac)) throw new Bad(`${at}.ethernet_mac_address: not a MAC address: ${JSON.stringify(mac)}`);
  if (mac) link.mac = mac.toLowerCase();
  const mtu = int(l, 'mtu', at, 65535);
  if (mtu !== undefined) link.mtu = mtu;
  if (link.type === 'bond') {
    link.bondLinks = stringList(l.bond_links, `${at}.bond_links`);
    if (!link.bondLinks.length) throw new Bad(`${at}.bond_links: a bond needs at least one member link`);
    const mode = str(l, 'bond_mode', at);
    if (mode !== undefined && !BOND_MODES.has(mode) && !/^[0-6]$/.test(mode)) {
      throw new Bad(`${at}.bond_mode: unknown bonding mode ${JSON.stringify(mode)} (one of ${[...BOND_MODES].join(', ')})`);
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
    const vmac = str(l, 'vlan_mac_address', at);
    if (vmac && !link.mac) {
      if (!MAC.test(vmac)) throw new Bad(`${at}.vlan_mac_address: not a MAC address: ${JSON.stringify(vmac)}`);
      link.mac = vmac.toLowerCase();
    }
  }
  return link;
}

function parseRoute(r: unknown, at: string, family: 4 | 6): NdRoute {
  if (!isObj(r)) throw new Bad(`${at}: expected an object`);
  const network = str(r, 'network', at, true)!;
  const gateway = str(r, 'gateway', at, true)!;
  const mask = str(r, 'netmask', at) ?? (family === 4 ? '0.0.0.0' : '0');
  if (!isIp(network, family)) throw new Bad(`${at}.network: not an IPv${family} address: ${JSON.stringify(network)}`);
  if (!isIp(gateway, family)) throw new Bad(`${at}.gateway: not an IPv${family} address: ${JSON.stringify(gateway)}`);
  const prefix = prefixLength(mask, family);
  if (prefix === undefined) throw new Bad(`${at}.netmask: not a netmask: ${JSON.stringify(mask)}`);
  return { dest: prefix === 0 ? 'default' : `${network}/${prefix}`, gateway };
}

function parseNetwork(n: unknown, at: string, linkIds: Set<string>): NdNetwork {
  if (!isObj(n)) throw new Bad(`${at}: expected an object`);
  const type = str(n, 'type', at, true)!;
  if (!NETWORK_TYPES.has(type))
    throw new Bad(`${at}.type: unknown network type ${JSON.stringify(type)} (${[...NETWORK_TYPES].join(', ')})`);
  const link = str(n, 'link', at, true)!;
  if (!linkIds.has(link)) throw new Bad(`${at}.link: no link with id ${JSON.stringify(link)}`);
  const net: NdNetwork = {
    id: str(n, 'id', at) ?? at,
    type: type as NdNetwork['type'],
    link,
    routes: [],
    dns: [...dnsOf(n.services, `${at}.services`), ...stringList(n.dns_nameservers, `${at}.dns_nameservers`)],
    search: stringList(n.dns_search, `${at}.dns_search`),
  };
  if (type === 'ipv4' || type === 'ipv6') {
    const family = type === 'ipv4' ? 4 : 6;
    const raw = str(n, 'ip_address', at, true)!;
    const [addr, inlinePrefix] = raw.split('/');
    if (!isIp(addr!, family)) throw new Bad(`${at}.ip_address: not an IPv${family} address: ${JSON.stringify(raw)}`);
    const mask = inlinePrefix ?? str(n, 'netmask', at);
    if (mask === undefined) throw new Bad(`${at}.netmask: missing (and no /prefix in ip_address)`);
    const prefix = prefixLength(mask, family);
    if (prefix === undefined) throw new Bad(`${at}.netmask: not a netmask: ${JSON.stringify(mask)}`);
    net.cidr = `${addr}/${prefix}`;
    if (n.routes !== undefined && n.routes !== null && !Array.isArray(n.routes)) throw new Bad(`${at}.routes: expected a list`);
    net.routes = ((n.routes as unknown[] | undefined) ?? []).map((r, i) => parseRoute(r, `${at}.routes[${i}]`, family));
  }
  return net;
}

/** Check a network_data.json text; the reason of a refusal names the JSON path (or the JSON error's position). */
export function parseNetworkData(text: string): ParsedNetworkData {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: `not valid JSON: ${(e as Error).message}` };
  }
  try {
    if (!isObj(doc)) throw new Bad('expected a JSON object with "links" and "networks"');
    if (!Array.isArray(doc.links)) throw new Bad('links: expected a list');
    const links = doc.links.map((l, i) => parseLink(l, `links[${i}]`));
    const ids = new Set<string>();
    for (const l of links) {
      if (ids.has(l.id)) throw new Bad(`links: the id ${JSON.stringify(l.id)} is used twice`);
      ids.add(l.id);
    }
    for (const [i, l] of links.entries()) {
      for (const m of l.bondLinks ?? []) if (!ids.has(m)) throw new Bad(`links[${i}].bond_links: no link with id ${JSON.stringify(m)}`);
      if (l.vlanLink !== undefined && !ids.has(l.vlanLink))
        throw new Bad(`links[${i}].vlan_link: no link with id ${JSON.stringify(l.vlanLink)}`);
    }
    if (doc.networks !== undefined && !Array.isArray(doc.networks)) throw new Bad('networks: expected a list');
    const networks = ((doc.networks as unknown[] | undefined) ?? []).map((n, i) => parseNetwork(n, `networks[${i}]`, ids));
    return { ok: true, data: { links, networks, dns: dnsOf(doc.services, 'services') } };
  } catch (e) {
    if (e instanceof Bad) return { ok: false, reason: e.message };
    throw e;
  }
}

/** One step of a plan: run a program (argv), or write a value into a file (sysfs, resolv.conf). */
export type NetAction = { run: string[]; optional?: boolean } | { write: string; value: string };

export interface NetworkPlan {
  actions: NetAction[];
  /** Link id → the interface name it became. */
  devices: Record<string, string>;
  /** What could not be planned (a MAC with no interface): logged, the rest still applies. */
  warnings: string[];
}

/**
 * The actions that configure `data` on a host with `interfaces` (name, MAC).
 * `sysfs` is where /sys/class/net is, `resolvConf` the file to write.
 */
export function planNetwork(
  data: NetworkData,
  interfaces: ReadonlyArray<{ name: string; mac: string }>,
  paths: { sysfs: string; resolvConf: string } = { sysfs: '/sys/class/net', resolvConf: '/etc/resolv.conf' },
): NetworkPlan {
  const warnings: string[] = [];
  const devices: Record<string, string> = {};
  const byMac = new Map(interfaces.map((i) => [i.mac.toLowerCase(), i.name]));
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
    const name = `${parent}.${l.vlanId}`;
    devices[l.id] = name.length <= 15 ? name : `vlan${l.vlanId}`;
  }

  const actions: NetAction[] = [];
  const bonds = data.links.filter((l) => l.type === 'bond' && devices[l.id]);
  // max_bonds=0: loading the driver must not create a bond0 of its own (writing +bond0 would then fail with EEXIST).
  if (bonds.length) actions.push({ run: ['modprobe', 'bonding', 'max_bonds=0'], optional: true });
  for (const b of bonds) {
    const name = devices[b.id]!;
    const members = b.bondLinks!.map((m) => devices[m]).filter((d): d is string => !!d);
    const sys = (f: string): string => join(paths.sysfs, name, 'bonding', f);
    actions.push({ write: join(paths.sysfs, 'bonding_masters'), value: `+${name}` });
    // The mode and its options must be set while the bond is down and has no members.
    if (b.bondMode) actions.push({ write: sys('mode'), value: b.bondMode });
    if (b.bondMiimon !== undefined) actions.push({ write: sys('miimon'), value: String(b.bondMiimon) });
    if (b.bondXmitHashPolicy) actions.push({ write: sys('xmit_hash_policy'), value: b.bondXmitHashPolicy });
    if (b.bondLacpRate) actions.push({ write: sys('lacp_rate'), value: b.bondLacpRate });
    for (const m of members) {
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
  if (vlans.length) actions.push({ run: ['modprobe', '8021q'], optional: true });
  for (const l of vlans) {
    const parent = devices[l.vlanLink!]!;
    actions.push({ run: ['ip', 'link', 'add', 'link', parent, 'name', devices[l.id]!, 'type', 'vlan', 'id', String(l.vlanId)] });
    if (l.mac && l.mac !== linkById.get(l.vlanLink!)?.mac) actions.push({ run: ['ip', 'link', 'set', devices[l.id]!, 'address', l.mac] });
    up(l);
  }
  const dns = [...data.dns];
  const search: string[] = [];
  for (const n of data.networks) {
    const dev = devices[n.link];
    if (!dev) continue;
    for (const d of n.dns) if (!dns.includes(d)) dns.push(d);
    for (const s of n.search) if (!search.includes(s)) search.push(s);
    if (!n.cidr) continue;
    const fam = n.type === 'ipv6' ? '-6' : '-4';
    actions.push({ run: ['ip', fam, 'addr', 'add', n.cidr, 'dev', dev] });
    for (const r of n.routes) actions.push({ run: ['ip', fam, 'route', 'add', r.dest, 'via', r.gateway, 'dev', dev] });
  }
  if (dns.length) {
    const lines = [
      '# written by the ramforge agent from network_data.json',
      ...(search.length ? [`search ${search.join(' ')}`] : []),
      ...dns.map((d) => `nameserver ${d}`),
    ];
    actions.push({ write: paths.resolvConf, value: `${lines.join('\n')}\n` });
  }
  return { actions, devices, warnings };
}

/** Interfaces present (name and MAC) from <sysfs>/<name>/address; lo and MAC-less ones left out. */
export async function listInterfaces(sysfs: string): Promise<Array<{ name: string; mac: string }>> {
  const out: Array<{ name: string; mac: string }> = [];
  for (const name of (await readdir(sysfs).catch(() => [] as string[])).sort()) {
    if (name === 'lo' || name === 'bonding_masters') continue;
    const mac = (await readFile(join(sysfs, name, 'address'), 'utf8').catch(() => '')).trim().toLowerCase();
    if (MAC.test(mac) && mac !== '00:00:00:00:00:00') out.push({ name, mac });
  }
  return out;
}

/**
 * Run a plan: every action in order; a failure is logged and the next
 * action still runs (a second start of the agent finds the addresses
 * there already). Returns how many actions failed.
 */
export async function applyNetworkPlan(plan: NetworkPlan, o: { run: ProgramRunner; log: Log }): Promise<number> {
  for (const w of plan.warnings) o.log.warn(`network_data.json: ${w}`);
  let failed = 0;
  for (const a of plan.actions) {
    try {
      if ('run' in a) await o.run(a.run);
      else await writeFile(a.write, a.value);
      o.log.debug(`network_data.json: ${'run' in a ? a.run.join(' ') : `${a.write} <- ${a.value.trim()}`}`);
    } catch (e) {
      if ('run' in a && a.optional) {
        o.log.debug(`network_data.json: ${a.run.join(' ')} failed (optional): ${describeError(e)}`);
        continue;
      }
      failed++;
      o.log.warn(`network_data.json: ${'run' in a ? a.run.join(' ') : `writing ${a.write}`} failed: ${describeError(e)}`);
    }
  }
  return failed;
}

/**
 * Configure the network from a network_data.json text: parse (a malformed
 * document is logged with the reason and ignored), plan against the
 * interfaces under `root`, apply. Never throws.
 */
export async function configureNetworkData(text: string, o: { root: string; run: ProgramRunner; log: Log; source: string }): Promise<void> {
  const parsed = parseNetworkData(text);
  if (!parsed.ok) {
    o.log.error(`${o.source}: ${parsed.reason}; ignored, the network is left as it is`);
    return;
  }
  const sysfs = join(o.root, 'sys/class/net');
  const plan = planNetwork(parsed.data, await listInterfaces(sysfs), { sysfs, resolvConf: join(o.root, 'etc/resolv.conf') });
  const failed = await applyNetworkPlan(plan, o);
  o.log.info(
    `${o.source}: configured ${Object.entries(plan.devices)
      .map(([id, dev]) => `${id}=${dev}`)
      .join(', ')}${failed ? ` (${failed} step(s) failed, see above)` : ''}`,
  );
}
