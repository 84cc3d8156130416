/**
 * Inspection collectors by name (IPA's ironic_python_agent.inspector.collectors
 * entry points). Each adds keys to the payload; failures are accumulated by
 * the caller. `logs` always runs last, whatever its place in the list.
 */
import { collectSystemLogs } from '../util/system-logs.js';
import type { HostAccess } from '../hardware/inventory/host-access.js';
import { guessRootDisk } from '../hardware/inventory/root-device.js';
import { collectLldp } from '../hardware/inventory/lldp.js';
import type { Log } from '../util/log.js';
import { AgentError } from '../errors.js';
import type { BlockDevice, Inventory } from '../hardware/types.js';
import { collectDmi } from './dmi-decode.js';
import { collectNumaTopology, collectPciDevices } from './sysfs-collectors.js';
import { collectUsbDevices } from './usb-devices.js';

export interface ManagerVersion {
  name: string;
  version: string;
}

export interface CollectorContext {
  host: HostAccess;
  collectorNames: string[];
  managers: ManagerVersion[];
  /** The cached inventory (collected once per inspection). */
  inventory: () => Promise<Inventory>;
  waitForDhcp: () => Promise<boolean>;
  log: Log;
  /** Seconds the lldp collector waits for a frame (ipa-lldp-timeout). */
  lldpTimeout: number;
  /** ipa-inspection-benchmarks (cpu,disk,mem) for extra-hardware. */
  benchmarks: string[];
}

export type Payload = Record<string, unknown>;
export type Collector = (data: Payload, ctx: CollectorContext) => Promise<void>;

const stripStored = (d: BlockDevice): BlockDevice => {
  const { uuid: _u, partuuid: _p, ...rest } = d;
  return rest;
};

const collectDefault: Collector = async (data, ctx) => {
  await ctx.waitForDhcp();
  const inventory = await ctx.inventory();
  data.inventory = inventory;
  try {
    data.root_disk = stripStored(guessRootDisk(inventory.disks ?? []));
  } catch {
    /* no disk >= 4 GiB: key omitted, as IPA does */
  }
  // A site manager's inventory may leave keys out: post what it gave (the service judges it) rather than fail here.
  data.boot_interface = inventory.boot?.pxe_interface ?? null;
  data.configuration = { collectors: ctx.collectorNames, managers: ctx.managers };
};

const collectExtraHardware: Collector = async (data, ctx) => {
  if (!(await ctx.host.hasCommand('hardware-detect'))) {
    throw new Error(
      'hardware-detect is not installed: add the python "hardware" package to the ramdisk or drop the extra-hardware collector',
    );
  }
  const argv = ['hardware-detect', ...(ctx.benchmarks.length ? ['--benchmark', ...ctx.benchmarks] : [])];
  // No time limit, as in IPA: benchmarks on a large machine can run for a long time.
  const out = (await ctx.host.run(argv)).stdout;
  try {
    data.data = JSON.parse(out);
  } catch (e) {
    throw new Error(`hardware-detect printed invalid JSON: ${(e as Error).message}`);
  }
};

export const COLLECTORS: Record<string, Collector> = {
  default: collectDefault,
  // The same archive as log.collect_system_logs (IPA uses one function for both).
  logs: async (data, ctx) => {
    data.logs = await collectSystemLogs({ run: ctx.host.run, root: ctx.host.root });
  },
  'extra-hardware': collectExtraHardware,
  'pci-devices': async (data, ctx) => {
    data.pci_devices = await collectPciDevices(ctx.host);
  },
  'numa-topology': async (data, ctx) => {
    // As IPA's collect_numa_topology_info: a layout it cannot read (offline CPUs keep their nodeN/cpuM link but lose
    // topology/) is a warning and no numa_topology, not an inspection error.
    let t: Awaited<ReturnType<typeof collectNumaTopology>>;
    try {
      t = await collectNumaTopology(ctx.host);
    } catch (e) {
      ctx.log.warn(`numa-topology: ${(e as Error).message}; numa_topology is left out`);
      return;
    }
    if (t) data.numa_topology = t;
  },
  'usb-devices': async (data, ctx) => {
    data.usb_devices = await collectUsbDevices(ctx.host);
  },
  'dmi-decode': async (data, ctx) => {
    data.dmi = await collectDmi(ctx.host);
  },
  lldp: async (data, ctx) => {
    // IPA's inspector collector: lldp_raw per interface. Reuses the inventory's capture when ipa-collect-lldp made one;
    // a failed capture is logged (collectLldp), never an inspection error. The inventory is collected once and
    // posted by `default`: taken here first, it must wait for DHCP as `default` would, or it would lack the addresses.
    if (ctx.collectorNames.includes('default')) await ctx.waitForDhcp();
    // A site manager's inventory may have no interfaces key.
    const interfaces = (await ctx.inventory()).interfaces ?? [];
    const m = interfaces.some((i) => i.lldp !== null)
      ? new Map(interfaces.map((i) => [i.name, i.lldp ?? []] as const))
      : await collectLldp(
          ctx.host,
          interfaces.map((i) => i.name),
          ctx.lldpTimeout,
          ctx.log,
        );
    data.lldp_raw = m ? Object.fromEntries(m) : {};
  },
};

/** Names from ipa-inspection-collectors, in order, with logs moved last. */
export function orderCollectors(names: string[]): string[] {
  const clean = names.map((n) => n.trim()).filter(Boolean);
  return [...clean.filter((n) => n !== 'logs'), ...clean.filter((n) => n === 'logs')];
}

export const ACCUMULATED_HEADER = 'The following errors were encountered:';

/** Runs every collector; returns the accumulated error text (null when none). */
export async function runCollectors(names: string[], data: Payload, ctx: CollectorContext): Promise<string | null> {
  const failures: string[] = [];
  for (const name of orderCollectors(names)) {
    const c = COLLECTORS[name];
    if (!c) {
      failures.push(`collector ${name} failed: unknown collector (known: ${Object.keys(COLLECTORS).join(', ')})`);
      continue;
    }
    try {
      await c(data, ctx);
    } catch (e) {
      const msg = e instanceof AgentError ? e.details || e.message : (e as Error).message;
      failures.push(`collector ${name} failed: ${msg}`);
      // Logged now, as IPA's AccumulatedFailures.add: on the console and in the journal the logs collector sends.
      ctx.log.error(`inspection collector ${name} failed: ${msg}`);
    }
  }
  return failures.length ? `${ACCUMULATED_HEADER}\n${failures.map((f) => `* ${f}`).join('\n')}` : null;
}
