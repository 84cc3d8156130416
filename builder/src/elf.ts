/**
 * Just enough ELF for two questions. "Can this binary run here?": the DT_NEEDED
 * entries of a 64-bit little-endian ELF file. Used to check a ramdisk's
 * binaries against the libraries actually in the tree, since no package
 * manager (and no ldconfig) runs at build time.
 */
import { open, type FileHandle } from 'node:fs/promises';

/** DT_NEEDED sonames, or undefined when the file is not a dynamic ELF64 LE object. */
/** The 64-byte file header, or undefined when the file is not ELF64 little-endian. */
async function elf64Header(fh: FileHandle): Promise<Buffer | undefined> {
  const head = Buffer.alloc(64);
  const { bytesRead } = await fh.read(head, 0, 64, 0);
  return bytesRead === 64 && head.readUInt32BE(0) === 0x7f454c46 && head[4] === 2 && head[5] === 1 ? head : undefined;
}

export async function readNeeded(path: string): Promise<string[] | undefined> {
  const fh = await open(path, 'r');
  try {
    const head = await elf64Header(fh);
    if (!head) return undefined;
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    await fh.read(ph, 0, ph.length, phoff);
    const loads: { vaddr: bigint; offset: bigint; filesz: bigint }[] = [];
    let dyn: { offset: number; size: number } | undefined;
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      const type = ph.readUInt32LE(o);
      if (type === 1)
        loads.push({ offset: ph.readBigUInt64LE(o + 8), vaddr: ph.readBigUInt64LE(o + 16), filesz: ph.readBigUInt64LE(o + 32) });
      if (type === 2) dyn = { offset: Number(ph.readBigUInt64LE(o + 8)), size: Number(ph.readBigUInt64LE(o + 32)) };
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
    const seg = loads.find((l) => strtabVaddr! >= l.vaddr && strtabVaddr! < l.vaddr + l.filesz);
    if (!seg) return [];
    const strtab = Buffer.alloc(strsz);
    await fh.read(strtab, 0, strsz, Number(strtabVaddr - seg.vaddr + seg.offset));
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
    const shoff = Number(head.readBigUInt64LE(40));
    const shentsize = head.readUInt16LE(58);
    const shnum = head.readUInt16LE(60);
    if (!shoff || !shnum) return undefined;
    const sh = Buffer.alloc(shentsize * shnum);
    await fh.read(sh, 0, sh.length, shoff);
    const section = (i: number) => {
      const o = i * shentsize;
      return {
        type: sh.readUInt32LE(o + 4),
        addr: sh.readBigUInt64LE(o + 16),
        offset: Number(sh.readBigUInt64LE(o + 24)),
        size: Number(sh.readBigUInt64LE(o + 32)),
        link: sh.readUInt32LE(o + 40),
      };
    };
    let symtab: ReturnType<typeof section> | undefined;
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
