/**
 * Records THIS machine as a replayable fixture tree:
 *   node --import tsx agent/src/hardware/inventory/record-fixture.ts OUTDIR
 * Runs the inventory and the sysfs/dmidecode inspection collectors through a
 * recording HostAccess, so OUTDIR holds exactly the files, symlinks and
 * command outputs they read. Then writes OUTDIR/expected-*.json from a replay
 * of the tree (review them before committing: they are the test oracle).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { collectDmi } from '../../src/inspect/dmi-decode.js';
import { collectNumaTopology, collectPciDevices } from '../../src/inspect/sysfs-collectors.js';
import { createRecordingHost } from './fixture-recorder.js';
import { createHostAccess } from '../../src/hardware/inventory/host-access.js';
import type { HostAccess } from '../../src/hardware/inventory/host-access.js';
import { collectInventory } from '../../src/hardware/inventory/index.js';

async function collectAll(host: HostAccess) {
  const [inventory, pci, numa, dmi] = await Promise.all([
    collectInventory({ host, collectLldp: true }),
    collectPciDevices(host),
    collectNumaTopology(host),
    collectDmi(host).catch((e: Error) => ({ error: e.message })),
  ]);
  return { inventory, pci_devices: pci, numa_topology: numa ?? null, dmi };
}

async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: record-fixture.ts OUTDIR\n');
    process.exit(2);
  }
  const dir = path.resolve(out);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await collectAll(createRecordingHost(dir));
  const replayed = await collectAll(createHostAccess({ root: dir }));
  for (const [k, v] of Object.entries(replayed)) {
    // <FIXTURES> stands for the fixtures directory, wherever the repo is checked out (see inventory.test.ts).
    await writeFile(
      path.join(dir, `expected-${k.replace(/_/g, '-')}.json`),
      JSON.stringify(v, null, 2).replaceAll(path.dirname(path.resolve(dir)), '<FIXTURES>') + '\n',
    );
  }
  process.stderr.write(`recorded ${dir}\n`);
}

await main();
