/**
 * The ramdisk's Node runtime: the official binary from npm, its ICU data
 * trimmed to English (node-icu.ts) and stripped. The trimmed binary must
 * still do everything the agent and its dependencies ask of ICU.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchNodeRuntime, type NodeRuntime } from '../../builder/src/node-runtime.js';
import { ICU_TRIM_VERSION, trimNodeIcu } from '../../builder/src/node-icu.js';
import { findObjectSymbol } from '../../builder/src/elf.js';
import { sha256File } from '../../builder/src/debian/apt.js';
import { defaultCacheDir } from '../../builder/src/pipeline/context.js';
import { DEFAULT_NODE_VERSION } from '../../builder/src/spec/normalize.js';

let small: NodeRuntime;
let full: NodeRuntime;

test.before(async () => {
  small = await fetchNodeRuntime(DEFAULT_NODE_VERSION, defaultCacheDir());
  full = await fetchNodeRuntime(DEFAULT_NODE_VERSION, defaultCacheDir(), { strip: false, icu: 'full' });
});

/** What the agent (and what it bundles) asks of ICU, as one JSON line. */
const PROBE = `
const d = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
console.log(JSON.stringify({
  icu: process.versions.icu,
  en: d.toLocaleString('en-US', { timeZone: 'UTC' }),
  de: new Intl.DateTimeFormat('de', { timeZone: 'Europe/Berlin', dateStyle: 'long' }).format(d),
  berlin: new Intl.DateTimeFormat('en-US', { timeZone: 'Europe/Berlin', timeStyle: 'short' }).format(d),
  number: (1234567.891).toLocaleString(),
  currency: new Intl.NumberFormat('en', { style: 'currency', currency: 'EUR' }).format(3),
  plural: new Intl.PluralRules('en').select(1),
  nfd: 'Å'.normalize('NFD').length,
  nfkc: 'ﬁ'.normalize('NFKC'),
  upper: 'straße'.toUpperCase(),
  lowerTr: 'I'.toLocaleLowerCase('tr'),
  greek: /\\p{Script=Greek}/u.test('α'),
  collate: ['b', 'a', 'C'].sort(new Intl.Collator('en').compare).join(''),
  words: [...new Intl.Segmenter('en', { granularity: 'word' }).segment('hello big world')].filter((s) => s.isWordLike).length,
  utf16: new TextDecoder('utf-16le').decode(new Uint8Array([0x41, 0, 0x42, 0])),
  cp1252: new TextDecoder('windows-1252').decode(new Uint8Array([0x80])),
  url: new URL('http://bücher.example/').host,
  sjis: (() => { try { return new TextDecoder('shift_jis').decode(new Uint8Array([0x82, 0xa0])); } catch (e) { return 'unsupported'; } })(),
}));
`;

function probe(binary: string): Record<string, unknown> {
  return JSON.parse(execFileSync(binary, ['-e', PROBE], { encoding: 'utf8' })) as Record<string, unknown>;
}

test('the official binary carries ICU as a symbol; the shipped one is trimmed and stripped', async () => {
  assert.equal(full.icu, 'full');
  const sym = await findObjectSymbol(full.binary, (n) => /^icudt\d+_dat$/.test(n), 1 << 20);
  assert.ok(sym && sym.size > 20e6, `icudt symbol in the official binary: ${JSON.stringify(sym)}`);
  assert.equal(small.icu, 'small');
  assert.equal(small.stripped, true);
  assert.ok(small.icuTrim && small.icuTrim.before === sym.size && small.icuTrim.after < 6e6, JSON.stringify(small.icuTrim));
  assert.equal(await findObjectSymbol(small.binary, () => true), undefined, 'a stripped binary has no .symtab');
  // The package shrinks in its own slot (no code moves): the file keeps its size, the freed tail is zeros.
  assert.notEqual(small.sha256, full.sha256);
});

test('the trimmed runtime still does what the agent needs of ICU; other locales fall back to English', () => {
  const s = probe(small.binary);
  const f = probe(full.binary);
  for (const k of [
    'icu',
    'en',
    'berlin',
    'number',
    'currency',
    'plural',
    'nfd',
    'nfkc',
    'upper',
    'lowerTr',
    'greek',
    'collate',
    'words',
    'utf16',
    'cp1252',
    'url',
  ]) {
    assert.deepEqual(s[k], f[k], `${k}: trimmed ${JSON.stringify(s[k])} vs full ${JSON.stringify(f[k])}`);
  }
  assert.equal(s.en, '1/2/2026, 3:04:05 AM');
  assert.equal(s.url, 'xn--bcher-kva.example');
  assert.equal(f.de, '2. Januar 2026');
  assert.equal(s.de, 'January 2, 2026', 'German falls back to English, as in a small-icu Node');
  assert.equal(f.sjis, 'あ');
  assert.equal(s.sjis, 'unsupported', 'legacy CJK converters are dropped');
});

test('trimming is deterministic: the same official binary gives the same bytes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rf-icu-'));
  try {
    const out = join(dir, 'node');
    const r = await trimNodeIcu(full.binary, out);
    assert.deepEqual(r, small.icuTrim);
    assert.equal(
      await sha256File(out),
      await sha256File(join(defaultCacheDir(), 'node', DEFAULT_NODE_VERSION, `node.icu-small-v${ICU_TRIM_VERSION}`)),
    );
    assert.equal(await trimNodeIcu(small.binary, join(dir, 'again')), undefined, 'nothing to trim without a symbol table');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
