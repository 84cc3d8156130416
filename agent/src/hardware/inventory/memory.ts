/**
 * Memory: total as psutil reports it (MemTotal × 1024); physical_mb from
 * lshw like IPA, else DIMM sizes from `dmidecode -t 17`, else the count of
 * online memory blocks in sysfs × their block size (what the kernel manages).
 */
import type { Memory } from '../types.js';
import type { HostAccess } from './host-access.js';
import { tryRun } from './host-access.js';
import type { LshwNode } from './lshw.js';
import { findLshwNode } from './lshw.js';

const MIB = 1024 * 1024;
const MEMORY_ID = /^memory(:\d+)?$/;

export function readPhysicalFromLshw(lshw: LshwNode | undefined): number | null {
  const core = findLshwNode(lshw, (n) => n.id === 'core');
  let bytes = 0;
  for (const child of core?.children ?? []) {
    if (!child.id || !MEMORY_ID.test(child.id)) continue;
    const banks = (child.children ?? []).filter((b) => typeof b.size === 'number');
    if (banks.length) bytes += banks.reduce((s, b) => s + (b.size ?? 0), 0);
    else if (typeof child.size === 'number') bytes += child.size;
  }
  return bytes > 0 ? Math.floor(bytes / MIB) : null;
}

const UNIT_MB: Record<string, number> = { kB: 1 / 1024, KB: 1 / 1024, MB: 1, GB: 1024, TB: 1024 * 1024 };

export function readPhysicalFromDmidecode(text: string): number | null {
  let mb = 0;
  for (const m of text.matchAll(/^\s*Size:\s*(\d+)\s*(kB|KB|MB|GB|TB)\s*$/gm)) mb += Number(m[1]) * UNIT_MB[m[2]!]!;
  return mb > 0 ? Math.round(mb) : null;
}

async function readPhysicalFromSysfs(host: HostAccess): Promise<number | null> {
  const block = (await host.readText('/sys/devices/system/memory/block_size_bytes'))?.trim();
  if (!block) return null;
  const blocks = (await host.listDir('/sys/devices/system/memory')).filter((n) => /^memory\d+$/.test(n));
  const online = await Promise.all(
    blocks.map(async (b) => (await host.readText(`/sys/devices/system/memory/${b}/online`))?.trim() !== '0'),
  );
  const bytes = online.filter(Boolean).length * parseInt(block, 16);
  return bytes > 0 ? Math.round(bytes / MIB) : null;
}

export async function collectMemory(host: HostAccess, lshw: LshwNode | undefined): Promise<Memory> {
  const meminfo = await host.readText('/proc/meminfo');
  const kb = /^MemTotal:\s*(\d+)\s*kB/m.exec(meminfo ?? '')?.[1];
  let physical = readPhysicalFromLshw(lshw);
  if (physical === null) {
    const dmi = await tryRun(host, ['dmidecode', '-t', '17']);
    physical = dmi ? readPhysicalFromDmidecode(dmi) : null;
  }
  if (physical === null) physical = await readPhysicalFromSysfs(host);
  return { total: kb ? Number(kb) * 1024 : 0, physical_mb: physical };
}
