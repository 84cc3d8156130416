/**
 * ICU data for the ramdisk's Node runtime.
 *
 * Node's official binaries are built with full-icu: ICU's whole data package
 * (the object icudt<N>_dat, 33 MB in Node 22, 9 MB after zstd) is linked in.
 * The agent formats nothing for humans in other languages, yet every byte of
 * it is decompressed at every boot. `small` keeps what Node's own
 * `--with-intl=small-icu` builds keep, English, and drops the rest in place:
 *
 *   kept     every item that is not a locale (normalization, case folding,
 *            property names, time zones, plural rules, supplemental data,
 *            break rules, converter aliases), and the locale bundles of
 *            `root` and `en`/`en_*` in every tree (main, coll, curr, lang,
 *            region, unit, zone, rbnf, brkitr);
 *   dropped  the bundles of other locales (Intl then falls back to English,
 *            as a small-icu Node does), legacy converters (*.cnv:
 *            TextDecoder('shift_jis') and the like throw; UTF-8, UTF-16,
 *            latin1/windows-1252 need no data), CJK/Thai/Khmer/Lao/Burmese
 *            word dictionaries (*.dict: Intl.Segmenter falls back to rules),
 *            transliteration (no JavaScript API reaches it).
 *
 * The package is rewritten in its own slot of the binary (same start, so no
 * code moves) and the freed tail is zeroed, which costs nothing compressed.
 * The format is ICU's "common data" (CmnD) offset-TOC package: a DataHeader,
 * a count, (nameOffset, dataOffset) pairs relative to the end of the header,
 * the names, then 16-byte aligned items, sorted by name (ICU looks items up
 * by binary search).
 */
import { copyFile, open, rename, rm } from 'node:fs/promises';
import { BuildError } from './errors.js';
import { findObjectSymbol } from './elf.js';

export type IcuMode = 'full' | 'small';
/** Bump when keepIcuItem or the package layout changes: cached trimmed binaries are keyed by it. */
export const ICU_TRIM_VERSION = 1;

export interface IcuTrim {
  symbol: string;
  /** Bytes of the package before and after. */
  before: number;
  after: number;
  itemsBefore: number;
  itemsAfter: number;
}

interface Item {
  name: string;
  data: Buffer;
}

const CMND = Buffer.from('CmnD', 'latin1');
const LOCALE = /^[a-z]{2,3}(?:_[A-Za-z0-9]+)*$/;

/** Whether `small` keeps the package item `name` (e.g. "icudt78l/coll/de.res"). */
export function keepIcuItem(name: string): boolean {
  const rel = name.includes('/') ? name.slice(name.indexOf('/') + 1) : name;
  const parts = rel.split('/');
  const base = parts[parts.length - 1]!;
  if (parts[0] === 'translit' || base.endsWith('.cnv') || base.endsWith('.dict')) return false;
  if (!base.endsWith('.res')) return true;
  const stem = base.slice(0, -'.res'.length);
  if (stem === 'res_index' || !LOCALE.test(stem)) return true;
  return stem === 'en' || stem.startsWith('en_');
}

/** Parse a CmnD package (little-endian, as on x86-64). */
export function parseIcuPackage(pkg: Buffer): { header: Buffer; items: Item[] } {
  const headerSize = pkg.length >= 32 ? pkg.readUInt16LE(0) : 0;
  const ok =
    headerSize >= 24 && headerSize % 16 === 0 && pkg[2] === 0xda && pkg[3] === 0x27 && pkg[8] === 0 && pkg.subarray(12, 16).equals(CMND);
  if (!ok || pkg.length < headerSize + 4)
    throw new BuildError('the embedded ICU data is not a little-endian ICU common data package', {
      hint: 'set node.icu: full for this Node version',
    });
  const toc = headerSize;
  const count = pkg.readUInt32LE(toc);
  if (pkg.length < toc + 4 + 8 * count)
    throw new BuildError('the ICU data package is truncated', { hint: 'set node.icu: full for this Node version' });
  const items: Item[] = [];
  for (let i = 0; i < count; i++) {
    const nameOff = toc + pkg.readUInt32LE(toc + 4 + 8 * i);
    const start = toc + pkg.readUInt32LE(toc + 8 + 8 * i);
    const end = i + 1 < count ? toc + pkg.readUInt32LE(toc + 8 + 8 * (i + 1)) : pkg.length;
    const nameEnd = pkg.indexOf(0, nameOff);
    if (nameEnd < 0 || start > end || end > pkg.length)
      throw new BuildError(`the ICU data package's table of contents is damaged at entry ${i}`, {
        hint: 'set node.icu: full for this Node version',
      });
    items.push({ name: pkg.toString('latin1', nameOff, nameEnd), data: pkg.subarray(start, end) });
  }
  return { header: pkg.subarray(0, headerSize), items };
}

/** A CmnD package holding `items` (kept in the order given: ICU needs them sorted). */
export function writeIcuPackage(header: Buffer, items: Item[]): Buffer {
  const align = (n: number): number => (n + 15) & ~15;
  const names = Buffer.concat(items.map((it) => Buffer.from(`${it.name}\0`, 'latin1')));
  const tocHead = 4 + 8 * items.length;
  // Offsets are relative to the end of the header; items start 16-aligned from the package start.
  const firstItem = align(header.length + tocHead + names.length) - header.length;
  const toc = Buffer.alloc(firstItem);
  toc.writeUInt32LE(items.length, 0);
  let nameOff = tocHead;
  let dataOff = firstItem;
  const parts: Buffer[] = [];
  items.forEach((it, i) => {
    toc.writeUInt32LE(nameOff, 4 + 8 * i);
    toc.writeUInt32LE(dataOff, 8 + 8 * i);
    nameOff += Buffer.byteLength(it.name, 'latin1') + 1;
    const padded = align(header.length + dataOff + it.data.length) - header.length - dataOff;
    parts.push(it.data, Buffer.alloc(padded - it.data.length));
    dataOff += padded;
  });
  names.copy(toc, tocHead);
  return Buffer.concat([header, toc, ...parts]);
}

/** The package reduced to what `small` keeps. */
export function trimIcuPackage(pkg: Buffer): { pkg: Buffer; itemsBefore: number; itemsAfter: number } {
  const { header, items } = parseIcuPackage(pkg);
  const kept = items.filter((it) => keepIcuItem(it.name));
  return { pkg: writeIcuPackage(header, kept), itemsBefore: items.length, itemsAfter: kept.length };
}

/**
 * Copy `binary` to `out` with its embedded ICU data trimmed to `small`.
 * Returns undefined (and writes nothing) when the binary has no symbol
 * table or no embedded ICU package: then there is nothing to trim.
 */
export async function trimNodeIcu(binary: string, out: string): Promise<IcuTrim | undefined> {
  const sym = await findObjectSymbol(binary, (n) => /^icudt\d+_dat$/.test(n), 1 << 20);
  if (!sym) return undefined;
  const fh = await open(binary, 'r');
  const pkg = Buffer.alloc(sym.size);
  try {
    await fh.read(pkg, 0, pkg.length, sym.fileOffset);
  } finally {
    await fh.close();
  }
  const trimmed = trimIcuPackage(pkg);
  if (trimmed.pkg.length > pkg.length) throw new BuildError('trimming the ICU data made it larger', { hint: 'set node.icu: full' });
  const partial = `${out}.partial`;
  await rm(partial, { force: true });
  await copyFile(binary, partial);
  const wh = await open(partial, 'r+');
  try {
    const slot = Buffer.alloc(pkg.length);
    trimmed.pkg.copy(slot);
    await wh.write(slot, 0, slot.length, sym.fileOffset);
  } finally {
    await wh.close();
  }
  await rename(partial, out);
  return {
    symbol: sym.name,
    before: pkg.length,
    after: trimmed.pkg.length,
    itemsBefore: trimmed.itemsBefore,
    itemsAfter: trimmed.itemsAfter,
  };
}
