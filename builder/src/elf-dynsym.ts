/**
 * Dropping exported symbols from an ELF64 executable's dynamic symbol table,
 * in place.
 *
 * Why: an executable that exports every symbol (Node's official binary
 * exports 89,000 so that addons can link against V8 and Node) carries
 * ~10 MB of .gnu.hash, .dynsym and .dynstr. The dynamic linker searches the
 * executable first for every symbol any library looks up, so at each start
 * those lookups touch pages spread over all 10 MB, and the kernel maps them
 * 64 KiB at a time (fault-around): about 7 MB of a Node process's resident
 * memory, read from squashfs in a ramdisk, for names nothing looks up.
 * objcopy/strip cannot remove dynamic symbols (they only rewrite .symtab),
 * and no maintained npm package edits ELF dynamic tables, hence this module.
 *
 * What: the symbols the linker needs stay (locals, every import, every
 * symbol the file's own relocations name, every export `keep` accepts); the
 * four tables are rebuilt smaller at their old addresses (.gnu.hash with a
 * new bloom filter and buckets, .dynsym reordered as GNU hash requires,
 * .dynstr holding only the strings still named, .gnu.version in the new
 * order), relocation symbol indexes and .gnu.version_r's and .dynamic's
 * string offsets are renumbered, and the freed tails are zeroed. No code or
 * data moves, so nothing else in the file changes. Layouts this does not
 * handle (a SysV .hash, version definitions, REL relocations) are refused,
 * not guessed at.
 */
import { decodeSection, headerTables, isElf64Le, loadSegments, vaddrToOffset, type ElfSection } from './elf.js';

const SHT_RELA = 4;
const SHT_HASH = 5;
const SHT_DYNAMIC = 6;
const SHT_REL = 9;
const SHT_DYNSYM = 11;
const SHT_GNU_HASH = 0x6ffffff6;
const SHT_GNU_VERDEF = 0x6ffffffd;
const SHT_GNU_VERNEED = 0x6ffffffe;
const SHT_GNU_VERSYM = 0x6fffffff;

const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRSZ = 10n;
const DT_SONAME = 14n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;
const DT_AUXILIARY = 0x7ffffffdn;
const DT_FILTER = 0x7fffffffn;
const DT_USED = 0x7ffffffen;
const DT_CONFIG = 0x6ffffefan;
const DT_DEPAUDIT = 0x6ffffefbn;
const DT_AUDIT = 0x6ffffefcn;
/** .dynamic entries whose value is an offset into .dynstr. */
const DT_STRING_TAGS = new Set([
  DT_NEEDED,
  DT_SONAME,
  DT_RPATH,
  DT_RUNPATH,
  DT_AUXILIARY,
  DT_FILTER,
  DT_USED,
  DT_CONFIG,
  DT_DEPAUDIT,
  DT_AUDIT,
]);
const DT_PLTRELSZ = 2n;
const DT_STRTAB = 5n;
const DT_SYMTAB = 6n;
const DT_RELA = 7n;
const DT_RELASZ = 8n;
const DT_RELAENT = 9n;
const DT_REL = 17n;
const DT_PLTREL = 20n;
const DT_JMPREL = 23n;
const DT_GNU_HASH = 0x6ffffef5n;
const DT_VERSYM = 0x6ffffff0n;
const SHT_SYMTAB_SHNDX = 18;
const SHT_GNU_LIBLIST = 0x6ffffff7;
const SHF_ALLOC = 2n;

export class ElfLayoutError extends Error {}

interface Sym {
  name: string;
  /** The 24-byte entry as read, st_name rewritten later. */
  raw: Buffer;
  version: number;
  local: boolean;
  defined: boolean;
  oldIndex: number;
}

export interface DynsymTrim {
  symbolsBefore: number;
  symbolsAfter: number;
  /** Bytes of .gnu.hash + .dynsym + .dynstr + .gnu.version before and after. */
  bytesBefore: number;
  bytesAfter: number;
}

/** The GNU hash of a symbol name (dl_new_hash). */
export function gnuHash(name: string): number {
  let h = 5381;
  for (let i = 0; i < name.length; i++) h = (Math.imul(h, 33) + name.charCodeAt(i)) >>> 0;
  return h;
}

function sections(elf: Buffer): ElfSection[] {
  if (!isElf64Le(elf)) throw new ElfLayoutError('not a 64-bit little-endian ELF file');
  const type = elf.readUInt16LE(16);
  if (type !== 2 && type !== 3) throw new ElfLayoutError('not an executable or shared object (ET_EXEC, ET_DYN)');
  const { shoff, shentsize, shnum } = headerTables(elf);
  if (!shoff || !shnum || shentsize < 64) throw new ElfLayoutError('no section headers');
  if (shoff + shnum * shentsize > elf.length) throw new ElfLayoutError('section headers past the end of the file');
  const out: ElfSection[] = [];
  for (let i = 0; i < shnum; i++) out.push(decodeSection(elf, shoff + i * shentsize, i));
  for (const sec of out) {
    if (sec.type !== 8 /* SHT_NOBITS */ && sec.offset + sec.size > elf.length)
      throw new ElfLayoutError(`section ${sec.index} runs past the end of the file`);
  }
  return out;
}

/** File offset of a virtual address, through the PT_LOAD segments. */
function fileOffset(elf: Buffer, vaddr: bigint): number {
  const { phoff, phentsize, phnum } = headerTables(elf);
  const at = vaddrToOffset(loadSegments(elf, phoff, phnum, phentsize), vaddr);
  if (at === undefined) throw new ElfLayoutError(`address 0x${vaddr.toString(16)} is in no loaded segment`);
  return at;
}

function cstring(buf: Buffer, at: number): string {
  const end = buf.indexOf(0, at);
  if (end < 0) throw new ElfLayoutError(`unterminated string at ${at} in .dynstr`);
  return buf.toString('latin1', at, end);
}

/** A string table being built: each string once, offset 0 the empty string. */
class StringTable {
  private readonly parts: Buffer[] = [Buffer.alloc(1)];
  private readonly offsets = new Map<string, number>([['', 0]]);
  private length = 1;
  add(s: string): number {
    let o = this.offsets.get(s);
    if (o === undefined) {
      o = this.length;
      this.offsets.set(s, o);
      const b = Buffer.from(`${s}\0`, 'latin1');
      this.parts.push(b);
      this.length += b.length;
    }
    return o;
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** .gnu.hash for `names` (the hashed tail of .dynsym from `symoffset`, already in bucket order). */
function buildGnuHash(hashes: number[], nbuckets: number, symoffset: number): Buffer {
  const bitsPerWord = 64;
  // About 12 bloom bits per symbol, as lld sizes it; a power of two words.
  let maskwords = 1;
  while (maskwords * bitsPerWord < hashes.length * 12) maskwords *= 2;
  const shift = 26;
  const out = Buffer.alloc(16 + maskwords * 8 + nbuckets * 4 + hashes.length * 4);
  out.writeUInt32LE(nbuckets, 0);
  out.writeUInt32LE(symoffset, 4);
  out.writeUInt32LE(maskwords, 8);
  out.writeUInt32LE(shift, 12);
  const bloom = new BigUint64Array(maskwords);
  for (const h of hashes) {
    const word = Math.floor(h / bitsPerWord) % maskwords;
    bloom[word]! |= (1n << BigInt(h % bitsPerWord)) | (1n << BigInt((h >>> shift) % bitsPerWord));
  }
  let o = 16;
  for (const w of bloom) {
    out.writeBigUInt64LE(w, o);
    o += 8;
  }
  const bucketsAt = o;
  const chainAt = bucketsAt + nbuckets * 4;
  for (let i = 0; i < hashes.length; i++) {
    const b = hashes[i]! % nbuckets;
    if (out.readUInt32LE(bucketsAt + b * 4) === 0) out.writeUInt32LE(symoffset + i, bucketsAt + b * 4);
    const last = i + 1 === hashes.length || hashes[i + 1]! % nbuckets !== b;
    out.writeUInt32LE(((hashes[i]! & ~1) | (last ? 1 : 0)) >>> 0, chainAt + i * 4);
  }
  return out;
}

/**
 * Rewrite `elf` (modified in place) keeping only the exports `keep` accepts
 * plus what the dynamic linker needs. Throws ElfLayoutError for layouts it
 * does not handle; `elf` is untouched then.
 */
export function trimDynamicSymbols(elf: Buffer, keep: (name: string) => boolean): DynsymTrim {
  let plan: () => DynsymTrim;
  try {
    plan = planTrim(elf, keep);
  } catch (e) {
    // A malformed file shows up as a read out of range: it is a layout this does not handle.
    if (e instanceof RangeError) throw new ElfLayoutError(`malformed ELF file (${e.message})`);
    throw e;
  }
  return plan();
}

/** Everything that reads and checks; returns the writes, which cannot fail. */
function planTrim(elf: Buffer, keep: (name: string) => boolean): () => DynsymTrim {
  const secs = sections(elf);
  const only = (type: number, what: string): ElfSection | undefined => {
    const found = secs.filter((s) => s.type === type);
    if (found.length > 1) throw new ElfLayoutError(`more than one ${what} section`);
    return found[0];
  };
  if (only(SHT_HASH, '.hash')) throw new ElfLayoutError('a SysV .hash section is not supported');
  if (only(SHT_GNU_VERDEF, '.gnu.version_d')) throw new ElfLayoutError('version definitions (.gnu.version_d) are not supported');
  const dynsym = only(SHT_DYNSYM, '.dynsym');
  const gnuHashSec = only(SHT_GNU_HASH, '.gnu.hash');
  const dynamic = only(SHT_DYNAMIC, '.dynamic');
  if (!dynsym || !gnuHashSec || !dynamic) throw new ElfLayoutError('no .dynsym, .gnu.hash or .dynamic section');
  if (dynsym.entsize !== 24) throw new ElfLayoutError('.dynsym entries are not 24 bytes');
  const dynstr = secs[dynsym.link];
  if (!dynstr || gnuHashSec.link !== dynsym.index) throw new ElfLayoutError('.dynsym and .gnu.hash do not link as expected');
  const versym = only(SHT_GNU_VERSYM, '.gnu.version');
  const verneed = only(SHT_GNU_VERNEED, '.gnu.version_r');
  if (secs.some((s) => s.type === SHT_SYMTAB_SHNDX || s.type === SHT_GNU_LIBLIST))
    throw new ElfLayoutError('extended section indexes or a prelink library list are not supported');

  // .dynamic is what the dynamic linker reads: the tables must be where it says, and the
  // relocations to renumber are the ranges it names (whatever the section headers link).
  const dynEntries: { tag: bigint; valueAt: number }[] = [];
  for (let o = dynamic.offset; o + 16 <= dynamic.offset + dynamic.size; o += 16) {
    const tag = elf.readBigInt64LE(o);
    if (tag === DT_NULL) break;
    dynEntries.push({ tag, valueAt: o + 8 });
  }
  const dyn = new Map<bigint, bigint>();
  for (const e of dynEntries) if (!dyn.has(e.tag)) dyn.set(e.tag, elf.readBigUInt64LE(e.valueAt));
  const at = (tag: bigint, sec: ElfSection | undefined, what: string) => {
    if (dyn.get(tag) !== sec?.addr) throw new ElfLayoutError(`.dynamic's ${what} is not the ${what} section`);
  };
  at(DT_SYMTAB, dynsym, 'symbol table');
  at(DT_STRTAB, dynstr, 'string table');
  at(DT_GNU_HASH, gnuHashSec, 'GNU hash table');
  if (versym || dyn.has(DT_VERSYM)) at(DT_VERSYM, versym, 'version table');
  if (dyn.has(DT_REL)) throw new ElfLayoutError('REL relocations are not supported');
  const relas: { offset: number; size: number }[] = [];
  if (dyn.has(DT_RELA)) {
    if ((dyn.get(DT_RELAENT) ?? 24n) !== 24n) throw new ElfLayoutError('RELA entries are not 24 bytes');
    relas.push({ offset: fileOffset(elf, dyn.get(DT_RELA)!), size: Number(dyn.get(DT_RELASZ) ?? 0n) });
  }
  if (dyn.has(DT_JMPREL)) {
    if (dyn.get(DT_PLTREL) !== DT_RELA) throw new ElfLayoutError('PLT relocations are not RELA');
    relas.push({ offset: fileOffset(elf, dyn.get(DT_JMPREL)!), size: Number(dyn.get(DT_PLTRELSZ) ?? 0n) });
  }
  for (const r of relas)
    if (r.size % 24 || r.offset + r.size > elf.length) throw new ElfLayoutError('a relocation table runs past the file');
  // Every allocated relocation section must be one of those ranges (else it would keep old indexes).
  for (const sec of secs.filter((x) => (x.type === SHT_RELA || x.type === SHT_REL) && x.flags & SHF_ALLOC && x.size > 0)) {
    if (!relas.some((r) => sec.offset >= r.offset && sec.offset + sec.size <= r.offset + r.size))
      throw new ElfLayoutError(`relocation section ${sec.index} is not named by .dynamic`);
  }

  // Read the symbols.
  const strs = elf.subarray(dynstr.offset, dynstr.offset + dynstr.size);
  const count = dynsym.size / 24;
  const syms: Sym[] = [];
  for (let i = 0; i < count; i++) {
    const raw = Buffer.from(elf.subarray(dynsym.offset + i * 24, dynsym.offset + i * 24 + 24));
    syms.push({
      name: cstring(strs, raw.readUInt32LE(0)),
      raw,
      version: versym ? elf.readUInt16LE(versym.offset + i * 2) : 0,
      local: i === 0 || raw[4]! >> 4 === 0 /* STB_LOCAL */,
      defined: raw.readUInt16LE(6) !== 0 /* SHN_UNDEF */,
      oldIndex: i,
    });
  }
  // Each entry once: some link editors make DT_RELASZ cover the PLT's relocations too.
  const entries = new Set<number>();
  for (const r of relas) for (let o = r.offset; o < r.offset + r.size; o += 24) entries.add(o);
  const referenced = new Set<number>();
  for (const o of entries) {
    const idx = Number(elf.readBigUInt64LE(o + 8) >> 32n);
    if (idx >= count) throw new ElfLayoutError(`a relocation names symbol ${idx} of ${count}`);
    referenced.add(idx);
  }
  const keptSym = (s: Sym): boolean => s.local || !s.defined || referenced.has(s.oldIndex) || keep(s.name);

  // The new order: locals, the unhashed, then the hashed grouped by bucket. A symbol stays on the
  // side of the old .gnu.hash's symoffset it was on: the link editor hashes some undefined
  // symbols too (a function whose address the executable takes has its PLT entry as canonical
  // address, and libraries must find it).
  const oldSymoffset = elf.readUInt32LE(gnuHashSec.offset + 4);
  const locals = syms.filter((s) => s.local);
  if (locals.length !== dynsym.info || oldSymoffset < locals.length || oldSymoffset > count)
    throw new ElfLayoutError('.dynsym locals do not come first');
  const unhashed = syms.filter((s) => !s.local && s.oldIndex < oldSymoffset && keptSym(s));
  const toHash = syms.filter((s) => s.oldIndex >= oldSymoffset && keptSym(s));
  const nbuckets = Math.max(1, Math.floor(toHash.length / 4));
  const hashed = toHash
    .map((s) => ({ s, h: gnuHash(s.name) }))
    .sort((a, b) => (a.h % nbuckets) - (b.h % nbuckets) || a.s.oldIndex - b.s.oldIndex);
  const order = [...locals, ...unhashed, ...hashed.map((x) => x.s)];
  const newIndex = new Map<number, number>(order.map((s, i) => [s.oldIndex, i]));
  const symoffset = locals.length + unhashed.length;

  // The new string table: .dynamic's and .gnu.version_r's strings, then the symbol names.
  const table = new StringTable();
  const dynPatches: { at: number; value: number }[] = [];
  for (const e of dynEntries)
    if (DT_STRING_TAGS.has(e.tag))
      dynPatches.push({ at: e.valueAt, value: table.add(cstring(strs, Number(elf.readBigUInt64LE(e.valueAt)))) });
  const strszAt = dynEntries.find((e) => e.tag === DT_STRSZ)?.valueAt;
  if (strszAt === undefined) throw new ElfLayoutError('.dynamic has no DT_STRSZ');
  const verPatches: { at: number; value: number }[] = [];
  if (verneed) {
    const end = verneed.offset + verneed.size;
    for (let vn = verneed.offset, n = 0; n < verneed.info; n++) {
      if (vn + 16 > end) throw new ElfLayoutError('.gnu.version_r runs past its section');
      verPatches.push({ at: vn + 4, value: table.add(cstring(strs, elf.readUInt32LE(vn + 4))) });
      const cnt = elf.readUInt16LE(vn + 2);
      for (let aux = vn + elf.readUInt32LE(vn + 8), k = 0; k < cnt; k++) {
        if (aux + 16 > end) throw new ElfLayoutError('.gnu.version_r runs past its section');
        verPatches.push({ at: aux + 8, value: table.add(cstring(strs, elf.readUInt32LE(aux + 8))) });
        const next = elf.readUInt32LE(aux + 12);
        if (!next) break;
        aux += next;
      }
      const next = elf.readUInt32LE(vn + 12);
      if (!next) break;
      vn += next;
    }
  }
  const newSyms = Buffer.alloc(order.length * 24);
  const newVersym = Buffer.alloc(order.length * 2);
  order.forEach((s, i) => {
    s.raw.copy(newSyms, i * 24);
    newSyms.writeUInt32LE(table.add(s.name), i * 24);
    newVersym.writeUInt16LE(s.version, i * 2);
  });
  const newStrs = table.bytes();
  const newHash = buildGnuHash(
    hashed.map((x) => x.h),
    nbuckets,
    symoffset,
  );
  if (newSyms.length > dynsym.size || newStrs.length > dynstr.size || newHash.length > gnuHashSec.size)
    throw new ElfLayoutError('the trimmed tables do not fit in the old ones');

  // Write: every check is done, from here on only writes.
  return () => {
    for (const o of entries) {
      const info = elf.readBigUInt64LE(o + 8);
      const idx = newIndex.get(Number(info >> 32n))!;
      elf.writeBigUInt64LE((BigInt(idx) << 32n) | (info & 0xffffffffn), o + 8);
    }
    for (const p of dynPatches) elf.writeBigUInt64LE(BigInt(p.value), p.at); // d_val: 64 bits
    for (const p of verPatches) elf.writeUInt32LE(p.value, p.at); // vn_file, vna_name: 32 bits
    elf.writeBigUInt64LE(BigInt(newStrs.length), strszAt);
    const put = (sec: ElfSection, bytes: Buffer): void => {
      elf.fill(0, sec.offset, sec.offset + sec.size);
      bytes.copy(elf, sec.offset);
      elf.writeBigUInt64LE(BigInt(bytes.length), sec.header + 32);
    };
    const bytesBefore = gnuHashSec.size + dynsym.size + dynstr.size + (versym?.size ?? 0);
    put(gnuHashSec, newHash);
    put(dynsym, newSyms);
    put(dynstr, newStrs);
    if (versym) put(versym, newVersym);
    return {
      symbolsBefore: count,
      symbolsAfter: order.length,
      bytesBefore,
      bytesAfter: newHash.length + newSyms.length + newStrs.length + (versym ? newVersym.length : 0),
    };
  };
}
