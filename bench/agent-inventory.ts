/**
 * Time of collectInventory() on this host: 5 runs, median (IPA: 1.37 s).
 *   node --import tsx bench/agent-inventory.ts [--lldp]
 */
import { performance } from 'node:perf_hooks';
import { collectInventory } from '../agent/src/hardware/inventory/index.js';

export async function benchInventory(collectLldp = false, print = true): Promise<{ medianMs: number; minMs: number; maxMs: number; disks: number; nics: number }> {
  const times: number[] = [];
  let disks = 0;
  let nics = 0;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const inv = await collectInventory({ collectLldp });
    times.push(performance.now() - t0);
    disks = inv.disks.length;
    nics = inv.interfaces.length;
  }
  const sorted = [...times].sort((a, b) => a - b);
  const r = { medianMs: sorted[2]!, minMs: sorted[0]!, maxMs: sorted[4]!, disks, nics };
  if (print) process.stdout.write(`collectInventory: median ${sorted[2]!.toFixed(1)} ms over 5 runs `
    + `(min ${sorted[0]!.toFixed(1)}, max ${sorted[4]!.toFixed(1)}; ${disks} disks, ${nics} interfaces)\n`);
  return r;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) await benchInventory(process.argv.includes('--lldp'));
