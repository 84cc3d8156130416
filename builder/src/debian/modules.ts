/**
 * Choosing kernel modules: named sets (module-sets.ts) plus extra names,
 * closed over modules.dep (hard dependencies) and modules.softdep (e.g.
 * ext4's "pre: crypto-crc32c"), resolved through modules.alias.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { MODULE_SETS, isModuleSet, type ModuleSet } from './module-sets.js';

export { DEFAULT_MODULE_SETS, MODULE_SETS, type ModuleSet } from './module-sets.js';

/** The module index of one kernel, read from its (full) depmod output. */
export interface ModuleIndex {
  /** Normalised name → path relative to lib/modules/<ver>/. */
  paths: Map<string, string>;
  /** Normalised name → names it needs (modules.dep). */
  deps: Map<string, string[]>;
  /** Normalised name → aliases/names it wants loaded with it (modules.softdep). */
  softdeps: Map<string, string[]>;
  /** Alias → normalised module names (exact aliases only, no wildcards). */
  aliases: Map<string, string[]>;
  /** Normalised names built into the kernel image. */
  builtin: Set<string>;
}

/** 'kernel/drivers/net/virtio_net.ko(.xz)' or 'virtio-net' → 'virtio_net'. */
export function moduleName(pathOrName: string): string {
  const base = pathOrName.slice(pathOrName.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|gz|zst))?$/, '').replace(/-/g, '_');
}

/** Parse the text index files of a depmod'ed lib/modules/<ver>/. */
export function parseModuleIndex(files: { dep: string; softdep?: string; alias?: string; builtin?: string }): ModuleIndex {
  const idx: ModuleIndex = { paths: new Map(), deps: new Map(), softdeps: new Map(), aliases: new Map(), builtin: new Set() };
  for (const line of files.dep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const path = line.slice(0, colon);
    const name = moduleName(path);
    idx.paths.set(name, path);
    idx.deps.set(
      name,
      line
        .slice(colon + 1)
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(moduleName),
    );
  }
  for (const line of (files.softdep ?? '').split('\n')) {
    const [kw, mod, ...rest] = line.trim().split(/\s+/);
    if (kw !== 'softdep' || !mod) continue;
    // Both "softdep m pre: a post: b" and the markerless "softdep m a" occur.
    const wants = rest.filter((t) => t !== 'pre:' && t !== 'post:');
    const name = moduleName(mod);
    idx.softdeps.set(name, [...(idx.softdeps.get(name) ?? []), ...wants]);
  }
  for (const line of (files.alias ?? '').split('\n')) {
    const [kw, alias, mod] = line.trim().split(/\s+/);
    if (kw !== 'alias' || !alias || !mod || /[*?[]/.test(alias)) continue;
    idx.aliases.set(alias, [...(idx.aliases.get(alias) ?? []), moduleName(mod)]);
  }
  for (const line of (files.builtin ?? '').split('\n')) if (line.trim()) idx.builtin.add(moduleName(line.trim()));
  return idx;
}

/** Read the index of a lib/modules/<ver>/ directory that depmod has run on. */
export async function readModuleIndex(modulesDir: string): Promise<ModuleIndex> {
  const read = (f: string): Promise<string> => readFile(join(modulesDir, f), 'utf8').catch(() => '');
  const dep = await read('modules.dep');
  if (!dep) {
    throw new UserError(`${modulesDir} has no modules.dep`, {
      hint: `run: depmod -b <root> <version> on the unpacked kernel (fetchKernel does this)`,
    });
  }
  return parseModuleIndex({
    dep,
    softdep: await read('modules.softdep'),
    alias: await read('modules.alias'),
    builtin: await read('modules.builtin'),
  });
}

/**
 * The modules of the named sets plus `extra` names, with everything they
 * depend on, as sorted paths relative to `modulesDir` (kernel/...ko).
 * An `extra` name that is neither a module nor built in is an error.
 */
export async function selectModules(modulesDir: string, sets: ModuleSet[], extra: string[] = []): Promise<string[]> {
  return selectFromIndex(await readModuleIndex(modulesDir), sets, extra);
}

export function selectFromIndex(idx: ModuleIndex, sets: ModuleSet[], extra: string[] = []): string[] {
  const chosen = new Set<string>();
  for (const set of sets) {
    if (!isModuleSet(set)) {
      throw new UserError(`unknown module set '${String(set)}'`, { hint: `use some of: ${Object.keys(MODULE_SETS).join(', ')}` });
    }
    const rule = MODULE_SETS[set];
    for (const [name, path] of idx.paths) if (rule.dirs.some((d) => path.startsWith(d))) chosen.add(name);
    for (const n of rule.names) if (idx.paths.has(moduleName(n))) chosen.add(moduleName(n));
  }
  for (const raw of extra) {
    const n = moduleName(raw);
    if (idx.paths.has(n)) chosen.add(n);
    else if (!idx.builtin.has(n)) {
      throw new UserError(`kernel module '${raw}' is neither a module nor built into this kernel`, {
        hint: 'check the name with: find /lib/modules/$(uname -r) -name "<name>*"  (names use _ or -)',
      });
    }
  }
  const queue = [...chosen];
  const add = (n: string): void => {
    if (!idx.paths.has(n) || chosen.has(n)) return;
    chosen.add(n);
    queue.push(n);
  };
  while (queue.length) {
    const n = queue.pop() as string;
    for (const d of idx.deps.get(n) ?? []) add(d);
    for (const s of idx.softdeps.get(n) ?? []) {
      add(moduleName(s));
      for (const m of idx.aliases.get(s) ?? []) add(m);
    }
  }
  return [...chosen].map((n) => idx.paths.get(n) as string).sort();
}
