/**
 * The dmi-decode collector: `dmidecode -t bios -t processor -t memory`
 * parsed into {bios, cpu[], memory{…, devices[]}} (IPA dmi_inspector).
 * Keys stay as dmidecode prints them; an indented list becomes an array.
 */
import { parseLockdown } from '../hardware/inventory/boot-security.js';
import type { HostAccess } from '../hardware/inventory/host-access.js';

export type DmiBlock = Record<string, string | string[]>;
export interface DmiInfo {
  bios: DmiBlock;
  cpu: DmiBlock[];
  memory: DmiBlock & { devices?: DmiBlock[] };
}

export const DMIDECODE_ARGV = ['dmidecode', '-t', 'bios', '-t', 'processor', '-t', 'memory'];

function parseBlock(lines: string[]): DmiBlock {
  const rows: DmiBlock = {};
  let list: string[] | undefined;
  for (const raw of lines) {
    const line = raw.trim();
    if (!line) continue;
    const i = line.indexOf(':');
    if (i >= 0 && !raw.startsWith('\t\t')) {
      const k = line.slice(0, i).trim();
      const v = line.slice(i + 1).trim();
      if (v) {
        rows[k] = v;
        list = undefined;
      } else {
        list = [];
        rows[k] = list;
      }
    } else if (list) list.push(line);
  }
  return rows;
}

export function parseDmidecode(text: string): DmiInfo {
  const info: DmiInfo = { bios: {}, cpu: [], memory: {} };
  const arrays: DmiBlock[] = [];
  const devices: DmiBlock[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const lines = block.split('\n');
    const h = lines.findIndex((l) => /^Handle 0x[0-9A-Fa-f]+, DMI type \d+/.test(l));
    if (h < 0) continue;
    const type = Number(/DMI type (\d+)/.exec(lines[h]!)![1]);
    const fields = parseBlock(lines.slice(h + 2));
    if (type === 0) info.bios = fields;
    else if (type === 4) info.cpu.push(fields);
    else if (type === 16) arrays.push(fields);
    else if (type === 17) devices.push(fields);
  }
  // Several memory arrays (multi-socket): keep the first's fields, add up the slots.
  info.memory = { ...(arrays[0] ?? {}) };
  if (arrays.length > 1) info.memory['Number Of Devices'] = String(arrays.reduce((s, a) => s + (Number(a['Number Of Devices']) || 0), 0));
  info.memory.devices = devices;
  return info;
}

export async function collectDmi(host: HostAccess): Promise<DmiInfo> {
  let out: string;
  try {
    out = (await host.run(DMIDECODE_ARGV)).stdout;
  } catch (e) {
    const lockdown = parseLockdown(await host.readText('/sys/kernel/security/lockdown'));
    const why =
      lockdown && lockdown !== 'none'
        ? `kernel lockdown (${lockdown}, Secure Boot) closes /dev/mem, so dmidecode needs /sys/firmware/dmi/tables, which this kernel does not export`
        : 'install the Debian package dmidecode; it needs /sys/firmware/dmi or /dev/mem';
    throw new Error(`failed to run dmidecode: ${(e as Error).message} (${why})`);
  }
  return parseDmidecode(out);
}
