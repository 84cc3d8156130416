import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keepIcuItem, parseIcuPackage, trimIcuPackage, writeIcuPackage } from './node-icu.js';
import { BuildError } from './errors.js';

/** A CmnD header as genccode writes it: headerSize 32, magic, UDataInfo for little-endian "CmnD" 1.0. */
function header(): Buffer {
  const h = Buffer.alloc(32);
  h.writeUInt16LE(32, 0);
  h[2] = 0xda;
  h[3] = 0x27;
  h.writeUInt16LE(20, 4); // UDataInfo.size
  h[8] = 0; // little-endian
  h[9] = 0; // ASCII
  h[10] = 2; // sizeof(UChar)
  h.write('CmnD', 12, 'latin1');
  h[16] = 1;
  return h;
}

const item = (name: string, size: number, fill: number) => ({ name: `icudt78l/${name}`, data: Buffer.alloc(size, fill) });

test('keepIcuItem keeps English, root and every non-locale item', () => {
  for (const n of [
    'en.res',
    'en_US.res',
    'en_US_POSIX.res',
    'en_001.res',
    'root.res',
    'pool.res',
    'res_index.res',
    'coll/root.res',
    'coll/ucadata.icu',
    'coll/en.res',
    'curr/en_GB.res',
    'zone/tzdbNames.res',
    'supplementalData.res',
    'zoneinfo64.res',
    'metaZones.res',
    'cnvalias.icu',
    'nfkc.nrm',
    'uts46.nrm',
    'brkitr/word.brk',
    'brkitr/root.res',
    'coll/de__PHONEBOOK.res',
    'unames.icu',
    'rfc3491.spp',
  ]) {
    assert.ok(keepIcuItem(`icudt78l/${n}`), n);
  }
  for (const n of [
    'de.res',
    'zh_Hant_TW.res',
    'es_419.res',
    'yue.res',
    'coll/zh.res',
    'lang/fr.res',
    'unit/ja.res',
    'rbnf/ru.res',
    'brkitr/cjdict.dict',
    'brkitr/thaidict.dict',
    'ibm-943_P15A-2003.cnv',
    'gb18030-2022.cnv',
    'translit/root.res',
    'translit/el.res',
  ]) {
    assert.ok(!keepIcuItem(`icudt78l/${n}`), n);
  }
});

test('a package round-trips, items 16-byte aligned and found by their TOC', () => {
  const items = [item('coll/root.res', 37, 1), item('de.res', 5, 2), item('en.res', 16, 3), item('root.res', 1, 4)];
  const pkg = writeIcuPackage(header(), items);
  const back = parseIcuPackage(pkg);
  assert.deepEqual(
    back.items.map((i) => i.name),
    items.map((i) => i.name),
  );
  const toc = 32;
  for (let i = 0; i < items.length; i++) {
    const off = toc + pkg.readUInt32LE(toc + 8 + 8 * i);
    assert.equal(off % 16, 0, `item ${i} is 16-byte aligned`);
    assert.ok(pkg.subarray(off, off + items[i]!.data.length).equals(items[i]!.data));
  }
  // Sizes come from the next item's offset: padding is the only difference.
  assert.ok(back.items[1]!.data.subarray(0, 5).equals(items[1]!.data));
});

test('trimIcuPackage drops other locales and keeps the order', () => {
  const items = [
    item('coll/de.res', 100, 1),
    item('coll/root.res', 50, 2),
    item('de.res', 70, 3),
    item('en.res', 30, 4),
    item('ibm-1047_P100-1995.cnv', 200, 5),
    item('root.res', 20, 6),
    item('zoneinfo64.res', 40, 7),
  ];
  const pkg = writeIcuPackage(header(), items);
  const out = trimIcuPackage(pkg);
  assert.equal(out.itemsBefore, 7);
  assert.equal(out.itemsAfter, 4);
  assert.deepEqual(
    parseIcuPackage(out.pkg).items.map((i) => i.name.split('/').slice(1).join('/')),
    ['coll/root.res', 'en.res', 'root.res', 'zoneinfo64.res'],
  );
  assert.ok(out.pkg.length < pkg.length);
  assert.ok(trimIcuPackage(pkg).pkg.equals(out.pkg), 'the same input gives the same bytes');
});

test('something that is not a CmnD package is refused with the way out', () => {
  const bad = Buffer.alloc(256);
  assert.throws(
    () => parseIcuPackage(bad),
    (e: unknown) => e instanceof BuildError && /node\.icu: full/.test(e.hint ?? ''),
  );
  const h = header();
  h[8] = 1; // big-endian
  assert.throws(() => parseIcuPackage(Buffer.concat([h, Buffer.alloc(64)])), BuildError);
});
