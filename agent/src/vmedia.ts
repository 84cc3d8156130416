/**
 * Virtual-media boot support (ipa-protocol.md §0 steps 1-2): agent config
 * files on the boot ISO / config drive, and parameters.txt on the virtual
 * floppy. Both apply only when the kernel command line has
 * boot_method=vmedia, which Ironic's virtual-media boot interfaces set.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, readdir, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createConsoleLog, type Log } from './util/log.js';
import { VirtualMediaError, describeError } from './errors.js';
import { execute, type ProgramRunner } from './util/exec.js';
import { readProcMounts } from './util/proc-mounts.js';
import { settleDevices } from './util/udev-settle.js';
import { describeDevice, isVmediaCandidate } from './hardware/disks/vmedia-device.js';

export interface VmediaOptions {
  run?: ProgramRunner;
  /** Kernel parameters; default: parsed from <root>/proc/cmdline. */
  cmdline?: Record<string, string>;
  /** Where /proc, /sys and /etc are ("/" normally; a fixture tree in tests). */
  root?: string;
  log?: Log;
  /**
   * How long to look again for the ISO (label config-2 or vmedia_boot_iso)
   * when boot_method=vmedia and it is not there yet: a BMC's USB CD-ROM can
   * enumerate after the agent starts (IPA-builder's configdrive scripts poll
   * 30 s). Default 0: one look.
   */
  deviceWaitMs?: number;
  /** Pause between looks (tests). */
  pollMs?: number;
}

/**
 * A kernel command line (or parameters.txt) as k=v pairs: "a=1 quiet b=x=y
 * c=\"p q\"" → {a: "1", b: "x=y", c: "p q"}. Tokens without "=" are
 * ignored, "quoted values" kept whole, a later key wins.
 */
export function parseKernelParams(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const tokens = text.match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
  for (const tok of tokens) {
    const eq = tok.indexOf('=');
    if (eq <= 0) continue;
    out[tok.slice(0, eq)] = tok.slice(eq + 1).replace(/"/g, '');
  }
  return out;
}

async function readCmdline(o: VmediaOptions): Promise<Record<string, string>> {
  if (o.cmdline) return o.cmdline;
  try {
    return parseKernelParams(await readFile(join(o.root ?? '/', 'proc/cmdline'), 'utf8'));
  } catch {
    return {};
  }
}

/** `lsblk -P` output → one record per line: NAME="sr0" LABEL="config-2" → {NAME, LABEL}. */
export function parseLsblkPairs(output: string): Array<Record<string, string>> {
  return output
    .split('\n')
    .filter((l) => l.trim())
    .map((line) => {
      const rec: Record<string, string> = {};
      for (const m of line.matchAll(/([A-Z0-9:_-]+)="((?:[^"\\]|\\.)*)"/g)) {
        // lsblk escapes unsafe bytes as \xHH (a space in a label is \x20).
        rec[m[1]!] = m[2]!.replace(/\\x([0-9a-fA-F]{2})/g, (_s, h: string) => String.fromCharCode(parseInt(h, 16)));
      }
      return rec;
    });
}

/**
 * `blkid -o export` output → one record per device, in lsblk's shape: DEVNAME=/dev/sr0, LABEL=... →
 * {NAME: "sr0", LABEL, TYPE: "rom" for sr*}. blkid reads the superblocks itself.
 */
export function parseBlkidExport(output: string): Array<Record<string, string>> {
  return output
    .split(/\n\s*\n/)
    .map((block): Record<string, string> => {
      const rec: Record<string, string> = {};
      for (const line of block.split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) rec[line.slice(0, eq).trim()] = line.slice(eq + 1).replace(/\\(.)/g, '$1');
      }
      const name = rec.DEVNAME?.replace(/^\/dev\//, '');
      return name ? { NAME: name, LABEL: rec.LABEL ?? '', TYPE: /^sr\d+$/.test(name) ? 'rom' : '' } : {};
    })
    .filter((r) => r.NAME);
}

/** /dev path of a virtual-media device (isVmediaCandidate) whose filesystem label is one of `labels` (any case), or undefined. */
export async function findDeviceByLabels(labels: string[], o: VmediaOptions = {}): Promise<string | undefined> {
  const run = o.run ?? execute;
  const log = o.log ?? createConsoleLog();
  const wanted = new Set(labels.map((l) => l.toUpperCase()));
  const matching = (recs: Array<Record<string, string>>) => recs.filter((d) => d.NAME && d.LABEL && wanted.has(d.LABEL.toUpperCase()));
  let table: Array<Record<string, string>> = [];
  // The device may still be on its way (its driver loaded by udev after the agent started).
  await settleDevices(run, log);
  try {
    table = parseLsblkPairs((await run(['lsblk', '-n', '-P', '-b', '-o', 'NAME,LABEL,TYPE,RM,TRAN,SIZE'])).stdout);
  } catch (e) {
    log.warn(`lsblk failed, looking for virtual media with blkid: ${describeError(e)}`);
  }
  let hits = matching(table);
  // lsblk takes labels from udev's database: a ramdisk without udev (tinyipa) gets none, so ask blkid, which probes.
  if (!hits.length) {
    try {
      const byName = new Map(table.map((d) => [d.NAME, d]));
      // The device facts (type, transport, size) are lsblk's, from sysfs; only the label is blkid's.
      hits = matching(parseBlkidExport((await run(['blkid', '-o', 'export'])).stdout)).map((b): Record<string, string> => {
        const d = byName.get(b.NAME ?? '');
        return d ? { ...d, LABEL: b.LABEL ?? '' } : { NAME: b.NAME ?? '', LABEL: b.LABEL ?? '' };
      });
    } catch {
      // blkid exits 2 when it finds no labelled device at all.
    }
  }
  const usable = hits.filter(isVmediaCandidate);
  for (const d of hits.filter((h) => !usable.includes(h)))
    log.warn(
      `/dev/${d.NAME} is labelled ${d.LABEL} but is not virtual media (${describeDevice(d)}; virtual media is a CD-ROM or a USB disk under 4 GiB): ignored`,
    );
  // A CD-ROM before a USB stick.
  usable.sort((a, b) => rankDevice(a) - rankDevice(b));
  return usable[0] ? `/dev/${usable[0].NAME}` : undefined;
}

function rankDevice(d: Record<string, string>): number {
  return d.TYPE === 'rom' || /^sr\d+$/.test(d.NAME ?? '') ? 0 : 1;
}

/**
 * Old Ironic (pre-label floppies): a block device whose sysfs model says
 * "virtual media", and which can be virtual media at all (isVmediaCandidate:
 * a CD-ROM, or a USB disk under 4 GiB), its facts read from sysfs: a
 * partition or a local disk never is, whatever its model string.
 */
async function findDeviceBySysfsModel(root: string, log: Log): Promise<string | undefined> {
  const base = join(root, 'sys/class/block');
  let names: string[];
  try {
    names = (await readdir(base)).sort();
  } catch {
    return undefined;
  }
  for (const name of names) {
    const model = await readFile(join(base, name, 'device/model'), 'utf8').catch(() => '');
    if (!model.toLowerCase().includes('virtual media')) continue;
    const dir = join(base, name);
    const sectors = (await readFile(join(dir, 'size'), 'utf8').catch(() => '')).trim();
    const facts = {
      NAME: name,
      TYPE: /^sr\d+$/.test(name) ? 'rom' : existsSync(join(dir, 'partition')) ? 'part' : 'disk',
      // /sys/class/block/<name> links into the device tree: a USB device's path runs through its usbN bus.
      TRAN: /\/usb\d+\//.test(await realpath(dir).catch(() => '')) ? 'usb' : '',
      SIZE: /^\d+$/.test(sectors) ? String(Number(sectors) * 512) : '',
    };
    if (isVmediaCandidate(facts)) return `/dev/${name}`;
    log.warn(
      `/dev/${name}'s model is "${model.trim()}" but it is not virtual media (${describeDevice(facts)}; virtual media is a CD-ROM or a USB disk under 4 GiB): ignored`,
    );
  }
  return undefined;
}

/** Mounts `device` read-only on a fresh temp dir, runs `fn`, always unmounts. */
async function withMountedDevice<T>(device: string, run: ProgramRunner, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ipa-vmedia-'));
  try {
    try {
      await run(['mount', '-o', 'ro', device, dir]);
    } catch (e) {
      throw new VirtualMediaError(
        `cannot mount virtual media ${device}: ${describeError(e)}; check that the ramdisk has the vfat/iso9660 drivers`,
        { cause: e },
      );
    }
    try {
      return await fn(dir);
    } finally {
      await run(['umount', dir]).catch(() => undefined);
    }
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Parameters from parameters.txt on the virtual floppy (label ir-vfd-dev,
 * else a device whose sysfs model contains "virtual media"). {} unless
 * boot_method=vmedia, and {} when there is no floppy (current Ironic passes
 * everything on the ISO's command line). Throws VirtualMediaError when the
 * floppy exists but cannot be mounted.
 */
export async function readVmediaParameters(o: VmediaOptions = {}): Promise<Record<string, string>> {
  const cmdline = await readCmdline(o);
  if (cmdline.boot_method !== 'vmedia') return {};
  const run = o.run ?? execute;
  const log = o.log ?? createConsoleLog();
  const device = (await findDeviceByLabels(['ir-vfd-dev'], { ...o, run, log })) ?? (await findDeviceBySysfsModel(o.root ?? '/', log));
  if (!device) {
    log.info('boot_method=vmedia but no virtual floppy found; using the kernel command line only');
    return {};
  }
  return withMountedDevice(device, run, async (dir) => {
    const text = await readFile(join(dir, 'parameters.txt'), 'utf8').catch(() => {
      log.warn(`virtual media ${device} has no parameters.txt`);
      return '';
    });
    return parseKernelParams(text);
  });
}

/**
 * The agent's parameters: the kernel command line with, when
 * boot_method=vmedia, the floppy's parameters.txt on top (IPA
 * get_agent_params). The one place the two are merged; config-load.ts
 * calls it. `readFloppy` replaces readVmediaParameters (tests).
 */
export async function readAgentParameters(
  o: VmediaOptions & { readFloppy?: () => Promise<Record<string, string>> } = {},
): Promise<Record<string, string>> {
  const cmdline = await readCmdline(o);
  if (cmdline.boot_method !== 'vmedia') return { ...cmdline };
  const floppy = await (o.readFloppy ?? (() => readVmediaParameters({ ...o, cmdline })))();
  return { ...cmdline, ...floppy };
}

async function isDirectory(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

async function findMountPoint(root: string, device: string): Promise<string | undefined> {
  return (await readProcMounts(root)).find((m) => m.device === device)?.mountPoint;
}

/**
 * Runs `fn` on the mounted virtual-media ISO / config drive (label config-2
 * or vmedia_boot_iso), reusing an existing mount of it, else mounting it
 * read-only. undefined unless boot_method=vmedia and such a device exists.
 */
async function withVmediaIso<T>(o: VmediaOptions, fn: (mnt: string, device: string) => Promise<T>): Promise<T | undefined> {
  const cmdline = await readCmdline(o);
  if (cmdline.boot_method !== 'vmedia') return undefined;
  const run = o.run ?? execute;
  const root = o.root ?? '/';
  const log = o.log ?? createConsoleLog();
  // Each warning once over the looks (a labelled local partition is named at every look).
  const warned = new Set<string>();
  const quiet: Log = {
    ...log,
    warn: (m) => {
      if (warned.has(m)) return;
      warned.add(m);
      log.warn(m);
    },
  };
  const look = () => findDeviceByLabels(['config-2', 'vmedia_boot_iso'], { ...o, run, log: quiet });
  let device = await look();
  // Once per boot: a restarted agent does not wait again (the mark is in /run).
  const waited = join(root, 'run/ramforge/vmedia-waited');
  if (!device && (o.deviceWaitMs ?? 0) > 0 && !existsSync(waited)) {
    const deadline = Date.now() + (o.deviceWaitMs ?? 0);
    log.info(
      `boot_method=vmedia: waiting up to ${Math.round((o.deviceWaitMs ?? 0) / 1000)} s for the virtual media (label config-2 or vmedia_boot_iso)`,
    );
    while (!device && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, o.pollMs ?? 1000));
      device = await look();
    }
    await mkdir(dirname(waited), { recursive: true })
      .then(() => writeFile(waited, `${new Date().toISOString()}\n`))
      .catch(() => undefined);
    if (!device)
      log.warn(
        'boot_method=vmedia, but no virtual media labelled config-2 or vmedia_boot_iso appeared: no config or network_data.json from it',
      );
  }
  if (!device) {
    log.debug('no config-2 or vmedia_boot_iso device on virtual media');
    return undefined;
  }
  const mounted = await findMountPoint(root, device);
  return mounted ? fn(mounted, device) : withMountedDevice(device, run, (dir) => fn(dir, device));
}

/**
 * Copies etc/ironic-python-agent and etc/ironic-python-agent.d from the
 * device labelled config-2 or vmedia_boot_iso into <root>/etc, so operator
 * config baked into the ISO applies (Ironic's ironic-tls.conf and CA with
 * [agent]api_ca_file). Only with boot_method=vmedia. Returns the
 * directories copied.
 */
export async function copyConfigFromVmedia(o: VmediaOptions = {}): Promise<string[]> {
  const root = o.root ?? '/';
  const log = o.log ?? createConsoleLog();
  const copied = await withVmediaIso(o, async (mnt, device) => {
    const done: string[] = [];
    for (const name of ['ironic-python-agent', 'ironic-python-agent.d']) {
      const src = join(mnt, 'etc', name);
      if (!(await isDirectory(src))) continue;
      const dest = join(root, 'etc', name);
      await cp(src, dest, { recursive: true, force: true });
      log.info(`copied ${src} from ${device} to ${dest}`);
      done.push(dest);
    }
    return done;
  });
  return copied ?? [];
}

/** Where Ironic puts the node's network configuration for DHCP-less deploys. */
export const VMEDIA_NETWORK_DATA = 'openstack/latest/network_data.json';

/**
 * The text of openstack/latest/network_data.json on the virtual-media ISO /
 * config drive, or undefined (not vmedia, no device, no file).
 */
export async function readVmediaNetworkData(o: VmediaOptions = {}): Promise<{ text: string; source: string } | undefined> {
  return withVmediaIso(o, async (mnt, device) => {
    const text = await readFile(join(mnt, VMEDIA_NETWORK_DATA), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : { text, source: `${device}:/${VMEDIA_NETWORK_DATA}` };
  });
}
