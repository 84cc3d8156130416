/**
 * The floor, measured on this host now: a ramdisk of busybox and its httpd
 * (and the modules the virtio NIC needs), booted like the tinyipa ramdisk
 * (the same kernel, TCG, memory, disk, serial console, forwarded port),
 * answers `/v1/status` as soon as the NIC has an address from DHCP. No
 * agent can answer sooner on this kernel, so this is the floor the boot
 * figures are read against.
 *
 * Why it is measured rather than quoted: the issues' floor (3.5 s) was
 * measured once, on one machine of this kind, and the pace of the machines
 * this bench runs on differs by a quarter and more from one day to the
 * next (the same dib image booted in 20.2 s one day, 16.1 s the next). A
 * boot figure says little without the floor of the same host beside it.
 *
 * Everything comes from the tinyipa build (kernel, busybox, modules), so
 * the floor needs nothing the bench does not already have.
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { cpioStream } from '../builder/src/archive/cpio-writer.js';
import { readInitramfsFiles } from '../builder/src/archive/initramfs-list.js';
import { moduleName, parseModuleIndex } from '../builder/src/debian/modules.js';
import type { TreeEntry } from '../builder/src/tree/types.js';
import { medianBootTimes, type BootMark, type VmParams } from './boot.js';
import type { BenchContext, Row } from './section.js';

/** The issues' figure for this floor, measured on the machine the targets were set on. */
export const REFERENCE_FLOOR_SECONDS = 3.5;

/** What the virtio NIC needs when the kernel has these as modules (Debian's kernels do). */
const NIC_MODULES = ['virtio_pci', 'virtio_net'];

export interface FloorParams extends VmParams {
  /** Boots of the floor ramdisk; the figures are the median one's. */
  runs: number;
}

export interface FloorFigures {
  /** The median boot's wall seconds to /v1/status. */
  seconds: number;
  cpuSeconds: number;
  marks: BootMark[];
  /** Every boot's wall seconds, in boot order. */
  runs: number[];
  memoryMiB: number;
  /** REFERENCE_FLOOR_SECONDS / seconds: above 1 this host runs faster than the one the targets were set on. */
  pace: number;
}

/**
 * The modules to load, in load order, for `wanted` (module names), from
 * modules.dep as the builder parses it (builder/src/debian/modules.ts; `-`
 * and `_` are one name). Each module's dependencies are listed as modprobe
 * reads them: the last one loads first. A wanted module the kernel does
 * not list is taken as built in. Paths as modules.dep gives them.
 */
export function moduleLoadOrder(modulesDep: string, wanted: readonly string[]): string[] {
  const idx = parseModuleIndex({ dep: modulesDep });
  const order: string[] = [];
  const visit = (name: string, seen: Set<string>): void => {
    const path = idx.paths.get(name);
    if (!path || order.includes(path)) return;
    if (seen.has(name)) throw new Error(`modules.dep: a dependency cycle through ${path}`);
    seen.add(name);
    for (const d of [...(idx.deps.get(name) ?? [])].reverse()) visit(d, seen);
    order.push(path);
  };
  for (const name of wanted) visit(moduleName(name), new Set());
  return order;
}

/** /init of the floor ramdisk: modules, DHCP on eth0 (busybox udhcpc), httpd serving /v1/status. */
export function floorInit(modules: readonly string[]): string {
  return [
    '#!/bin/busybox sh',
    '/bin/busybox --install -s /bin',
    'export PATH=/bin',
    'mount -t proc proc /proc',
    'mount -t sysfs sysfs /sys',
    ...modules.map((m) => `insmod /mods/${m.slice(m.lastIndexOf('/') + 1)}`),
    'ip link set lo up',
    'ip link set eth0 up',
    'echo "floor: DHCP on eth0"',
    'udhcpc -i eth0 -q -f -n -t 20 -T 1 -s /bin/dhcp-event',
    'echo "floor: httpd starting"',
    'exec httpd -f -p 9999 -h /www',
    '',
  ].join('\n');
}

/** udhcpc's event script: configure the lease it got (udhcpc only reports it). */
const DHCP_EVENT = [
  '#!/bin/busybox sh',
  'case "$1" in',
  '  bound|renew)',
  '    ifconfig "$interface" "$ip" netmask "$subnet"',
  '    [ -n "$router" ] && route add default gw "${router%% *}" dev "$interface"',
  '    ;;',
  'esac',
  'exit 0',
  '',
].join('\n');

/**
 * Writes the floor ramdisk (an uncompressed cpio: it is ~3 MB, and the
 * kernel copies it faster than it would decompress it) from the tinyipa
 * initramfs: its busybox and the NIC's modules. Fails with the reason when
 * the initramfs lacks one of them.
 */
export async function writeFloorInitramfs(tinyipaInitramfs: string, out: string): Promise<void> {
  const wantedFile = (name: string): boolean =>
    name === 'usr/bin/busybox' || name === 'bin/busybox' || /^(usr\/)?lib\/modules\/[^/]+\/(modules\.dep|.*\.ko)$/.test(name);
  const { files } = await readInitramfsFiles(tinyipaInitramfs, wantedFile);
  const busybox = files.get('usr/bin/busybox') ?? files.get('bin/busybox');
  if (!busybox) throw new Error(`${tinyipaInitramfs}: no busybox in it (usr/bin/busybox), so no floor ramdisk`);
  const depName = [...files.keys()].find((n) => n.endsWith('/modules.dep'));
  const modules = depName ? moduleLoadOrder(files.get(depName)!.toString('utf8'), NIC_MODULES) : [];
  const modulesDir = depName ? depName.slice(0, depName.lastIndexOf('/')) : '';
  const entries: TreeEntry[] = [];
  const dir = (path: string): void => void entries.push({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
  const file = (path: string, data: Buffer, mode = 0o644): void =>
    void entries.push({ path, type: 'file', mode, uid: 0, gid: 0, mtime: 0, size: data.length, data });
  for (const d of ['bin', 'dev', 'mods', 'proc', 'sys', 'www', 'www/v1']) dir(d);
  file('bin/busybox', busybox, 0o755);
  file('bin/dhcp-event', Buffer.from(DHCP_EVENT), 0o755);
  for (const m of modules) {
    const data = files.get(`${modulesDir}/${m}`);
    if (!data) throw new Error(`${tinyipaInitramfs}: modules.dep lists ${m}, which is not in the initramfs (or is compressed)`);
    file(`mods/${m.slice(m.lastIndexOf('/') + 1)}`, data);
  }
  file('init', Buffer.from(floorInit(modules)), 0o755);
  file('www/v1/status', Buffer.from('{"floor":true}\n'));
  await pipeline(cpioStream(entries, { epoch: 0 }), createWriteStream(out));
}

export async function floorSection(p: FloorParams, ctx: BenchContext): Promise<FloorFigures> {
  const t = await ctx.tinyipa();
  const initrd = join(ctx.tempDir('floor'), 'floor.initramfs');
  await writeFloorInitramfs(t.initramfs, initrd);
  const mid = await medianBootTimes(
    ctx,
    { kernel: t.kernel, initrd, append: 'console=ttyS0,115200' },
    p,
    p.runs,
    'the floor ramdisk (busybox httpd)',
  );
  return { ...mid, memoryMiB: p.memoryMiB, pace: REFERENCE_FLOOR_SECONDS / mid.seconds };
}

/** What the boot, dib and coreos sections' figures have in common here. */
interface BootFigureShape {
  seconds?: Partial<Record<string, number>>;
  directSeconds?: number;
}

/** The issues' targets for a kernel+initramfs boot to /v1/status, in seconds (the sections' rows print them too). */
export const BOOT_TARGET_S = { tinyipa: 7, dib: 20, coreos: 30 } as const;

/** The boot rows whose targets were set against the issues' floor, by section: its figure and the target in seconds. */
const PACED_BOOTS: { section: string; label: string; seconds: (f: BootFigureShape) => number | undefined; targetS: number }[] = [
  {
    section: 'boot',
    label: 'tinyipa boot → /v1/status, kernel+initramfs',
    seconds: (f) => f.seconds?.direct,
    targetS: BOOT_TARGET_S.tinyipa,
  },
  { section: 'dib', label: 'dib boot → /v1/status, kernel+initramfs', seconds: (f) => f.directSeconds, targetS: BOOT_TARGET_S.dib },
  {
    section: 'coreos',
    label: 'coreos boot → /v1/status, kernel+initramfs',
    seconds: (f) => f.directSeconds,
    targetS: BOOT_TARGET_S.coreos,
  },
];

/**
 * The boot figures read at the pace of the machine the targets were set on: figure × (issues' floor / this run's
 * floor). Only where the floor section ran in the same run; the floor boots tinyipa's LZ4 cloud kernel, so for
 * dib's and coreos's XZ generic kernel (~3 s of self-decompression under TCG that the floor does not pay) this is
 * a reading of the host's pace, not an exact conversion.
 */
export function pacedBootRows(figures: Record<string, unknown>): Row[] {
  const floor = figures.floor as { seconds: number; pace: number } | undefined;
  if (!floor) return [];
  const out: Row[] = [];
  for (const b of PACED_BOOTS) {
    const f = figures[b.section];
    const seconds = f && !(typeof f === 'object' && 'skipped' in f) ? b.seconds(f as BootFigureShape) : undefined;
    if (seconds === undefined || !Number.isFinite(seconds)) continue;
    out.push({
      metric: `${b.label}, at the targets' pace`,
      value: `${(seconds * floor.pace).toFixed(1)} s`,
      target: `≤ ${b.targetS} s`,
      reference: `${seconds.toFixed(1)} s here × ${floor.pace.toFixed(2)} (floor ${REFERENCE_FLOOR_SECONDS} s where the targets were set / ${floor.seconds.toFixed(1)} s here)`,
    });
  }
  return out;
}
