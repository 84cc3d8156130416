/**
 * DIB's package-installs (diskimage_builder/elements/package-installs/:
 * bin/package-installs-squash, bin/package-installs-v2), as pure logic:
 * the elements' package-installs.yaml / .json files squashed into one
 * install list and one uninstall list per phase, then each element's
 * names mapped through its pkg-map. The runner hands the lists to
 * install-packages in pre-install.d, install.d and post-install.d.
 *
 * A file maps a package name to nothing, to one set of parameters, or to a
 * list of them (each considered on its own):
 * - `phase`: pre-install.d, install.d (default) or post-install.d;
 * - `uninstall` / `build-only`: their presence counts, not their value;
 *   build-only = install, then uninstall at the end of the phase;
 * - `installtype`: kept only if it equals DIB_INSTALLTYPE_<element> (`-` → `_`),
 *   else DIB_DEFAULT_INSTALLTYPE, else `source`;
 * - `arch` / `not-arch`: comma lists checked against ARCH (both: an error).
 *   DIB splits on ',' without trimming, so "amd64, arm64" never matches
 *   " arm64": same here;
 * - `dib_python_version`: kept only if it equals DIB_PYTHON_VERSION;
 * - `when`: `VAR = value` or `VAR != value` (spaces around the operator
 *   optional, the value is the rest of the line), or a list of them, all of
 *   which must hold; an unset VAR is an error.
 * Bookkeeping in DIB's order: a plain install drops earlier uninstall
 * requests of that package in that phase (even when its own filters then
 * leave it out); an uninstall is dropped when an earlier element already
 * installs the package and nothing uninstalls it yet.
 *
 * Deviations, on purpose: a phase other than the three is an error (DIB
 * files it under a phase that never runs); a file that is empty gives no
 * packages (DIB crashes on it).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../../errors.js';
import { mapPackages, type PkgMap } from './pkg-map.js';
import { parseDibYaml } from './yaml.js';

export const PACKAGE_PHASES = ['pre-install.d', 'install.d', 'post-install.d'] as const;
export type PackagePhase = (typeof PACKAGE_PHASES)[number];

export interface Request {
  pkg: string;
  element: string;
}

export type Squashed = Record<PackagePhase, { install: Request[]; uninstall: Request[] }>;

export type Env = Readonly<Record<string, string | undefined>>;

export function emptySquashed(): Squashed {
  return {
    'pre-install.d': { install: [], uninstall: [] },
    'install.d': { install: [], uninstall: [] },
    'post-install.d': { install: [], uninstall: [] },
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function entryError(file: string, pkg: string, what: string, fix: string): UserError {
  return new UserError(`${file}: package '${pkg}': ${what}`, { hint: fix });
}

/** The installtype an element gets (DIB: get_element_installtype). */
export function elementInstallType(element: string, env: Env): string {
  return env[`DIB_INSTALLTYPE_${element.replace(/-/g, '_')}`] ?? env.DIB_DEFAULT_INSTALLTYPE ?? 'source';
}

// DIB: re.match(r"(\w+)(\s*)(=|!=)(\s*)(.*)"): anchored at the start only, the value runs to the end of the line.
const WHEN = /^(\w+)\s*(=|!=)\s*([^\n]*)/;

/** Does every `when` statement hold? (an unset variable is an error naming element, package and variable) */
export function evaluateWhen(when: unknown, ctx: { element: string; pkg: string; file: string; env: Env }): boolean {
  if (when === undefined || when === null) return true;
  const statements = Array.isArray(when) ? when : [when];
  let all = true;
  for (const s of statements) {
    if (typeof s !== 'string')
      throw entryError(ctx.file, ctx.pkg, `when: ${JSON.stringify(s)} is not a string`, "write it as 'VAR = value' or 'VAR != value'");
    const m = WHEN.exec(s);
    if (!m) throw entryError(ctx.file, ctx.pkg, `malformed when: '${s}'`, "write it as 'VAR = value' or 'VAR != value'");
    const [, name, op, value] = m as unknown as [string, string, string, string];
    const actual = ctx.env[name];
    if (actual === undefined)
      throw new UserError(`element ${ctx.element}: package '${ctx.pkg}' has 'when: ${s}' but the variable ${name} is not set`, {
        hint: `set ${name} in dib.environment (or export it) so the condition can be evaluated, as DIB requires`,
      });
    if ((op === '=') !== (value === actual)) all = false;
  }
  return all;
}

function archAllows(param: Record<string, unknown>, ctx: { pkg: string; file: string; env: Env }): boolean {
  const arch = param.arch;
  const notArch = param['not-arch'];
  if (arch == null && notArch == null) return true;
  if (arch != null && notArch != null) throw entryError(ctx.file, ctx.pkg, 'has both arch and not-arch', 'keep one of them');
  const current = ctx.env.ARCH;
  if (current === undefined) throw new UserError(`${ctx.file}: package '${ctx.pkg}' is filtered by arch but ARCH is not set`);
  const inList = (list: unknown) => String(list).split(',').includes(current);
  return arch != null ? inList(arch) : !inList(notArch);
}

/**
 * Add one element's parsed package-installs data to `into` (DIB: collect_data).
 * `file` is only for error messages.
 */
export function collectPackageInstalls(into: Squashed, data: unknown, element: string, file: string, env: Env): Squashed {
  if (data === null || data === undefined) return into;
  if (!isObject(data))
    throw new UserError(`${file}: not a map of package names`, { hint: 'write package: {phase: ..., ...} entries, one per package' });
  for (const [pkg, raw] of Object.entries(data)) {
    // DIB: `if not params: params = [{}]` (None, {}, [], '', 0 and false alike).
    const empty =
      raw == null ||
      raw === '' ||
      raw === 0 ||
      raw === false ||
      (Array.isArray(raw) && raw.length === 0) ||
      (isObject(raw) && Object.keys(raw).length === 0);
    const params: unknown[] = empty ? [{}] : Array.isArray(raw) ? raw : [raw];
    for (const param of params) {
      const p = param;
      if (!isObject(p))
        throw entryError(file, pkg, 'its parameters are not a map', 'give a map (phase, uninstall, when, ...) or a list of maps');
      const phase = (p.phase ?? 'install.d') as PackagePhase;
      if (!PACKAGE_PHASES.includes(phase))
        throw entryError(file, pkg, `phase '${String(p.phase)}' installs nothing`, `use one of ${PACKAGE_PHASES.join(', ')}`);
      const lists = into[phase];
      let kinds: ('install' | 'uninstall')[] = ['install'];
      const uninstall = 'uninstall' in p;
      const buildOnly = 'build-only' in p;
      if (uninstall || buildOnly) {
        const installed = lists.install.some((r) => r.pkg === pkg);
        const notUninstalled = lists.uninstall.every((r) => r.pkg !== pkg);
        if (installed && notUninstalled) {
          // Someone installs it for good: nothing to uninstall (build-only still installs).
          if (!buildOnly) continue;
        } else {
          if (uninstall) kinds = ['uninstall'];
          if (buildOnly) kinds = ['install', 'uninstall'];
        }
      } else {
        lists.uninstall = lists.uninstall.filter((r) => r.pkg !== pkg);
      }
      if (p.installtype != null && String(p.installtype) !== elementInstallType(element, env)) continue;
      if (!archAllows(p, { pkg, file, env })) continue;
      const py = p.dib_python_version == null ? '' : String(p.dib_python_version);
      if (py !== '' && py !== (env.DIB_PYTHON_VERSION ?? '')) continue;
      if (!evaluateWhen(p.when, { element, pkg, file, env })) continue;
      for (const kind of kinds) lists[kind].push({ pkg, element });
    }
  }
  return into;
}

/** Parse a package-installs file: JSON, falling back to YAML 1.1 as `yaml.safe_load` reads it (as DIB does for both names). */
export function parsePackageInstalls(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    try {
      return parseDibYaml(text);
    } catch (e) {
      throw new UserError(`${file}: neither JSON nor YAML (${(e as Error).message.split('\n')[0]})`, { hint: 'fix the syntax' });
    }
  }
}

/**
 * Squash the package-installs files of the build's elements, in build
 * order. As DIB does, an element's files are read from every entry of the
 * elements path that has a directory of that name (not only the one that
 * won the override), .json before .yaml.
 */
export function squashPackageInstalls(elements: readonly string[], elementsPath: readonly string[], env: Env): Squashed {
  const out = emptySquashed();
  for (const element of elements)
    for (const dir of elementsPath) {
      if (!existsSync(join(dir, element))) continue;
      for (const ext of ['json', 'yaml']) {
        const file = join(dir, element, `package-installs.${ext}`);
        if (!existsSync(file)) continue;
        collectPackageInstalls(out, parsePackageInstalls(readFileSync(file, 'utf8'), file), element, file, env);
      }
    }
  return out;
}

/**
 * What install-packages gets in a phase (DIB: package-installs-v2): each
 * element's names mapped through its pkg-map, duplicates removed (first
 * seen kept; DIB's set has no order).
 */
export function phasePackages(
  squashed: Squashed,
  phase: PackagePhase,
  kind: 'install' | 'uninstall',
  pkgMaps: ReadonlyMap<string, PkgMap | undefined>,
  target: { distro: string; release: string },
): string[] {
  const byElement = new Map<string, string[]>();
  for (const r of squashed[phase][kind]) {
    const list = byElement.get(r.element) ?? [];
    list.push(r.pkg);
    byElement.set(r.element, list);
  }
  const out = new Set<string>();
  for (const [element, pkgs] of byElement) for (const p of mapPackages(pkgMaps.get(element), pkgs, target)) out.add(p);
  return [...out];
}

/** One deprecated `package-installs-<element>` list found in a package phase of the hook tree. */
export interface LegacyList {
  phase: PackagePhase;
  /** Path relative to the hook tree, e.g. `install.d/package-installs-site`. */
  file: string;
  element: string;
  /** Installed at the start of the phase (every name, a leading `-` dropped), already mapped. */
  install: string[];
  /** Removed at the end of the phase (the names that had a leading `-`), already mapped. */
  uninstall: string[];
}

/**
 * DIB's deprecated per-phase lists, which current DIB still reads
 * (package-installs/bin/package-installs and package-uninstalls, run by the
 * same pre-install.d/10, install.d/01, post-install.d/00 scripts as
 * package-installs-v2, just before it, and by the phase's uninstall script):
 * a file `package-installs-<element>` in pre-install.d, install.d or
 * post-install.d of the merged hook tree, one package a line. Blank lines
 * and lines starting with `#` (after the surrounding blanks, as bash's
 * `read` trims them) are skipped; a line with blanks inside names several
 * packages; `-name` is installed at the start of the phase too and removed
 * at its end. Names go through the pkg-map of the element the file is
 * named after, when it has one (a name without mapping stays as it is).
 *
 * Deviations, on purpose (where DIB's shell slips; its intent kept):
 * - files in name order, where DIB takes `find`'s directory order (which
 *   depends on the filesystem): the build log is the same everywhere, and
 *   nothing else changes, as DIB too gathers a phase's lists into one
 *   install-packages call (one `-e` call for the removals);
 * - a last line without a newline counts (DIB's `read` loop drops it);
 * - blanks around a name are trimmed, a CR included (DIB's `read` keeps a
 *   CR, and apt finds no such package);
 * - names are mapped one by one (DIB maps a line at once, and installs the
 *   whole line unmapped when one of its names has no mapping);
 * - a `-name` to remove is mapped as `name`, as for the install (DIB maps
 *   `-name`, which fails the phase unless the map has that key, and cuts
 *   the first character off the result).
 */
export function readLegacyLists(
  hooks: string,
  pkgMaps: ReadonlyMap<string, PkgMap | undefined>,
  target: { distro: string; release: string },
): LegacyList[] {
  const out: LegacyList[] = [];
  for (const phase of PACKAGE_PHASES) {
    let names: string[];
    try {
      names = readdirSync(join(hooks, phase));
    } catch {
      continue;
    }
    for (const name of names.filter((n) => n.startsWith('package-installs-')).sort()) {
      const file = join(hooks, phase, name);
      if (!statSync(file).isFile()) continue;
      const element = name.slice('package-installs-'.length);
      const install: string[] = [];
      const uninstall: string[] = [];
      for (const raw of readFileSync(file, 'utf8').split('\n')) {
        const line = raw.trim();
        if (line === '' || line.startsWith('#')) continue;
        const remove = line.startsWith('-');
        const pkgs = (remove ? line.slice(1) : line).split(/\s+/).filter((p) => p !== '');
        install.push(...pkgs);
        if (remove) uninstall.push(...pkgs);
      }
      const map = pkgMaps.get(element);
      out.push({
        phase,
        file: `${phase}/${name}`,
        element,
        install: mapPackages(map, install, target),
        uninstall: mapPackages(map, uninstall, target),
      });
    }
  }
  return out;
}
