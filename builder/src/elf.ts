/**
 * Just enough ELF (64-bit little-endian) for the builder. "Can this binary run
 * here?": the DT_NEEDED entries of a file, to check a ramdisk's binaries
 * against the libraries actually in the tree, since no package manager (and
 * no ldconfig) runs at build time. "Where is this object?": a .symtab
 * symbol's bytes in the file (node-icu.ts). And the decoders of section
 * headers and PT_LOAD segments that elf-dynsym.ts shares: these read from a
 * file handle only the tables they need (the Node binary is 100 MB),
 * elf-dynsym.ts from the whole file in memory.
 */
import { open, type FileHandle } from 'node:fs/promises';

/** True for the identification bytes of a 64-bit little-endian ELF file. */
export function isElf64Le(head: Buffer): boolean {
  return head.length >= 64 && head.readUInt32BE(0) === 0x7f454c46 && head[4] === 2 && head[5] === 1;
}

/** The 64-byte file header, or undefined when the file is not ELF64 little-endian. */
async function elf64Header(fh: FileHandle): Promise<Buffer | undefined> {
  const head = Buffer.alloc(64);
  const { bytesRead } = await fh.read(head, 0, 64, 0);
  return bytesRead === 64 && isElf64Le(head) ? head : undefined;
}

/** Where the header's tables are (e_phoff/e_phentsize/e_phnum, e_shoff/e_shentsize/e_shnum). */
export function headerTables(head: Buffer): {
  phoff: number;
  phentsize: number;
  phnum: number;
  shoff: number;
  shentsize: number;
  shnum: number;
} {
  return {
    phoff: Number(head.readBigUInt64LE(32)),
    phentsize: head.readUInt16LE(54),
    phnum: head.readUInt16LE(56),
    shoff: Number(head.readBigUInt64LE(40)),
    shentsize: head.readUInt16LE(58),
    shnum: head.readUInt16LE(60),
  };
}

export interface ElfSection {
  index: number;
  type: number;
  flags: bigint;
  addr: bigint;
  /** Offset of this section's header in the file. */
  header: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
}

/**
 * Section header `index`, whose 64 bytes start at `at` in `buf`; `bufOffset`
 * is where `buf` starts in the file (0 when it is the whole file).
 */
export function decodeSection(buf: Buffer, at: number, index: number, bufOffset = 0): ElfSection {
  return {
    index,
    type: buf.readUInt32LE(at + 4),
    flags: buf.readBigUInt64LE(at + 8),
    addr: buf.readBigUInt64LE(at + 16),
    header: bufOffset + at,
    offset: Number(buf.readBigUInt64LE(at + 24)),
    size: Number(buf.readBigUInt64LE(at + 32)),
    link: buf.readUInt32LE(at + 40),
    info: buf.readUInt32LE(at + 44),
    entsize: Number(buf.readBigUInt64LE(at + 56)),
  };
}

export interface LoadSegment {
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
}

/** The PT_LOAD entries of a program header table of `count` entries of `entsize` bytes starting at `at` in `buf`. */
export function loadSegments(buf: Buffer, at: number, count: number, entsize: number): LoadSegment[] {
  const loads: LoadSegment[] = [];
  for (let i = 0; i < count; i++) {
    const o = at + i * entsize;
    if (buf.readUInt32LE(o) !== 1 /* PT_LOAD */) continue;
    loads.push({ offset: buf.readBigUInt64LE(o + 8), vaddr: buf.readBigUInt64LE(o + 16), filesz: buf.readBigUInt64LE(o + 32) });
  }
  return loads;
}

/** The file offset of a virtual address, through the PT_LOAD segments; undefined when no segment holds it in the file. */
export function vaddrToOffset(loads: readonly LoadSegment[], vaddr: bigint): number | undefined {
  const seg = loads.find((l) => vaddr >= l.vaddr && vaddr < l.vaddr + l.filesz);
  return seg ? Number(vaddr - seg.vaddr + seg.offset) : undefined;
}

/** DT_NEEDED sonames, or undefined when the file is not a dynamic ELF64 LE object. */
export async function readNeeded(path: string): Promise<string[] | undefined> {
  const fh = await open(path, 'r');
  try {
    const head = await elf64Header(fh);
    if (!head) return undefined;
    const { phoff, phentsize, phnum } = headerTables(head);
    const ph = Buffer.alloc(phentsize * phnum);
    await fh.read(ph, 0, ph.length, phoff);
    const loads = loadSegments(ph, 0, phnum, phentsize);
    let dyn: { offset: number; size: number } | undefined;
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      if (ph.readUInt32LE(o) === 2 /* PT_DYNAMIC */)
        dyn = { offset: Number(ph.readBigUInt64LE(o + 8)), size: Number(ph.readBigUInt64LE(o + 32)) };
    }
    if (!dyn) return [];
    const d = Buffer.alloc(dyn.size);
    await fh.read(d, 0, d.length, dyn.offset);
    const needed: bigint[] = [];
    let strtabVaddr: bigint | undefined;
    let strsz = 0;
    for (let o = 0; o + 16 <= d.length; o += 16) {
      const tag = d.readBigInt64LE(o);
      const val = d.readBigUInt64LE(o + 8);
      if (tag === 0n) break;
      if (tag === 1n) needed.push(val);
      if (tag === 5n) strtabVaddr = val;
      if (tag === 10n) strsz = Number(val);
    }
    if (!needed.length || strtabVaddr === undefined) return [];
    // DT_STRTAB is a virtual address: map it through the PT_LOAD segments.
    const strtabOffset = vaddrToOffset(loads, strtabVaddr);
    if (strtabOffset === undefined) return [];
    const strtab = Buffer.alloc(strsz);
    await fh.read(strtab, 0, strsz, strtabOffset);
    return needed.map((off) => {
      const start = Number(off);
      const end = strtab.indexOf(0, start);
      return strtab.toString('latin1', start, end < 0 ? undefined : end);
    });
  } finally {
    await fh.close();
  }
}

export interface ElfSymbol {
  name: string;
  /** Size in bytes, as the symbol table states it. */
  size: number;
  /** Where the symbol's bytes start in the file. */
  fileOffset: number;
}

/**
 * The first object symbol of the static symbol table (.symtab) that `match`
 * accepts, with its place in the file; undefined when the file has no
 * .symtab (a stripped binary) or no such symbol. `minSize` skips small
 * symbols without reading their names (the Node binary has 130,000).
 */
export async function findObjectSymbol(path: string, match: (name: string) => boolean, minSize = 0): Promise<ElfSymbol | undefined> {
  const fh = await open(path, 'r');
  try {
    const head = await elf64Header(fh);
    if (!head) return undefined;
    const { shoff, shentsize, shnum } = headerTables(head);
    if (!shoff || !shnum || shentsize < 64) return undefined;
    const sh = Buffer.alloc(shentsize * shnum);
    await fh.read(sh, 0, sh.length, shoff);
    const section = (i: number): ElfSection => decodeSection(sh, i * shentsize, i, shoff);
    let symtab: ElfSection | undefined;
    for (let i = 0; i < shnum && !symtab; i++) if (section(i).type === 2 /* SHT_SYMTAB */) symtab = section(i);
    if (!symtab || symtab.link >= shnum) return undefined;
    const strtab = section(symtab.link);
    const syms = Buffer.alloc(symtab.size);
    await fh.read(syms, 0, syms.length, symtab.offset);
    const nameBuf = Buffer.alloc(256);
    for (let o = 0; o + 24 <= syms.length; o += 24) {
      const info = syms[o + 4]!;
      const shndx = syms.readUInt16LE(o + 6);
      const size = Number(syms.readBigUInt64LE(o + 16));
      if ((info & 0xf) !== 1 /* STT_OBJECT */ || size < minSize || shndx === 0 || shndx >= shnum) continue;
      const { bytesRead: n } = await fh.read(nameBuf, 0, nameBuf.length, strtab.offset + syms.readUInt32LE(o));
      const end = nameBuf.subarray(0, n).indexOf(0);
      const name = nameBuf.toString('latin1', 0, end < 0 ? n : end);
      if (!match(name)) continue;
      const sec = section(shndx);
      if (sec.type === 8 /* SHT_NOBITS */) continue;
      return { name, size, fileOffset: Number(syms.readBigUInt64LE(o + 8) - sec.addr) + sec.offset };
    }
    return undefined;
  } finally {
    await fh.close();
  }
}
