/**
 * LLDP as IPA captures it (netutils.get_lldp_info), without an lldpd daemon:
 * one frame of ethertype 0x88cc per interface, all interfaces at once, each
 * for at most lldp_timeout seconds, in promiscuous mode like IPA's raw
 * sockets; the frame's TLVs become IPA's [type, "hex value"] pairs.
 *
 * Node has no AF_PACKET sockets, so the capture is tcpdump's (libpcap): its
 * `-xx` hex dump is text, goes through the same ProgramRunner as every other
 * program (recorded fixtures replay it) and is parsed here. tcpdump is Debian's
 * packaged capture tool, about 1.7 MB with libpcap in tinyipa; a helper of our
 * own would be one more compiled binary to build, check and ship in every flavor.
 */
import { ExecError } from '../../util/exec.js';
import type { Log } from '../../util/log.js';
import type { HostAccess } from './host-access.js';

export type LldpTlvs = Array<[number, string]>;

export const LLDP_ETHERTYPE = 0x88cc;

/** tcpdump for one LLDP frame on `ifname`: root (Debian's tcpdump would switch to a user the ramdisk has not), no buffering delay. */
export function tcpdumpArgv(ifname: string): string[] {
  return ['tcpdump', '-i', ifname, '-Z', 'root', '-c', '1', '-nn', '-l', '--immediate-mode', '-xx', 'ether', 'proto', '0x88cc'];
}

/** Frames of a `tcpdump -xx` listing: each starts at a 0x0000 line; the header and summary lines are skipped. */
export function parseTcpdumpHex(text: string): Buffer[] {
  const frames: number[][] = [];
  for (const line of text.split('\n')) {
    const m = /^\s+0x([0-9a-f]{4}):\s+([0-9a-f ]+?)\s*$/i.exec(line);
    if (!m) continue;
    if (parseInt(m[1]!, 16) === 0) frames.push([]);
    const cur = frames.at(-1);
    if (!cur) continue;
    for (const group of m[2]!.split(/\s+/)) for (let i = 0; i + 1 < group.length; i += 2) cur.push(parseInt(group.slice(i, i + 2), 16));
  }
  return frames.map((f) => Buffer.from(f));
}

/**
 * The TLVs of an Ethernet frame carrying an LLDPDU (IPA's _parse_tlv after the
 * 14-byte header): 7-bit type, 9-bit length, value. Stops after the End TLV, so
 * the frame's padding to 60 bytes is not read as more End TLVs. Not LLDP: [].
 */
export function parseLldpFrame(frame: Buffer): LldpTlvs {
  if (frame.length < 14 || frame.readUInt16BE(12) !== LLDP_ETHERTYPE) return [];
  const tlvs: LldpTlvs = [];
  let pos = 14;
  while (pos + 2 <= frame.length) {
    const hdr = frame.readUInt16BE(pos);
    const type = hdr >> 9;
    const len = hdr & 0x1ff;
    tlvs.push([type, frame.subarray(pos + 2, pos + 2 + len).toString('hex')]);
    pos += 2 + len;
    if (type === 0) break;
  }
  return tlvs;
}

/**
 * One interface: the first frame's TLVs, [] when none came within the timeout or the capture failed (logged);
 * `failed` tells the two apart (an interface still down, say, is worth another try later).
 */
async function captureOne(host: HostAccess, ifname: string, timeoutS: number, log: Log): Promise<{ tlvs: LldpTlvs; failed: boolean }> {
  let out: string;
  let failed = false;
  try {
    out = (await host.run(tcpdumpArgv(ifname), { timeoutMs: Math.max(1, timeoutS) * 1000 })).stdout;
  } catch (e) {
    out = e instanceof ExecError ? e.stdout : '';
    // No exit code and no spawn error: killed at the timeout (tcpdump itself exits 0 on SIGTERM). Else tcpdump could not capture.
    const timedOut = e instanceof ExecError && e.code === null && e.cause === undefined;
    if (!timedOut && !parseTcpdumpHex(out).length) {
      failed = true;
      log.warn(`LLDP capture on ${ifname} failed: ${(e as Error).message}`);
    }
  }
  const frame = parseTcpdumpHex(out)[0];
  return { tlvs: frame ? parseLldpFrame(frame) : [], failed };
}

/**
 * LLDP TLVs per interface ([] where no frame came), as IPA's collect_lldp_data;
 * undefined when tcpdump is missing (logged). Never throws: LLDP is optional data.
 * The interfaces whose capture failed (not merely silent) are added to `failed`.
 */
export async function collectLldp(
  host: HostAccess,
  names: string[],
  timeoutS: number,
  log: Log,
  failed?: Set<string>,
): Promise<Map<string, LldpTlvs> | undefined> {
  const ifaces = names.filter((n) => n !== 'lo');
  if (!(await host.hasCommand('tcpdump'))) {
    log.warn('LLDP requested (ipa-collect-lldp) but tcpdump is not in the ramdisk: no LLDP data collected');
    return undefined;
  }
  log.info(`Waiting up to ${timeoutS} s for LLDP frames on ${ifaces.join(', ') || 'no interface'}`);
  const results = await Promise.all(ifaces.map((n) => captureOne(host, n, timeoutS, log)));
  const out = new Map<string, LldpTlvs>();
  ifaces.forEach((n, i) => {
    out.set(n, results[i]!.tlvs);
    if (results[i]!.failed) failed?.add(n);
  });
  const none = ifaces.filter((n) => !out.get(n)!.length);
  if (none.length) log.info(`No LLDP frame within ${timeoutS} s on ${none.join(', ')}`);
  return out;
}

/**
 * LLDP heard, kept per interface: what the hardware manager holds (IPA's
 * lldp_data), so a later listing does not wait again for those interfaces.
 */
export interface LldpCache {
  tlvs?: Map<string, LldpTlvs>;
}

/**
 * collectLldp for the interfaces `lldpCache` has nothing for yet (a NIC whose
 * driver came later, a VLAN made since: each captured once, when it shows),
 * merged with what it has. The first capture is kept (the silent interfaces
 * as []) only if some interface heard a frame, else tried again next time;
 * once kept, every later result is kept too, heard or not (a capture that
 * failed excepted), so no silent interface makes later listings wait
 * ipa-lldp-timeout again. (IPA captures on every interface at every listing.)
 */
export async function cachedLldp(
  host: HostAccess,
  names: string[],
  o: { lldpCache?: LldpCache; lldpTimeout?: number; log: Log },
): Promise<Map<string, LldpTlvs> | undefined> {
  const known = o.lldpCache?.tlvs;
  const missing = known ? names.filter((n) => n !== 'lo' && !known.has(n)) : names;
  if (known && missing.length === 0) return new Map(known);
  const failed = new Set<string>();
  const fresh = await collectLldp(host, missing, o.lldpTimeout ?? 30, o.log, failed);
  if (fresh === undefined) return known ? new Map(known) : undefined;
  const merged = new Map([...(known ?? []), ...fresh]);
  // A capture that failed (the NIC still down, say) is tried again at the next listing, as IPA would.
  if (o.lldpCache && (known || [...fresh.values()].some((t) => t.length)))
    o.lldpCache.tlvs = new Map([...merged].filter(([n]) => !failed.has(n)));
  return merged;
}
