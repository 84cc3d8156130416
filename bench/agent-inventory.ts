/**
 * Time of collectInventory() on this host: median of N runs (IPA: 1.37 s).
 *   node --import tsx bench/agent-inventory.ts [--runs 5] [--lldp]
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { collectInventory } from '../agent/src/hardware/inventory/index.js';
import { median } from './section.js';

export interface InventoryFigures {
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  disks: number;
  nics: number;
}

export async function benchInventory(p: { runs: number; collectLldp?: boolean }): Promise<InventoryFigures> {
  const times: number[] = [];
  let disks = 0;
  let nics = 0;
  for (let i = 0; i < p.runs; i++) {
    const t0 = performance.now();
    const inv = await collectInventory({ collectLldp: p.collectLldp ?? false });
    times.push(performance.now() - t0);
    disks = inv.disks.length;
    nics = inv.interfaces.length;
  }
  return { runs: p.runs, medianMs: median(times), minMs: Math.min(...times), maxMs: Math.max(...times), disks, nics };
}

if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? '')).href) {
  const i = process.argv.indexOf('--runs');
  const r = await benchInventory({ runs: i > 0 ? Number(process.argv[i + 1]) : 5, collectLldp: process.argv.includes('--lldp') });
  process.stdout.write(
    `collectInventory: median ${r.medianMs.toFixed(1)} ms over ${r.runs} runs ` +
      `(min ${r.minMs.toFixed(1)}, max ${r.maxMs.toFixed(1)}; ${r.disks} disks, ${r.nics} interfaces)\n`,
  );
}
