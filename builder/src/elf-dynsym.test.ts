import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ElfLayoutError, gnuHash, trimDynamicSymbols } from './elf-dynsym.js';

/** A host binary with a large export table: bash exports its functions for loadable builtins. */
const BASH = '/usr/bin/bash';

interface Table {
  names: string[];
  /** Whether the dynamic linker's GNU-hash lookup (bloom, bucket, chain) finds `name`. */
  finds(name: string): boolean;
}

/** .dynsym and .gnu.hash read back as ld.so reads them (section headers only to find them). */
function readTable(elf: Buffer): Table {
  const shoff = Number(elf.readBigUInt64LE(40));
  const shnum = elf.readUInt16LE(60);
  const sec = (type: number) => {
    for (let i = 0; i < shnum; i++) {
      const h = shoff + i * 64;
      if (elf.readUInt32LE(h + 4) === type)
        return { offset: Number(elf.readBigUInt64LE(h + 24)), size: Number(elf.readBigUInt64LE(h + 32)), link: elf.readUInt32LE(h + 40) };
    }
    throw new Error(`no section of type ${type}`);
  };
  const dynsym = sec(11);
  const strh = shoff + dynsym.link * 64;
  const strOff = Number(elf.readBigUInt64LE(strh + 24));
  const name = (i: number) => {
    const at = strOff + elf.readUInt32LE(dynsym.offset + i * 24);
    return elf.toString('latin1', at, elf.indexOf(0, at));
  };
  const names = Array.from({ length: dynsym.size / 24 }, (_, i) => name(i));
  const gh = sec(0x6ffffff6).offset;
  const [nbuckets, symoffset, maskwords, shift] = [0, 4, 8, 12].map((o) => elf.readUInt32LE(gh + o)) as [number, number, number, number];
  const finds = (want: string): boolean => {
    const h = gnuHash(want);
    const word = elf.readBigUInt64LE(gh + 16 + (Math.floor(h / 64) % maskwords) * 8);
    if (!((word >> BigInt(h % 64)) & 1n) || !((word >> BigInt((h >>> shift) % 64)) & 1n)) return false;
    const buckets = gh + 16 + maskwords * 8;
    let i = elf.readUInt32LE(buckets + (h % nbuckets) * 4);
    if (i === 0) return false;
    for (;;) {
      const ch = elf.readUInt32LE(buckets + nbuckets * 4 + (i - symoffset) * 4);
      if ((ch | 1) === (h | 1) && names[i] === want) return true;
      if (ch & 1) return false;
      i++;
    }
  };
  return { names, finds };
}

test('gnuHash is the dynamic linker hash', () => {
  assert.equal(gnuHash(''), 5381);
  // Every hashed symbol of a real binary is found through its own .gnu.hash with this function.
  const t = readTable(readFileSync(BASH));
  const exported = t.names.filter((n) => n.startsWith('sh_'));
  assert.ok(exported.length > 20);
  for (const n of exported) assert.ok(t.finds(n), n);
});

test('trimDynamicSymbols keeps imports and the exports asked for, and the binary still runs with the same bindings', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dynsym-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const original = readFileSync(BASH);
  const elf = Buffer.from(original);
  const before = readTable(original);
  // bash's own getenv/setenv and termcap's BC/PC/UP are what libc and libtinfo bind to (interposition):
  // a caller must keep such names, as keepNodeExport keeps every C name.
  const interposed = new Set(['getenv', 'setenv', 'unsetenv', 'putenv', 'BC', 'PC', 'UP']);
  const trim = trimDynamicSymbols(elf, (n) => n.startsWith('sh_') || interposed.has(n));
  assert.equal(trim.symbolsBefore, before.names.length);
  assert.ok(trim.symbolsAfter < trim.symbolsBefore / 2, JSON.stringify(trim));
  assert.ok(trim.bytesAfter < trim.bytesBefore);
  assert.equal(elf.length, original.length, 'nothing moves: the file keeps its size');

  const after = readTable(elf);
  for (const n of before.names.filter((x) => x.startsWith('sh_'))) assert.ok(after.finds(n), `kept export ${n} is found`);
  for (const n of ['make_builtin', 'execute_command', 'shell_name'].filter((x) => before.finds(x)))
    assert.ok(!after.finds(n), `dropped export ${n} is gone`);
  // readelf agrees with the rewritten tables and every import is still there.
  const imports = (file: string) =>
    execFileSync('readelf', ['--dyn-syms', '-W', file], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => / UND /.test(l) && !/ 0: /.test(l))
      .map((l) => l.trim().split(/\s+/).slice(7).join(' '))
      .sort();
  const copy = join(dir, 'bash');
  writeFileSync(copy, elf, { mode: 0o755 });
  assert.deepEqual(imports(copy), imports(BASH));

  // The trimmed binary runs, and the dynamic linker binds every symbol where it bound the original's.
  const run = (file: string) => {
    const out = execFileSync('sh', ['-c', `LD_DEBUG=bindings "$0" -c 'echo ok; echo $(( 6 * 7 ))' 2>&1`, file], { encoding: 'utf8' });
    return out
      .split('\n')
      .map((l) =>
        l
          .replace(/^\s*\d+:\s*/, '')
          .replace(/\[\d+\]/g, '')
          .replaceAll(file, 'BIN'),
      )
      .sort();
  };
  assert.deepEqual(run(copy), run(BASH));
  assert.ok(run(copy).includes('ok') && run(copy).includes('42'));
});

test('trimDynamicSymbols refuses what it does not handle and leaves the buffer as it was', () => {
  const notElf = Buffer.from('#!/bin/sh\n'.padEnd(128, ' '));
  assert.throws(() => trimDynamicSymbols(notElf, () => true), ElfLayoutError);
  const object = Buffer.from(readFileSync(BASH));
  object.writeUInt16LE(1, 16); // ET_REL
  const copy = Buffer.from(object);
  assert.throws(() => trimDynamicSymbols(object, () => false), /not an executable/);
  assert.ok(object.equals(copy));
});

/** Offset of the header of the first section of `type` (64-byte headers). */
function sectionHeader(elf: Buffer, type: number): number {
  const shoff = Number(elf.readBigUInt64LE(40));
  for (let i = 0; i < elf.readUInt16LE(60); i++) if (elf.readUInt32LE(shoff + i * 64 + 4) === type) return shoff + i * 64;
  throw new Error(`no section of type ${type}`);
}

test('trimDynamicSymbols renumbers the relocations .dynamic names, whatever the section headers link', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dynsym-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const elf = Buffer.from(readFileSync(BASH));
  elf.writeUInt32LE(0, sectionHeader(elf, 4 /* SHT_RELA */) + 40); // .rela.dyn's sh_link: the loader never reads it
  trimDynamicSymbols(elf, (n) => n.startsWith('sh_') || ['getenv', 'setenv', 'unsetenv', 'putenv', 'BC', 'PC', 'UP'].includes(n));
  const copy = join(dir, 'bash');
  writeFileSync(copy, elf, { mode: 0o755 });
  assert.equal(execFileSync(copy, ['-c', 'echo $(( 6 * 7 ))'], { encoding: 'utf8' }), '42\n');
});

test('a malformed file is refused with ElfLayoutError and left as it was', () => {
  const elf = Buffer.from(readFileSync(BASH));
  const rela = sectionHeader(elf, 4 /* SHT_RELA */);
  const first = Number(elf.readBigUInt64LE(rela + 24));
  // Find a relocation that names a symbol and point it past the table.
  let o = first;
  while (elf.readBigUInt64LE(o + 8) >> 32n === 0n) o += 24;
  elf.writeBigUInt64LE((0xfffffn << 32n) | (elf.readBigUInt64LE(o + 8) & 0xffffffffn), o + 8);
  const before = Buffer.from(elf);
  assert.throws(
    () => trimDynamicSymbols(elf, () => false),
    (e: unknown) => e instanceof ElfLayoutError && /names symbol/.test(e.message),
  );
  assert.ok(elf.equals(before));
  const cut = Buffer.from(readFileSync(BASH).subarray(0, 4096));
  assert.throws(() => trimDynamicSymbols(cut, () => false), ElfLayoutError);
});
