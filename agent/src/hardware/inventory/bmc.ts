/**
 * BMC addresses through ipmitool, only when an IPMI character device exists
 * (no device → no process, no timeout: IPA spends ~1.3 s on failing probes).
 * Channels 1-11 are the ones IPMI lets carry LAN; `lan print <ch>` is run
 * once per channel and shared by the IPv4 address and the MAC lookups.
 */
import { isIP } from 'node:net';
import type { HostAccess } from './host-access.js';

export const IPMI_DEVICES = ['/dev/ipmi0', '/dev/ipmi/0', '/dev/ipmidev/0'];
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

/** Outputs of `ipmitool lan print <ch>` (undefined where the channel failed), sequential: BMCs dislike parallel sessions. */
async function readLanChannels(host: HostAccess): Promise<{ outs: Array<string | undefined>; toolMissing: boolean }> {
  const outs: Array<string | undefined> = [];
  for (const ch of CHANNELS) {
    try {
      const r = await host.run(['ipmitool', 'lan', 'print', String(ch)], { timeoutMs: 10_000 });
      outs.push(r.stderr.startsWith('Invalid channel') ? undefined : r.stdout);
    } catch (e) {
      // A spawn failure on the first channel means ipmitool itself is missing.
      if (ch === 1 && (e as { code?: unknown }).code === null) return { outs: [], toolMissing: true };
      outs.push(undefined);
    }
    const ip = readLanField(outs[outs.length - 1] ?? '', 'IP Address');
    if (ip && isIP(ip) === 4 && ip !== '0.0.0.0') break; // the winner: later channels are not needed
  }
  return { outs, toolMissing: false };
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

async function readV6(host: HostAccess): Promise<string | null> {
  let answered = false;
  for (const ch of CHANNELS) {
    const r = await readV6Channel(host, ch);
    if (r === undefined) continue;
    answered = true;
    if (r) return r;
  }
  return answered ? '::/0' : null;
}

export async function hasIpmiDevice(host: HostAccess): Promise<boolean> {
  const found = await Promise.all(IPMI_DEVICES.map((d) => host.isCharDevice(d)));
  return found.some(Boolean);
}

export async function collectBmc(host: HostAccess, skip = false): Promise<BmcInfo> {
  if (skip || !(await hasIpmiDevice(host))) return { bmc_address: null, bmc_v6address: null };
  const [{ outs, toolMissing }, v6] = await Promise.all([readLanChannels(host), readV6(host)]);
  if (toolMissing) return { bmc_address: null, bmc_v6address: null };
  const answered = outs.filter((o): o is string => o !== undefined);
  const ips = answered.map((o) => readLanField(o, 'IP Address'));
  const v4 = ips.find((ip) => ip && isIP(ip) === 4 && ip !== '0.0.0.0') ?? (answered.length ? '0.0.0.0' : null);
  const info: BmcInfo = { bmc_address: v4, bmc_v6address: v6 };
  // bmc_mac: the channel that carries an address (IPv4, else any IPv6 channel).
  const withV4 = answered.find((o) => {
    const ip = readLanField(o, 'IP Address');
    return ip && ip !== '0.0.0.0' && isIP(ip) === 4;
  });
  const macSource = withV4 ?? (v6 && v6 !== '::/0' ? answered[0] : undefined);
  const mac = macSource ? readLanField(macSource, 'MAC Address') : null;
  if (mac) info.bmc_mac = mac.toLowerCase();
  return info;
}
