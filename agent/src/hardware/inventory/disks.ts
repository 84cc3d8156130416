/**
 * Block devices as IPA's list_all_block_devices reports them: lsblk for the
 * table, udev for serial/WWN fallbacks and by-path, sysfs for vendor and HCTL,
 * and for serial and WWN where udev keeps no database (tinyipa: sysfsIds).
 * Without a usable lsblk (busybox ramdisks) the table is read from /sys/block.
 */
import type { BlockDevice } from '../types.js';
import type { HostAccess } from './host-access.js';
import { tryRun } from './host-access.js';

/* udev's database as files, /run/udev/data/b<major>:<minor>: what `udevadm info`
   prints, without a process per disk. */
export interface UdevRecord {
  /** E: properties (ID_SERIAL, ID_WWN, …). */
  env: Record<string, string>;
  /** S: symlinks relative to /dev, in database order. */
  links: string[];
}

export function parseUdevData(text: string): UdevRecord {
  const env: Record<string, string> = {};
  const links: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('E:')) {
      const eq = line.indexOf('=');
      if (eq > 2) env[line.slice(2, eq)] = line.slice(eq + 1);
    } else if (line.startsWith('S:')) {
      links.push(line.slice(2));
    }
  }
  return { env, links };
}

/** The udev record of a block device (by kernel name), empty when udev keeps none. */
export async function readBlockUdev(host: HostAccess, kname: string): Promise<UdevRecord> {
  const dev = (await host.readText(`/sys/class/block/${kname}/dev`))?.trim();
  if (!dev) return { env: {}, links: [] };
  const text = await host.readText(`/run/udev/data/b${dev}`);
  return text === undefined ? { env: {}, links: [] } : parseUdevData(text);
}

/** A disk's serial and WWN as udev's rules would have made them from sysfs (sysfsIds). */
export interface SysfsIds {
  serial: string | null;
  /** lsblk's WWN: udev's ID_WWN_WITH_EXTENSION, else ID_WWN. */
  wwn: string | null;
  wwnWithExtension: string | null;
  wwnVendorExtension: string | null;
  /** Every form a hint may use: the serial as is (trimmed) besides udev's, the WWN without its extension (ID_WWN). */
  serials: string[];
  wwns: string[];
}

/** udev's util_replace_whitespace: trimmed, each inner run of whitespace one '_'; printable ASCII only. */
const udevClean = (v: string | undefined): string | null => {
  const s = (v ?? '')
    .replace(/[^\x20-\x7e]/g, ' ')
    .trim()
    .replace(/\s+/g, '_');
  return s === '' ? null : s;
};

/**
 * Serial and WWN read from sysfs, for a ramdisk without udev's database
 * (tinyipa runs mdev): there lsblk's SERIAL and WWN columns are empty for
 * every SATA/SAS disk and every WWN (lsblk takes them from udev; its sysfs
 * fallback reads device/serial only), so a root device hint or a
 * skip_block_devices entry by serial or WWN would match nothing, and the
 * disk an operator protected would be erased. Taken as udev's
 * 60-persistent-storage rules and its ata_id/scsi_id take them:
 *  - serial: <dev>/serial (virtio-blk), device/serial (NVMe: the
 *    controller's), else SCSI VPD page 0x80 (device/vpd_pg80: SCSI disks,
 *    and SATA disks through libata, whose page 0x80 is the ATA serial);
 *  - WWN: <dev>/wwid of an NVMe namespace as it is ("eui.…", "nvme.…"), else
 *    an NAA designator of SCSI VPD page 0x83 (device/wwid "naa.<hex>"): 0x +
 *    all of it as lsblk's WWN (ID_WWN_WITH_EXTENSION), 0x + its first 16 hex
 *    digits as ID_WWN, the rest the vendor extension.
 * The page 0x80 file is binary, read here as text: its 4 header bytes
 * (00 80 00 len, len < 0x80) decode to 4 characters, so the serial starts
 * at the fifth.
 */
export async function sysfsIds(host: HostAccess, kname: string): Promise<SysfsIds> {
  const rd = (f: string) => host.readText(`/sys/class/block/${kname}/${f}`);
  const [own, ctrl, pg80, nsWwid, scsiWwid] = await Promise.all([
    rd('serial'),
    rd('device/serial'),
    rd('device/vpd_pg80'),
    rd('wwid'),
    rd('device/wwid'),
  ]);
  // The page as bytes decoded to text: a 4-byte header (peripheral, page code 0x80, length), then the serial.
  const vpd = pg80 !== undefined && pg80.length > 4 ? pg80.slice(4).replace(/\0.*$/s, '') : undefined;
  const serial = udevClean(own) ?? udevClean(ctrl) ?? udevClean(vpd);
  // scsi_id's ID_SCSI_SERIAL keeps inner spaces where ID_SERIAL_SHORT has '_': a hint may use either.
  const rawSerial = (own ?? ctrl ?? vpd ?? '').replace(/\0.*$/s, '').trim();
  const serials = [...new Set([serial, rawSerial].filter((s): s is string => !!s))];
  const ns = udevClean(nsWwid);
  if (ns) return { serial, wwn: ns, wwnWithExtension: null, wwnVendorExtension: null, serials, wwns: [ns] };
  const naa = /^naa\.([0-9a-f]{16,32})$/i.exec((scsiWwid ?? '').trim());
  if (!naa) return { serial, wwn: null, wwnWithExtension: null, wwnVendorExtension: null, serials, wwns: [] };
  const hex = naa[1]!.toLowerCase();
  const withExt = `0x${hex}`;
  return {
    serial,
    wwn: withExt,
    wwnWithExtension: withExt,
    wwnVendorExtension: hex.length > 16 ? `0x${hex.slice(16)}` : null,
    serials,
    wwns: [...new Set([withExt, `0x${hex.slice(0, 16)}`])],
  };
}

export const LSBLK_ARGV = ['lsblk', '-bia', '--json', '-o', 'KNAME,MODEL,SIZE,ROTA,TYPE,UUID,PARTUUID,SERIAL,WWN,LOG-SEC,PHY-SEC,TRAN'];

interface LsblkRow {
  kname: string;
  model: string | null;
  size: number;
  rota: boolean;
  type: string;
  uuid: string | null;
  partuuid: string | null;
  serial: string | null;
  wwn: string | null;
  logSec: number | null;
  phySec: number | null;
  tran: string | null;
  children: LsblkRow[];
}

// Virtual or removable kinds IPA never offers as install targets.
const IGNORED_PREFIXES = ['ram', 'zram', 'loop', 'fd', 'sr'];

const str = (v: unknown): string | null => {
  if (v === null || v === undefined) return null;
  const s = String(v).trim();
  return s === '' ? null : s;
};
const num = (v: unknown): number | null => (v === null || v === undefined || v === '' ? null : Number(v));

function toRow(raw: Record<string, unknown>): LsblkRow {
  const rota = raw.rota;
  return {
    kname: String(raw.kname ?? raw.name ?? ''),
    model: str(raw.model),
    size: Number(raw.size ?? 0),
    rota: rota === true || rota === '1' || rota === 1,
    type: String(raw.type ?? ''),
    uuid: str(raw.uuid),
    partuuid: str(raw.partuuid),
    serial: str(raw.serial),
    wwn: str(raw.wwn),
    logSec: num(raw['log-sec']),
    phySec: num(raw['phy-sec']),
    tran: str(raw.tran),
    children: Array.isArray(raw.children) ? raw.children.map((c) => toRow(c as Record<string, unknown>)) : [],
  };
}

/** Tree output nests md/mpath under their members: flatten, first occurrence wins. */
function flattenRows(rows: LsblkRow[], out: LsblkRow[] = []): LsblkRow[] {
  for (const r of rows) {
    if (!out.some((o) => o.kname === r.kname)) out.push(r);
    flattenRows(r.children, out);
  }
  return out;
}

export function parseLsblk(json: string): LsblkRow[] {
  const doc = JSON.parse(json) as { blockdevices?: Array<Record<string, unknown>> };
  return flattenRows((doc.blockdevices ?? []).map(toRow));
}

/**
 * IPA's list_all_block_devices(block_type='disk'): disks, RAID devices
 * (md0 is "raid1" etc.) and multipath devices. Not "md": that is a
 * partition of a software RAID device (md0p1) or a broken array.
 */
const isInstallType = (t: string): boolean => t === 'disk' || t === 'mpath' || t.startsWith('raid');

/**
 * The multipath device `kname` is a path of, if any: a holder that is a
 * device-mapper device with a "mpath-" uuid (what `multipath -c` tells
 * IPA). Read from sysfs because lsblk prints a flat list when its tree
 * column (NAME) is not among the columns, so its "children" cannot be
 * relied on.
 */
async function multipathHolder(host: HostAccess, kname: string): Promise<string | undefined> {
  for (const holder of await host.listDir(`/sys/block/${kname}/holders`)) {
    if ((await host.readText(`/sys/block/${holder}/dm/uuid`))?.trim().startsWith('mpath-')) return holder;
  }
  return undefined;
}

async function readSysfsRows(host: HostAccess): Promise<LsblkRow[]> {
  const names = await host.listDir('/sys/block');
  return Promise.all(
    names.map(async (k): Promise<LsblkRow> => {
      const rd = async (f: string) => (await host.readText(`/sys/block/${k}/${f}`))?.trim();
      // Serial and WWN: describeDisk's sysfsIds, formatted as lsblk's would be.
      const [size, rota, model, ls, ps, dmUuid] = await Promise.all(
        ['size', 'queue/rotational', 'device/model', 'queue/logical_block_size', 'queue/physical_block_size', 'dm/uuid'].map(rd),
      );
      // As lsblk types them: a device-mapper device is a multipath map ("mpath-" uuid) or something else (LVM, crypt).
      const type = k.startsWith('md') ? 'raid' : k.startsWith('dm-') ? (dmUuid?.startsWith('mpath-') ? 'mpath' : 'dm') : 'disk';
      return {
        kname: k,
        model: str(model),
        size: Number(size ?? 0) * 512,
        rota: rota === '1',
        type,
        uuid: null,
        partuuid: null,
        serial: null,
        wwn: null,
        logSec: num(ls),
        phySec: num(ps),
        tran: null,
        children: [],
      };
    }),
  );
}

async function describeDisk(host: HostAccess, r: LsblkRow): Promise<BlockDevice> {
  const [udev, vendorRaw, scsi, byPathDir, sys] = await Promise.all([
    readBlockUdev(host, r.kname),
    host.readText(`/sys/class/block/${r.kname}/device/vendor`),
    host.listDir(`/sys/block/${r.kname}/device/scsi_device`),
    host.listDir('/dev/disk/by-path'),
    sysfsIds(host, r.kname),
  ]);
  const e = udev.env;
  const pick = (k: string) => str(e[`ID_${k}`]) ?? str(e[`DM_${k}`]);
  let byPath = udev.links.find((l) => l.startsWith('disk/by-path/'));
  if (!byPath) {
    // No udev database: resolve the by-path links ourselves.
    for (const l of byPathDir) {
      const t = await host.realPath(`/dev/disk/by-path/${l}`);
      if (t === `/dev/${r.kname}`) {
        byPath = `disk/by-path/${l}`;
        break;
      }
    }
  }
  return {
    name: `/dev/${r.kname}`,
    model: r.model,
    size: r.size,
    rotational: r.rota,
    wwn: r.wwn ?? pick('WWN') ?? sys.wwn,
    serial: r.serial ?? pick('SERIAL_SHORT') ?? pick('SERIAL') ?? sys.serial,
    vendor: str(vendorRaw),
    wwn_with_extension: pick('WWN_WITH_EXTENSION') ?? sys.wwnWithExtension,
    wwn_vendor_extension: pick('WWN_VENDOR_EXTENSION') ?? sys.wwnVendorExtension,
    hctl: scsi[0] ?? null,
    by_path: byPath ? `/dev/${byPath}` : null,
    logical_sectors: r.logSec,
    physical_sectors: r.phySec,
    tran: r.tran,
    uuid: r.uuid,
    partuuid: r.partuuid,
    serials: [r.serial, pick('SERIAL_SHORT'), pick('SERIAL'), ...sys.serials],
    wwns: [r.wwn, pick('WWN'), ...sys.wwns],
  };
}

/**
 * Install-target candidates: disks, md RAID and multipath maps (not their
 * members). `only` (config.disks: RAMFORGE_AGENT_DISKS or --disks, e.g.
 * ["/dev/loop3"]) restricts them to exactly these devices, loop devices
 * included: for running the agent on a host against file-backed disks
 * (tests, and demos that must never touch the host's real disks).
 */
export async function collectDisks(host: HostAccess, only: readonly string[] = []): Promise<BlockDevice[]> {
  const out = await tryRun(host, LSBLK_ARGV);
  let rows: LsblkRow[];
  try {
    rows = out === undefined ? await readSysfsRows(host) : parseLsblk(out);
  } catch {
    rows = await readSysfsRows(host);
  }
  const onlyNames = only.map((d) => d.replace(/^\/dev\//, ''));
  if (onlyNames.length > 0)
    return Promise.all(rows.filter((r) => onlyNames.includes(r.kname) && r.size > 0).map((r) => describeDisk(host, r)));
  const candidates = rows.filter((r) => isInstallType(r.type) && r.size > 0 && !IGNORED_PREFIXES.some((p) => r.kname.startsWith(p)));
  // A multipath device's paths are left out in favour of it (IPA's _get_multipath_parent_device), as long as the
  // map itself is listed: a map of size 0 (every path failed) must not take its paths out of the inventory with it.
  const listedMaps = new Set(candidates.filter((r) => r.type === 'mpath').map((r) => r.kname));
  const isPath = await Promise.all(
    candidates.map(async (r) => {
      if (r.type !== 'disk') return false;
      if (r.children.some((c) => c.type === 'mpath' && listedMaps.has(c.kname))) return true;
      const holder = await multipathHolder(host, r.kname);
      return holder !== undefined && listedMaps.has(holder);
    }),
  );
  return Promise.all(candidates.filter((_, i) => !isPath[i]).map((r) => describeDisk(host, r)));
}
