/**
 * BMC addresses through ipmitool, only when an IPMI character device exists
 * (no device → no process, no timeout: IPA spends ~1.3 s on failing probes).
 * Channels 1-11 are the ones IPMI lets carry LAN; `lan print <ch>` is run
 * once per channel and shared by the IPv4 address and the MAC lookups; the
 * MAC lookup adds `lan6 print <ch>` for a channel whose IPv4 is 0.0.0.0.
 */
import { isIP } from 'node:net';
import type { HostAccess } from './host-access.js';

const CHANNELS = Array.from({ length: 11 }, (_, i) => i + 1);

export interface BmcInfo {
  bmc_address: string | null;
  bmc_v6address: string | null;
  bmc_mac?: string;
}

export function readLanField(out: string, field: string): string | null {
  const re = new RegExp(`^${field}\\s*:\\s*(\\S+)`, 'm');
  return re.exec(out)?.[1] ?? null;
}

type LanPrint = (ch: number) => Promise<string | undefined>;

/** `ipmitool lan print <ch>`, run at most once per channel (undefined where the channel is invalid or failed). */
function lanPrinter(host: HostAccess): { print: LanPrint; missing: () => boolean } {
  const cache = new Map<number, Promise<string | undefined>>();
  let missing = false;
  const print: LanPrint = (ch) => {
    let p = cache.get(ch);
    if (!p) {
      p = (async () => {
        try {
          const r = await host.run(['ipmitool', 'lan', 'print', String(ch)], { timeoutMs: 10_000 });
          return r.stderr.startsWith('Invalid channel') ? undefined : r.stdout;
        } catch (e) {
          // A spawn failure means ipmitool itself is missing.
          if ((e as { code?: unknown }).code === null) missing = true;
          return undefined;
        }
      })();
      cache.set(ch, p);
    }
    return p;
  };
  return { print, missing: () => missing };
}

/** Outputs of `ipmitool lan print <ch>` up to the first channel with an IPv4 address, sequential: BMCs dislike parallel sessions. */
async function readLanChannels(
  print: LanPrint,
  missing: () => boolean,
): Promise<{ outs: Array<string | undefined>; toolMissing: boolean }> {
  const outs: Array<string | undefined> = [];
  for (const ch of CHANNELS) {
    outs.push(await print(ch));
    if (ch === 1 && missing()) return { outs: [], toolMissing: true };
    const ip = readLanField(outs[outs.length - 1] ?? '', 'IP Address');
    if (ip && isIP(ip) === 4 && ip !== '0.0.0.0') break; // the winner: later channels are not needed
  }
  return { outs, toolMissing: false };
}

/**
 * The addresses IPA's get_bmc_mac reads from `ipmitool lan6 print <ch>`: the `Address:` values inside the
 * "IPv6 Dynamic|Static Address N:" sections, whatever their status.
 */
export function readLan6PrintAddresses(out: string): string[] {
  const found: string[] = [];
  let inSection = false;
  for (const line of out.split('\n')) {
    if (/^IPv6 (Dynamic|Static) Address [0-9]+:/.test(line)) {
      inSection = true;
      continue;
    }
    if (line.startsWith('IPv6 ')) inSection = false;
    if (inSection && line.includes('Address:')) {
      const second = line.trim().split(/\s+/)[1];
      if (second !== undefined) found.push(second);
    }
  }
  return found;
}

/** Whether `ipmitool lan6 print <ch>` shows the channel carrying IPv6, as IPA's get_bmc_mac judges it (undefined: invalid channel). */
async function channelHasV6(host: HostAccess, ch: number): Promise<boolean | undefined> {
  let stdout = '';
  let stderr = '';
  try {
    ({ stdout, stderr } = await host.run(['ipmitool', 'lan6', 'print', String(ch)], { timeoutMs: 10_000 }));
  } catch (e) {
    // IPA pipes ipmitool into awk, so a failing ipmitool is only its output.
    stdout = String((e as { stdout?: unknown }).stdout ?? '');
    stderr = String((e as { stderr?: unknown }).stderr ?? '');
  }
  if (stderr.startsWith('Invalid channel')) return undefined;
  const addrs = readLan6PrintAddresses(stdout);
  // Link-local and "::/…" (unconfigured) do not count. As IPA, no address line at all (a BMC without IPv6
  // parameters prints none) does not rule the channel out.
  return (addrs.length ? addrs : ['']).some((a) => !a.startsWith('::') && !a.startsWith('fe80'));
}

/**
 * IPA's get_bmc_mac: the first channel, in order, whose IPv4 address is set or, when it is 0.0.0.0, that carries
 * IPv6 itself, and whose MAC is a real one. On an IPv6-only BMC that is the channel with the IPv6 address.
 */
async function readBmcMac(host: HostAccess, print: LanPrint): Promise<string | undefined> {
  for (const ch of CHANNELS) {
    const out = await print(ch);
    if (out === undefined) continue;
    const ip = readLanField(out, 'IP Address');
    const mac = readLanField(out, 'MAC Address');
    if (ip === null || mac === null) continue;
    if (ip === '0.0.0.0' && !(await channelHasV6(host, ch))) continue;
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac) || mac === '00:00:00:00:00:00') continue;
    return mac.toLowerCase();
  }
  return undefined;
}

async function readV6Channel(host: HostAccess, ch: number): Promise<string | null | undefined> {
  const run = async (what: string) => {
    try {
      return (await host.run(['ipmitool', 'lan6', 'print', String(ch), what], { timeoutMs: 10_000 })).stdout;
    } catch {
      return undefined;
    }
  };
  const enables = await run('enables');
  if (enables === undefined) return undefined;
  const mode = /IPv6\/IPv4 Addressing Enables\s*:\s*(\S+)/.exec(enables)?.[1];
  if (mode !== 'ipv6' && mode !== 'both') return null;
  const { readLan6Addresses } = await import('./bmc-lan6.js');
  for (const kind of ['dynamic_addr', 'static_addr']) {
    const out = await run(kind);
    const hit = out ? readLan6Addresses(out, kind === 'dynamic_addr')[0] : undefined;
    if (hit) return hit;
  }
  return null;
}

/** IPA's get_bmc_v6address: the first channel's address, else "::/0" (also when every channel fails, as IPA's pipes never do). */
async function readV6(host: HostAccess): Promise<string> {
  for (const ch of CHANNELS) {
    const r = await readV6Channel(host, ch);
    if (r) return r;
  }
  return '::/0';
}

/** IPA's any_ipmi_device_exists: a character device among /dev/ipmi*, /dev/ipmi/*, /dev/ipmidev/* (a BMC need not be ipmi0). */
export async function hasIpmiDevice(host: HostAccess): Promise<boolean> {
  const [dev, ipmiDir, ipmidevDir] = await Promise.all(['/dev', '/dev/ipmi', '/dev/ipmidev'].map((d) => host.listDir(d)));
  const candidates = [
    ...dev!.filter((n) => n.startsWith('ipmi')).map((n) => `/dev/${n}`),
    ...ipmiDir!.map((n) => `/dev/ipmi/${n}`),
    ...ipmidevDir!.map((n) => `/dev/ipmidev/${n}`),
  ];
  const found = await Promise.all(candidates.map((d) => host.isCharDevice(d)));
  return found.some(Boolean);
}

export async function collectBmc(host: HostAccess, skip = false): Promise<BmcInfo> {
  if (skip || !(await hasIpmiDevice(host))) return { bmc_address: null, bmc_v6address: null };
  const { print, missing } = lanPrinter(host);
  const [{ outs, toolMissing }, v6] = await Promise.all([readLanChannels(print, missing), readV6(host)]);
  if (toolMissing) return { bmc_address: null, bmc_v6address: null };
  const answered = outs.filter((o): o is string => o !== undefined);
  const ips = answered.map((o) => readLanField(o, 'IP Address'));
  // IPA: a BMC device whose channels all fail or hold no address is "0.0.0.0" (Inspector reads that as no address).
  const v4 = ips.find((ip) => ip && isIP(ip) === 4 && ip !== '0.0.0.0') ?? '0.0.0.0';
  const info: BmcInfo = { bmc_address: v4, bmc_v6address: v6 };
  const mac = await readBmcMac(host, print);
  if (mac) info.bmc_mac = mac;
  return info;
}
