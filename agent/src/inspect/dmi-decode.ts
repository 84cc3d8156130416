/**
 * The dmi-decode collector: `dmidecode -t bios -t processor -t memory`
 * parsed into {bios, cpu[], memory{…, devices[]}} (IPA dmi_inspector).
 * Keys stay as dmidecode prints them; an indented list becomes an array.
 * As IPA, each block keeps its header line under `Handle` ("Handle 0x0400,
 * DMI type 4, 48 bytes"), except the memory array's, and the memory
 * array's `Number Of Devices` is a number, summed over every array.
 */
import { parseLockdown } from '../hardware/inventory/boot-security.js';
import type { HostAccess } from '../hardware/inventory/host-access.js';

export type DmiBlock = Record<string, string | string[]>;
export interface DmiInfo {
  bios: DmiBlock;
  cpu: DmiBlock[];
  /** Type 16's fields (no Handle), `Number Of Devices` as a number; devices: the type 17 blocks. */
  memory: Record<string, string | string[] | number | DmiBlock[]>;
}

export const DMIDECODE_ARGV = ['dmidecode', '-t', 'bios', '-t', 'processor', '-t', 'memory'];

function parseBlock(handle: string, lines: string[]): DmiBlock {
  const rows: DmiBlock = { Handle: handle };
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
    const fields = parseBlock(lines[h]!.trim(), lines.slice(h + 2));
    if (type === 0) info.bios = fields;
    else if (type === 4) info.cpu.push(fields);
    else if (type === 16) arrays.push(fields);
    else if (type === 17) devices.push(fields);
  }
  // As IPA's _save_data: the first array's fields without its Handle, the slots of every array (multi-socket) added
  // up into a number; `devices` only when there are type 17 blocks or no array at all.
  if (arrays.length) {
    const { Handle: _h, ...first } = arrays[0]!;
    info.memory = { ...first, 'Number Of Devices': arrays.reduce((s, a) => s + (Number(a['Number Of Devices']) || 0), 0) };
  }
  if (devices.length || !arrays.length) info.memory.devices = devices;
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
