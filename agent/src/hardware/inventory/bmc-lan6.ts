/**
 * Parser for `ipmitool lan6 print` output, in its own module so the YAML
 * parser it needs is only loaded when a BMC actually has IPv6 enabled
 * (bmc.ts imports this lazily; the agent's idle RSS stays lower).
 */
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';

/** Parses `ipmitool lan6 print <ch> dynamic_addr|static_addr` (YAML-like) into active addresses. */
export function readLan6Addresses(out: string, dynamic: boolean): string[] {
  let doc: unknown;
  try {
    doc = parseYaml(out.replace(/\t/g, '    '));
  } catch {
    return [];
  }
  if (!doc || typeof doc !== 'object') return [];
  const found: string[] = [];
  for (const v of Object.values(doc as Record<string, unknown>)) {
    if (!v || typeof v !== 'object') continue;
    const d = v as Record<string, unknown>;
    const addr = String(d.Address ?? '');
    if (dynamic && !['DHCPv6', 'SLAAC'].includes(String(d['Source/Type']))) continue;
    // A static address counts only when enabled: IPA reads "Enabled: yes" as YAML 1.1's true (yes, on, true).
    if (!dynamic && !/^(yes|on|true)$/i.test(String(d.Enabled ?? ''))) continue;
    if (d.Status !== 'active' || addr === '' || addr === '::/0') continue;
    const ip = addr.split('/')[0]!;
    if (isIP(ip) === 6 && ip !== '::') found.push(ip);
  }
  return found;
}
