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
 * any NIC has a routable address: IPv4 outside 169.254/16 (a BMC's USB NIC,
 * as iDRAC and XCC show the host, gets a link-local one at once) or IPv6
 * outside fe80::/10.
 */
import type { NetworkInterface } from '../hardware/types.js';
import { isLinkLocal } from '../util/link-local.js';
import type { Log } from '../util/log.js';

export interface DhcpWaitOptions {
  timeoutS: number;
  allInterfaces: boolean;
  bootif: string | undefined;
  listInterfaces: () => Promise<NetworkInterface[]>;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  pollMs?: number;
  /** Says when a wait starts and when it ends without the addresses. */
  log?: Log;
}

/** BOOTIF "01-aa-bb-cc-dd-ee-ff" (pxelinux: hardware type first) → "aa:bb:cc:dd:ee:ff". */
export function normalizeBootif(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  const mac = raw.trim().toLowerCase().replace(/-/g, ':');
  return mac.length === 20 ? mac.slice(3) : mac;
}

const hasAddress = (i: NetworkInterface): boolean => [i.ipv4_address, i.ipv6_address].some((a) => !!a && !isLinkLocal(a));

/** True when the wanted NICs have IPv4 (or waiting is off); false on timeout. */
export async function waitForDhcp(o: DhcpWaitOptions): Promise<boolean> {
  if (!o.timeoutS) return true;
  const pxeMac = normalizeBootif(o.bootif);
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const threshold = now() + o.timeoutS * 1000;
  const what = pxeMac ? `the PXE NIC ${pxeMac}` : o.allInterfaces ? 'every NIC' : 'any NIC (no BOOTIF)';
  for (let first = true; now() <= threshold; first = false) {
    const all = await o.listInterfaces();
    if (!pxeMac && !o.allInterfaces) {
      if (all.some(hasAddress)) return true;
    } else {
      const ifaces = all.filter((i) => o.allInterfaces || i.mac_address?.toLowerCase() === pxeMac);
      if (ifaces.every((i) => i.ipv4_address)) return true;
    }
    if (first) o.log?.info(`inspection: waiting up to ${o.timeoutS} s for ${what} to get an address before collecting`);
    await sleep(o.pollMs ?? 2000);
  }
  o.log?.warn(`inspection: ${what} got no address in ${o.timeoutS} s; collecting anyway`);
  return false;
}
