/**
 * system_vendor: lshw's root node (product, serial, vendor) and its core →
 * firmware child, like IPA. Fields lshw leaves empty (or no lshw in a small
 * ramdisk) come from /sys/class/dmi/id, then from `dmidecode -t 0 -t 1`.
 * A field no source has is "", as in IPA (since 2017): consumers format and
 * compare these strings.
 */
import type { SystemVendor } from '../types.js';
import type { HostAccess } from './host-access.js';
import { tryRun } from './host-access.js';
import type { LshwNode } from './lshw.js';
import { findLshwNode } from './lshw.js';

type Fields = {
  product_name: string | null;
  serial_number: string | null;
  manufacturer: string | null;
  fw_vendor: string | null;
  fw_version: string | null;
  fw_date: string | null;
};
const KEYS = ['product_name', 'serial_number', 'manufacturer', 'fw_vendor', 'fw_version', 'fw_date'] as const;

const clean = (v: unknown): string | null => {
  if (typeof v !== 'string') return null;
  const s = v.trim();
  return s === '' ? null : s;
};

function fromLshw(lshw: LshwNode | undefined): Fields {
  const core = findLshwNode(lshw, (n) => n.id === 'core');
  const fw = core?.children?.find((c) => c.id === 'firmware');
  return {
    product_name: clean(lshw?.product),
    serial_number: clean(lshw?.serial),
    manufacturer: clean(lshw?.vendor),
    fw_vendor: clean(fw?.vendor),
    fw_version: clean(fw?.version),
    fw_date: clean(fw?.date),
  };
}

async function fromSysfs(host: HostAccess): Promise<Fields> {
  const rd = async (f: string) => clean(await host.readText(`/sys/class/dmi/id/${f}`));
  const [product_name, serial_number, manufacturer, fw_vendor, fw_version, fw_date] = await Promise.all(
    ['product_name', 'product_serial', 'sys_vendor', 'bios_vendor', 'bios_version', 'bios_date'].map(rd),
  );
  return {
    product_name: product_name!,
    serial_number: serial_number!,
    manufacturer: manufacturer!,
    fw_vendor: fw_vendor!,
    fw_version: fw_version!,
    fw_date: fw_date!,
  };
}

/** Reads "Key: value" lines of the BIOS (type 0) and System (type 1) sections. */
export function parseDmidecodeSystem(text: string): Fields {
  const f: Fields = { product_name: null, serial_number: null, manufacturer: null, fw_vendor: null, fw_version: null, fw_date: null };
  let section = '';
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) {
      section = line.trim();
      continue;
    }
    const m = /^\t([^\t:][^:]*):\s*(.*)$/.exec(line);
    if (!m) continue;
    const [k, v] = [m[1]!, clean(m[2])];
    if (section === 'BIOS Information') {
      if (k === 'Vendor') f.fw_vendor = v;
      else if (k === 'Version') f.fw_version = v;
      else if (k === 'Release Date') f.fw_date = v;
    } else if (section === 'System Information') {
      if (k === 'Manufacturer') f.manufacturer = v;
      else if (k === 'Product Name') f.product_name = v;
      else if (k === 'Serial Number') f.serial_number = v;
    }
  }
  return f;
}

export async function collectSystemVendor(host: HostAccess, lshw: LshwNode | undefined): Promise<SystemVendor> {
  const sources: Fields[] = [fromLshw(lshw), await fromSysfs(host)];
  const merged = (): Fields => Object.fromEntries(KEYS.map((k) => [k, sources.map((s) => s[k]).find((v) => v !== null) ?? null])) as Fields;
  if (!lshw && KEYS.some((k) => merged()[k] === null)) {
    const out = await tryRun(host, ['dmidecode', '-t', '0', '-t', '1']);
    if (out) sources.push(parseDmidecodeSystem(out));
  }
  const f = merged();
  return {
    product_name: f.product_name ?? '',
    serial_number: f.serial_number ?? '',
    manufacturer: f.manufacturer ?? '',
    firmware: { vendor: f.fw_vendor ?? '', version: f.fw_version ?? '', build_date: f.fw_date ?? '' },
  };
}
