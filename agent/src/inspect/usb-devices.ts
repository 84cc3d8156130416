/**
 * The usb-devices collector (IPA inspector.collect_usb_devices →
 * get_usb_devices): `usb_devices`, a list of {product, vendor, handle} for
 * the lshw nodes whose id is exactly "usb" and whose class is "generic".
 *
 * With lshw on the ramdisk the agent reads its tree, as IPA. No flavor ships
 * lshw (docs/ramdisk-tools.md), so otherwise the same list is derived from
 * /sys/bus/usb/devices the way lshw builds its USB nodes (it reads the
 * kernel's usb/devices text, which sysfs holds field by field):
 *  - a device (not a root hub) is "generic" when neither its device class nor
 *    any interface class of its active configuration is one lshw names
 *    (audio, communication, HID, printer, mass storage, hub, video, wireless);
 *  - lshw ids a device "usb" and renames siblings under one hub (or root hub)
 *    "usb:0", "usb:1", …, so, as IPA's exact id match, only a device that is
 *    its parent's only USB child is listed;
 *  - handle "USB:<busnum>:<devnum>"; vendor and product are the device's
 *    manufacturer and product strings as lshw keeps them (printable ASCII up
 *    to "z", at most 80 characters, trimmed), else the names usb.ids gives
 *    the ids where that file is installed, else "".
 */
import type { HostAccess } from '../hardware/inventory/host-access.js';
import { type LshwNode, readLshw } from '../hardware/inventory/lshw.js';

export interface UsbDevice {
  product: string;
  vendor: string;
  handle: string;
}

/** IPA's find_in_lshw(by_id='usb', by_class='generic', recursive=True): every descendant of the root, depth first. */
export function usbFromLshw(lshw: LshwNode): UsbDevice[] {
  const out: UsbDevice[] = [];
  const walk = (node: LshwNode) => {
    for (const child of node.children ?? []) {
      if (child.id === 'usb' && child.class === 'generic') {
        out.push({ product: child.product ?? '', vendor: child.vendor ?? '', handle: String(child.handle ?? '') });
      }
      walk(child);
    }
  };
  walk(lshw);
  return out;
}

/** USB classes lshw turns into a class other than generic (its setUSBClass). */
const NAMED_CLASSES = new Set([0x01, 0x02, 0x03, 0x07, 0x08, 0x09, 0x0e, 0xe0]);

/** Where lshw looks for usb.ids; an earlier file wins. */
export const USB_IDS_PATHS = [
  '/usr/share/lshw/usb.ids',
  '/usr/local/share/usb.ids',
  '/usr/share/usb.ids',
  '/etc/usb.ids',
  '/usr/share/hwdata/usb.ids',
  '/usr/share/misc/usb.ids',
];

interface UsbIds {
  vendors: Map<number, string>;
  products: Map<string, string>;
}

export function parseUsbIds(text: string, into: UsbIds = { vendors: new Map(), products: new Map() }): UsbIds {
  let vendor = 0;
  for (const line of text.split('\n')) {
    const p = /^\t([0-9a-fA-F]{4})\s+(.*\S)/.exec(line);
    if (p) {
      into.products.set(`${vendor}:${parseInt(p[1]!, 16)}`, p[2]!);
      continue;
    }
    const v = /^([0-9a-fA-F]{4})\s+(.*\S)/.exec(line);
    if (v) {
      vendor = parseInt(v[1]!, 16);
      into.vendors.set(vendor, v[2]!);
    }
  }
  return into;
}

async function loadUsbIds(host: HostAccess): Promise<UsbIds> {
  const ids: UsbIds = { vendors: new Map(), products: new Map() };
  for (const p of [...USB_IDS_PATHS].reverse()) {
    const text = await host.readText(p);
    if (text !== undefined) parseUsbIds(text, ids);
  }
  return ids;
}

/** A descriptor string as lshw keeps it from the usb/devices text: characters ' '..'z', at most 80, trimmed. */
export function lshwString(s: string): string {
  return (/^[ -z]{0,80}/.exec(s.replace(/\n$/, ''))?.[0] ?? '').trim();
}

const DEVICE = /^(\d+)-(\d+(?:\.\d+)*)$/;

export async function usbFromSysfs(host: HostAccess): Promise<UsbDevice[]> {
  const base = '/sys/bus/usb/devices';
  const entries = await host.listDir(base);
  const devices = entries.filter((e) => DEVICE.test(e));
  const parentOf = (name: string): string => {
    const [, bus, path] = DEVICE.exec(name)!;
    const dot = path!.lastIndexOf('.');
    return dot < 0 ? `usb${bus}` : `${bus}-${path!.slice(0, dot)}`;
  };
  const children = new Map<string, number>();
  for (const d of devices) children.set(parentOf(d), (children.get(parentOf(d)) ?? 0) + 1);
  let ids: UsbIds | undefined;
  const rows: Array<{ key: number[]; dev: UsbDevice }> = [];
  for (const name of devices) {
    if (children.get(parentOf(name)) !== 1) continue;
    const read = async (f: string) => (await host.readText(`${base}/${name}/${f}`))?.trim();
    const classes = [await read('bDeviceClass')];
    for (const e of entries) if (e.startsWith(`${name}:`)) classes.push((await host.readText(`${base}/${e}/bInterfaceClass`))?.trim());
    if (classes.some((c) => c !== undefined && NAMED_CLASSES.has(parseInt(c, 16)))) continue;
    const [busnum, devnum, manufacturer, product, idVendor, idProduct] = await Promise.all(
      ['busnum', 'devnum', 'manufacturer', 'product', 'idVendor', 'idProduct'].map((f) => host.readText(`${base}/${name}/${f}`)),
    );
    let vendorName = '';
    let productName = '';
    if (manufacturer === undefined || product === undefined) {
      ids ??= await loadUsbIds(host);
      const v = parseInt(idVendor ?? '', 16);
      const known = ids.vendors.get(v);
      if (known !== undefined) {
        vendorName = known;
        productName = ids.products.get(`${v}:${parseInt(idProduct ?? '', 16)}`) ?? '';
      }
    }
    const [, bus, path] = DEVICE.exec(name)!;
    rows.push({
      key: [Number(bus), ...path!.split('.').map(Number)],
      dev: {
        product: product === undefined ? productName : lshwString(product),
        vendor: manufacturer === undefined ? vendorName : lshwString(manufacturer),
        handle: `USB:${Number(busnum ?? bus)}:${Number(devnum)}`,
      },
    });
  }
  const cmp = (a: number[], b: number[]): number => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
    return a.length - b.length;
  };
  return rows.sort((a, b) => cmp(a.key, b.key)).map((r) => r.dev);
}

export async function collectUsbDevices(host: HostAccess): Promise<UsbDevice[]> {
  const lshw = await readLshw(host);
  return lshw ? usbFromLshw(lshw) : usbFromSysfs(host);
}
