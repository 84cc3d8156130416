/**
 * Collectors that only read sysfs: pci-devices and numa-topology
 * (IPA inspector.collect_pci_devices_info, numa_inspector).
 */
import type { HostAccess } from '../hardware/inventory/host-access.js';

export interface PciDevice {
  vendor_id: string;
  product_id: string;
  class: string;
  /** null when the device has no readable revision file (IPA sends None then). */
  revision: string | null;
  bus: string;
  /** The numa_node file's text ("0", "-1"), as IPA sends it: a string, not a number. */
  numa_node_id: string | null;
}

// Only the "0x" prefix goes: IPA's lstrip('0x') also ate leading zeros
// ("0x0443" → "443"), which then never matches a configured PCI alias.
const unhex = (s: string) => s.trim().replace(/^0x/i, '');

export async function collectPciDevices(host: HostAccess): Promise<PciDevice[]> {
  const base = '/sys/bus/pci/devices';
  const buses = await host.listDir(base);
  const rows = await Promise.all(
    buses.map(async (bus): Promise<PciDevice | undefined> => {
      const [vendor, device, cls, rev, numa] = await Promise.all(
        ['vendor', 'device', 'class', 'revision', 'numa_node'].map((f) => host.readText(`${base}/${bus}/${f}`)),
      );
      // As IPA: vendor, device and class are required; a missing revision is null, not a reason to drop the device.
      if (vendor === undefined || device === undefined || cls === undefined) return undefined;
      return {
        vendor_id: unhex(vendor),
        product_id: unhex(device),
        class: unhex(cls),
        revision: rev === undefined ? null : unhex(rev),
        bus,
        numa_node_id: numa === undefined ? null : numa.trim(),
      };
    }),
  );
  return rows.filter((r): r is PciDevice => r !== undefined);
}

export interface NumaTopology {
  ram: Array<{ numa_node: number; size_kb: number }>;
  cpus: Array<{ cpu: number; numa_node: number; thread_siblings: number[] }>;
  nics: Array<{ name: string; numa_node: number }>;
}

const byNumber = (prefix: string) => (a: string, b: string) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length));

/** undefined when the kernel exposes no NUMA nodes (IPA then adds nothing). */
export async function collectNumaTopology(host: HostAccess): Promise<NumaTopology | undefined> {
  const nodeBase = '/sys/devices/system/node';
  const nodes = (await host.listDir(nodeBase)).filter((n) => /^node\d+$/.test(n)).sort(byNumber('node'));
  if (!nodes.length) return undefined;
  const topo: NumaTopology = { ram: [], cpus: [], nics: [] };
  const cores = new Map<string, { cpu: number; numa_node: number; thread_siblings: number[] }>();
  for (const node of nodes) {
    const id = Number(node.slice(4));
    const meminfo = await host.readText(`${nodeBase}/${node}/meminfo`);
    const kb = /MemTotal:\s+(\d+)\s+kB/i.exec(meminfo ?? '')?.[1];
    if (!kb) throw new Error(`failed to collect NUMA info: no MemTotal in ${nodeBase}/${node}/meminfo`);
    topo.ram.push({ numa_node: id, size_kb: Number(kb) });
    const threads = (await host.listDir(`${nodeBase}/${node}`)).filter((t) => /^cpu\d+$/.test(t)).sort(byNumber('cpu'));
    for (const t of threads) {
      const coreId = (await host.readText(`${nodeBase}/${node}/${t}/topology/core_id`))?.trim();
      if (coreId === undefined) throw new Error(`failed to collect NUMA info: no core_id for ${t} of ${node}`);
      const key = `${id}:${coreId}`;
      const thread = Number(t.slice(3));
      const entry = cores.get(key);
      if (entry) {
        if (!entry.thread_siblings.includes(thread)) entry.thread_siblings.push(thread);
      } else cores.set(key, { cpu: Number(coreId), numa_node: id, thread_siblings: [thread] });
    }
  }
  topo.cpus = [...cores.values()];
  for (const name of await host.listDir('/sys/class/net')) {
    if (!(await host.exists(`/sys/class/net/${name}/device`))) continue;
    const numa = await host.readText(`/sys/class/net/${name}/device/numa_node`);
    if (numa === undefined) continue;
    topo.nics.push({ name, numa_node: parseInt(numa, 10) });
  }
  return topo;
}
