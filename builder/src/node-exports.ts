/**
 * The ramdisk Node's exported symbols (`node.exports`).
 *
 * Official Node binaries export all 89,000 of their symbols so that native
 * addons can link against V8's and Node's C++ API. At every start the dynamic
 * linker searches those tables for each symbol a library looks up, which
 * makes ~7 MB of them resident (see elf-dynsym.ts): a fifth of an idle
 * agent's memory, and pages a tinyipa boot decompresses from squashfs.
 *
 * `c` keeps every C name (N-API, libuv, OpenSSL, zlib: what N-API addons and
 * C libraries link against) and the C++ runtime's names (std::, the C++ ABI,
 * operators new and delete, typeinfo of built-in types), which the system's
 * libstdc++ binds to when Node carries its own copy; it drops the C++ names
 * of Node's own code (V8, Node, ICU, cppgc, the inspector, simdutf, ada,
 * abseil...). An addon built on N-API loads as before; one built against
 * V8's C++ API (nan and the like) loads, and with lazy binding (Node's
 * default) the process stops with a `symbol lookup error` at its first
 * call into V8; a crash's native stack shows addresses where it showed
 * V8's names.
 * `all` keeps the official table.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { BuildError } from './errors.js';
import { ElfLayoutError, trimDynamicSymbols, type DynsymTrim } from './elf-dynsym.js';

export type ExportsMode = 'all' | 'c';
/** Bump when keepNodeExport or elf-dynsym.ts changes what is written: cached trimmed binaries are keyed by it. */
export const EXPORTS_TRIM_VERSION = 1;

/** Namespaces of the C++ runtime that system libraries may bind to in the executable. */
const RUNTIME_SCOPES = new Set(['std', '__gnu_cxx', '__cxxabiv1', '__cxx11']);

/**
 * The outermost scope a mangled (Itanium ABI) name belongs to: `std` for
 * std:: and its abbreviations, a namespace or class name, or undefined when
 * the name has none (operators, built-in types, anything not parsed here).
 */
export function outerScope(mangled: string): string | undefined {
  let s = mangled.slice(2);
  for (;;) {
    // vtable, VTT, typeinfo, its name, construction vtable, TLS init/wrapper; guard and
    // reference temporaries; virtual thunks (Th/Tv with their offsets); a local entity's
    // enclosing function (Z).
    const m = /^(?:T[VTISCHW]|G[VR]|Thn?\d+_|Tvn?\d+_n?\d+_|Z)/.exec(s);
    if (!m) break;
    s = s.slice(m[0].length);
  }
  if (s.startsWith('N')) s = s.slice(1).replace(/^[rVKRO]+/, '');
  if (/^S[tabsiod]/.test(s)) return 'std';
  const len = /^\d+/.exec(s);
  if (!len) return undefined;
  return s.slice(len[0].length, len[0].length + Number(len[0]));
}

/** Whether the ramdisk's Node keeps exporting `name` in mode `c`. */
export function keepNodeExport(name: string): boolean {
  if (!name.startsWith('_Z')) return true;
  const scope = outerScope(name);
  return scope === undefined || RUNTIME_SCOPES.has(scope);
}

/** Copy `binary` to `out` with the exports of mode `c`. */
export async function trimNodeExports(binary: string, out: string): Promise<DynsymTrim> {
  const elf = await readFile(binary);
  let trim: DynsymTrim;
  try {
    trim = trimDynamicSymbols(elf, keepNodeExport);
  } catch (e) {
    if (e instanceof ElfLayoutError)
      throw new BuildError(`cannot trim the exported symbols of ${binary}: ${e.message}`, { hint: 'set node.exports: all', cause: e });
    throw e;
  }
  const partial = `${out}.partial`;
  await rm(partial, { force: true });
  await writeFile(partial, elf, { mode: 0o755 });
  await rename(partial, out);
  return trim;
}
