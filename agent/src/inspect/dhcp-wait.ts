/**
 * inspector.wait_for_dhcp: before collecting, give the PXE NIC (or every NIC
 * with ipa-inspection-dhcp-all-interfaces) up to the timeout to get IPv4,
 * polling every 2 s. Clock and sleep are injectable for tests.
 *
 * Without BOOTIF (virtual-media boots have none) IPA does not wait at all:
 * its systemd unit starts after network-online, so some link is up by then.
 * Here the agent may start while DHCP still runs (tinyipa), and an inventory
 * taken before any NIC has an address gives the inspector no interface to
 * match ports on. So without BOOTIF it waits, within the same timeout, until
 * any NIC has IPv4 or a global IPv6 address.
 */
import type { NetworkInterface } from '../hardware/types.js';

export interface DhcpWaitOptions {
  timeoutS: number;
  allInterfaces: boolean;
  bootif: string | undefined;
  listInterfaces: () => Promise<NetworkInterface[]>;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  pollMs?: number;
}

/** BOOTIF "01-aa-bb-cc-dd-ee-ff" (pxelinux: hardware type first) → "aa:bb:cc:dd:ee:ff". */
export function normalizeBootif(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  const mac = raw.trim().toLowerCase().replace(/-/g, ':');
  return mac.length === 20 ? mac.slice(3) : mac;
}

const hasAddress = (i: NetworkInterface): boolean => !!i.ipv4_address || (!!i.ipv6_address && !/^fe[89ab]/i.test(i.ipv6_address));

/** True when the wanted NICs have IPv4 (or waiting is off); false on timeout. */
export async function waitForDhcp(o: DhcpWaitOptions): Promise<boolean> {
  if (!o.timeoutS) return true;
  const pxeMac = normalizeBootif(o.bootif);
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const threshold = now() + o.timeoutS * 1000;
  while (now() <= threshold) {
    const all = await o.listInterfaces();
    if (!pxeMac && !o.allInterfaces) {
      if (all.some(hasAddress)) return true;
      await sleep(o.pollMs ?? 2000);
      continue;
    }
    const ifaces = all.filter((i) => o.allInterfaces || i.mac_address?.toLowerCase() === pxeMac);
    if (ifaces.every((i) => i.ipv4_address)) return true;
    await sleep(o.pollMs ?? 2000);
  }
  return false;
}
