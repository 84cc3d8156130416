/**
 * The ramdisk's Node runtime: the official binary from npm, its ICU data
 * trimmed to English (node-icu.ts), stripped, and its C++ exports dropped
 * (node-exports.ts). The trimmed binary must still do everything the agent
 * and its dependencies ask of ICU, and link exactly as the official one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchNodeRuntime, type NodeRuntime } from '../../builder/src/node-runtime.js';
import { ICU_TRIM_VERSION, trimNodeIcu } from '../../builder/src/node-icu.js';
import { findObjectSymbol } from '../../builder/src/elf.js';
import { sha256File } from '../../builder/src/debian/apt.js';
import { keepNodeExport } from '../../builder/src/node-exports.js';
import { defaultCacheDir } from '../../builder/src/pipeline/context.js';
import { DEFAULT_NODE_VERSION } from '../../builder/src/spec/normalize.js';

let small: NodeRuntime;
let full: NodeRuntime;
let allExports: NodeRuntime;

test.before(async () => {
  small = await fetchNodeRuntime(DEFAULT_NODE_VERSION, defaultCacheDir());
  full = await fetchNodeRuntime(DEFAULT_NODE_VERSION, defaultCacheDir(), { strip: false, icu: 'full', exports: 'all' });
  allExports = await fetchNodeRuntime(DEFAULT_NODE_VERSION, defaultCacheDir(), { exports: 'all' });
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
  assert.equal(full.sha256, full.officialSha256, 'strip: false, icu: full, exports: all is the official binary');
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

/** The dynamic symbols of `binary` as readelf lists them: `UND name` or `DEF name`. */
function dynamicSymbols(binary: string): string[] {
  return execFileSync('readelf', ['--dyn-syms', '-W', binary], { encoding: 'utf8', maxBuffer: 64 << 20 })
    .split('\n')
    .filter((l) => /^\s*\d+: /.test(l) && !/^\s*0: /.test(l))
    .map((l) => {
      const f = l.trim().split(/\s+/);
      return `${f[6] === 'UND' ? 'UND' : 'DEF'} ${f.slice(7).join(' ')}`;
    });
}

/** Every symbol binding the dynamic linker makes while `binary` runs `script`, with the binary's path as BIN. */
function bindings(binary: string, script: string): string[] {
  const out = execFileSync('sh', ['-c', 'LD_DEBUG=bindings "$0" -e "$1" 2>&1', binary, script], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return out
    .split('\n')
    .filter((l) => l.includes('binding file'))
    .map((l) =>
      l
        .replace(/^\s*\d+:\s*/, '')
        .replace(/\[\d+\]/g, '')
        .replaceAll(binary, 'BIN'),
    )
    .sort();
}

test('exports: c drops the C++ names of V8 and Node, keeps every C name, and the runtime links exactly as before', () => {
  assert.equal(small.exports, 'c');
  assert.equal(allExports.exports, 'all');
  const before = dynamicSymbols(allExports.binary);
  const after = new Set(dynamicSymbols(small.binary));
  const kept = before.filter((s) => s.startsWith('UND ') || keepNodeExport(s.slice(4).replace(/@.*/, '')));
  for (const s of kept.filter((x) => /^(UND|DEF) (napi_|node_api_|uv_|SSL_|_ZNSt|_ZSt)/.test(x) || x.startsWith('UND ')))
    assert.ok(after.has(s), `${s} is still in the table`);
  assert.ok(before.filter((s) => s.startsWith('DEF napi_')).length > 100, 'N-API is exported');
  // Only the thread-locals Node's own TLS relocations name stay.
  const v8 = [...after].filter((s) => /^DEF _ZN2v8/.test(s));
  assert.ok(v8.length < 10, `V8's C++ API is gone, but: ${v8.join(', ')}`);
  assert.ok(small.exportsTrim && small.exportsTrim.bytesAfter < small.exportsTrim.bytesBefore / 5, JSON.stringify(small.exportsTrim));

  // Every binding the dynamic linker makes (libc and libstdc++ into Node's own copies of
  // std:: and malloc, Node into the libraries, worker threads, child processes, TLS, zlib)
  // is the same with either table.
  const copy = (b: NodeRuntime, name: string) => {
    const p = join(dir, name);
    copyFileSync(b.binary, p);
    return p;
  };
  const dir = mkdtempSync(join(tmpdir(), 'rf-exports-'));
  try {
    const script = [
      "require('node:http'); require('node:https'); require('node:tls').createSecureContext()",
      "require('node:crypto').createHash('sha256').update('x').digest()",
      "require('node:zlib').gzipSync('x'); require('node:zlib').brotliCompressSync('x')",
      "require('node:child_process').execFileSync('true')",
      "new (require('node:worker_threads').Worker)('1', { eval: true })",
      'new Intl.DateTimeFormat("en").format(new Date())',
    ].join(';');
    const a = bindings(copy(allExports, 'node-all'), script);
    const c = bindings(copy(small, 'node-c'), script);
    assert.ok(a.length > 1000, `${a.length} bindings`);
    assert.deepEqual(c, a);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('exports: c makes an idle Node server smaller', async () => {
  const rss = async (binary: string): Promise<number> => {
    const child = spawn(binary, ['-e', "require('node:http').createServer((q, s) => s.end()).listen(0, '127.0.0.1')"], { stdio: 'ignore' });
    try {
      await sleep(1500);
      return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
    } finally {
      child.kill();
    }
  };
  // From tmpfs, as in the ramdisk: a disk filesystem's page cache maps pages in other sizes.
  const dir = mkdtempSync(join('/dev/shm', 'rf-exports-'));
  let all: number;
  let c: number;
  try {
    copyFileSync(allExports.binary, join(dir, 'all'));
    copyFileSync(small.binary, join(dir, 'c'));
    chmodSync(join(dir, 'all'), 0o755);
    chmodSync(join(dir, 'c'), 0o755);
    all = await rss(join(dir, 'all'));
    c = await rss(join(dir, 'c'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // About 6 MiB here; the test asks for the effect, the bench measures it.
  assert.ok(c < all - 2, `RSS ${c.toFixed(1)} MiB with exports: c against ${all.toFixed(1)} MiB with all`);
});

const NAPI_HEADERS = '/usr/include/node/node_api.h';
test('exports: c still loads an N-API addon', {
  skip: !existsSync('/usr/bin/gcc') || !existsSync(NAPI_HEADERS) ? `needs gcc and ${NAPI_HEADERS} (libnode-dev)` : false,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'rf-napi-'));
  try {
    writeFileSync(
      join(dir, 'addon.c'),
      `#include <node_api.h>
static napi_value Hello(napi_env env, napi_callback_info info) {
  napi_value s; napi_create_string_utf8(env, "napi-ok", NAPI_AUTO_LENGTH, &s); return s;
}
NAPI_MODULE_INIT() {
  napi_value fn; napi_create_function(env, "hello", NAPI_AUTO_LENGTH, Hello, NULL, &fn);
  napi_set_named_property(env, exports, "hello", fn); return exports;
}
`,
    );
    execFileSync('/usr/bin/gcc', ['-shared', '-fPIC', '-I/usr/include/node', '-o', join(dir, 'addon.node'), join(dir, 'addon.c')]);
    const out = execFileSync(small.binary, ['-e', `console.log(require(${JSON.stringify(join(dir, 'addon.node'))}).hello())`], {
      encoding: 'utf8',
    });
    assert.equal(out.trim(), 'napi-ok');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
