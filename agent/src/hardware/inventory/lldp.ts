/**
 * LLDP without raw sockets: Node has no AF_PACKET, so neighbours come from
 * lldpd (`lldpcli -f json show neighbors details`) and are re-encoded as the
 * [tlv_type, "hex"] pairs IPA captures off the wire. Only what lldpd keeps is
 * rebuilt (chassis/port id, TTL, descriptions, names, capabilities, mgmt IPv4,
 * 802.1 PVID and VLAN names): enough for ironic's lldp_basic parser.
 * No lldpcli → null per interface (install the Debian package lldpd and start it).
 */
import { isIP } from 'node:net';
import type { HostAccess } from './host-access.js';
import { tryRun } from './host-access.js';

export const LLDPCLI_ARGV = ['lldpcli', '-f', 'json', 'show', 'neighbors', 'details'];

type Obj = Record<string, unknown>;
const hex = (b: Buffer) => b.toString('hex');
const text = (s: unknown) => Buffer.from(String(s ?? ''), 'utf8');

const CHASSIS_SUBTYPE: Record<string, number> = { mac: 4, ip: 5, ifname: 6, local: 7, ifalias: 1 };
const PORT_SUBTYPE: Record<string, number> = { ifalias: 1, mac: 3, ip: 4, ifname: 5, local: 7 };
const CAPS = ['Other', 'Repeater', 'Bridge', 'Wlan', 'Router', 'Tel', 'Docsis', 'Station'];

function encodeId(id: Obj | undefined, table: Record<string, number>): Buffer | undefined {
  if (!id) return undefined;
  const type = String(id.type ?? 'local');
  const value = String(id.value ?? '');
  const sub = table[type] ?? 7;
  if (type === 'mac') return Buffer.concat([Buffer.from([sub]), Buffer.from(value.split(':').map((x) => parseInt(x, 16)))]);
  const addr = type === 'ip' ? encodeAddress(value) : undefined;
  if (addr) return Buffer.concat([Buffer.from([sub]), addr]);
  return Buffer.concat([Buffer.from([sub]), text(value)]);
}

const first = <T>(v: T | T[] | undefined): T | undefined => (Array.isArray(v) ? v[0] : v);

/** IANA address family byte (1 IPv4, 2 IPv6) followed by the address bytes. */
function encodeAddress(ip: string): Buffer | undefined {
  if (isIP(ip) === 4) return Buffer.from([1, ...ip.split('.').map(Number)]);
  if (isIP(ip) !== 6) return undefined;
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(17);
  b[0] = 2;
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), 1 + 2 * i));
  return b;
}

/** One neighbour entry of lldpcli's JSON → TLV pairs. */
export function encodeNeighbour(n: Obj): Array<[number, string]> {
  const tlvs: Array<[number, string]> = [];
  const chassisWrap = (n.chassis ?? {}) as Obj;
  const chassisName = Object.keys(chassisWrap).find((k) => typeof chassisWrap[k] === 'object' && k !== 'id');
  const chassis = (chassisName ? chassisWrap[chassisName] : chassisWrap) as Obj;
  const port = (n.port ?? {}) as Obj;
  const cid = encodeId(first(chassis.id as Obj | Obj[]), CHASSIS_SUBTYPE);
  if (cid) tlvs.push([1, hex(cid)]);
  const pid = encodeId(first(port.id as Obj | Obj[]), PORT_SUBTYPE);
  if (pid) tlvs.push([2, hex(pid)]);
  const ttl = Buffer.alloc(2);
  ttl.writeUInt16BE(Number(port.ttl ?? chassis.ttl ?? 120));
  tlvs.push([3, hex(ttl)]);
  if (port.descr) tlvs.push([4, hex(text(port.descr))]);
  if (chassisName && chassisName !== (first(chassis.id as Obj | Obj[]) as Obj | undefined)?.value) tlvs.push([5, hex(text(chassisName))]);
  if (chassis.descr) tlvs.push([6, hex(text(chassis.descr))]);
  const caps = ([] as Obj[]).concat((chassis.capability ?? []) as Obj | Obj[]);
  if (caps.length) {
    let sys = 0;
    let en = 0;
    for (const c of caps) {
      const bit = 1 << Math.max(0, CAPS.indexOf(String(c.type)));
      sys |= bit;
      if (c.enabled) en |= bit;
    }
    const b = Buffer.alloc(4);
    b.writeUInt16BE(sys, 0);
    b.writeUInt16BE(en, 2);
    tlvs.push([7, hex(b)]);
  }
  const ifaces = ([] as unknown[]).concat(chassis['mgmt-iface'] ?? []);
  ([] as unknown[]).concat(chassis['mgmt-ip'] ?? []).forEach((ip, i) => {
    const addr = encodeAddress(String(ip));
    if (!addr) return;
    // Management address TLV: length, IANA family + address, ifIndex subtype 2, ifIndex, empty OID.
    const tail = Buffer.alloc(6);
    tail[0] = 2;
    tail.writeUInt32BE(Number(ifaces[i] ?? 0) >>> 0, 1);
    tlvs.push([8, hex(Buffer.concat([Buffer.from([addr.length]), addr, tail]))]);
  });
  for (const v of ([] as Obj[]).concat((n.vlan ?? []) as Obj | Obj[])) {
    const vid = Number(v['vlan-id']);
    if (!Number.isInteger(vid)) continue;
    if (v.pvid) {
      const b = Buffer.from([0x00, 0x80, 0xc2, 1, 0, 0]);
      b.writeUInt16BE(vid, 4);
      tlvs.push([127, hex(b)]);
    }
    const name = text(v.value ?? `vlan${vid}`);
    const b = Buffer.concat([Buffer.from([0x00, 0x80, 0xc2, 3, vid >> 8, vid & 0xff, name.length]), name]);
    tlvs.push([127, hex(b)]);
  }
  return tlvs;
}

export function parseLldpcli(json: string): Map<string, Array<[number, string]>> {
  const out = new Map<string, Array<[number, string]>>();
  const doc = JSON.parse(json) as { lldp?: { interface?: Obj | Obj[] } };
  for (const wrap of ([] as Obj[]).concat(doc.lldp?.interface ?? [])) {
    for (const [name, n] of Object.entries(wrap)) {
      // IPA keeps the first frame per interface.
      if (!out.has(name) && n && typeof n === 'object') out.set(name, encodeNeighbour(n as Obj));
    }
  }
  return out;
}

/** LLDP TLVs per interface name; interfaces without a neighbour get none. */
export async function collectLldp(host: HostAccess): Promise<Map<string, Array<[number, string]>> | undefined> {
  const out = await tryRun(host, LLDPCLI_ARGV, { timeoutMs: 5000 });
  if (out === undefined) return undefined;
  try {
    return parseLldpcli(out);
  } catch {
    return undefined;
  }
}
