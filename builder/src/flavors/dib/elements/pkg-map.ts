/**
 * DIB's `pkg-map` (diskimage_builder/elements/pkg-map/bin/pkg-map), as
 * package-installs uses it (`--missing-ok`): an element's `pkg-map` file
 * (JSON) maps generic names to the distribution's, the most specific
 * section winning: `default` < `family` < `distro` < `release[distro][release]`.
 * A name mapped to an empty value is dropped; a name with no mapping, or an
 * element without a pkg-map file, passes through unchanged. A mapped value
 * holding several names ("a b") gives them all, as install-packages splits
 * its arguments.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../../errors.js';

type NameMap = Record<string, string | null>;

export interface PkgMap {
  default?: NameMap;
  family?: Record<string, NameMap>;
  distro?: Record<string, NameMap>;
  release?: Record<string, Record<string, NameMap>>;
}

/** DIB's families: the distributions pkg-map knows. */
export function osFamily(distro: string): string | undefined {
  if (['almalinux', 'fedora', 'rhel', 'centos', 'openeuler', 'rocky'].includes(distro)) return 'redhat';
  if (['debian', 'ubuntu'].includes(distro)) return 'debian';
  if (distro === 'opensuse') return 'suse';
  if (distro === 'gentoo') return 'gentoo';
  return undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkNameMap(v: unknown, where: string, file: string): NameMap {
  if (!isObject(v)) throw badMap(file, `${where} is not an object of name: name`);
  for (const [k, name] of Object.entries(v))
    if (name !== null && typeof name !== 'string') throw badMap(file, `${where}.${k} is not a package name (a string)`);
  return v as NameMap;
}

function badMap(file: string, what: string): UserError {
  return new UserError(`pkg-map ${file}: ${what}`, {
    hint: 'a pkg-map is JSON: {"default": {...}, "family": {"debian": {...}}, "distro": {...}, "release": {"debian": {"bookworm": {...}}}}',
  });
}

/** Parse and check a pkg-map file's text (JSON only, as DIB's pkg-map reads it). */
export function parsePkgMap(text: string, file: string): PkgMap {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw badMap(file, `not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(data)) throw badMap(file, 'is not a JSON object');
  const map: PkgMap = {};
  if (data.default !== undefined) map.default = checkNameMap(data.default, 'default', file);
  for (const key of ['family', 'distro'] as const) {
    const section = data[key];
    if (section === undefined) continue;
    if (!isObject(section)) throw badMap(file, `${key} is not an object`);
    map[key] = Object.fromEntries(Object.entries(section).map(([k, v]) => [k, checkNameMap(v, `${key}.${k}`, file)]));
  }
  if (data.release !== undefined) {
    if (!isObject(data.release)) throw badMap(file, 'release is not an object');
    map.release = {};
    for (const [distro, releases] of Object.entries(data.release)) {
      if (!isObject(releases)) throw badMap(file, `release.${distro} is not an object`);
      map.release[distro] = Object.fromEntries(
        Object.entries(releases).map(([r, v]) => [r, checkNameMap(v, `release.${distro}.${r}`, file)]),
      );
    }
  }
  return map;
}

/** The element's pkg-map (the file `pkg-map` in its directory), or undefined if it has none. */
export function readPkgMap(elementDir: string): PkgMap | undefined {
  const file = join(elementDir, 'pkg-map');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return parsePkgMap(text, file);
}

/** DIB's os_major_release: release "8-stream" counts as "8". */
export function majorRelease(release: string): string {
  return release === '8-stream' ? '8' : release;
}

/** The one name map that holds for this distro and release (the most specific section wins). */
function mergedNameMap(map: PkgMap, target: { distro: string; release: string }): Record<string, string | null> {
  const family = osFamily(target.distro);
  const release = majorRelease(target.release);
  return {
    ...map.default,
    ...(family !== undefined ? map.family?.[family] : undefined),
    ...map.distro?.[target.distro],
    ...map.release?.[target.distro]?.[release],
  };
}

/** The names `names` stand for on this distro and release (`pkg-map --missing-ok`). */
export function mapPackages(map: PkgMap | undefined, names: readonly string[], target: { distro: string; release: string }): string[] {
  if (!map) return [...names];
  const merged = mergedNameMap(map, target);
  const out: string[] = [];
  for (const name of names) {
    if (!Object.hasOwn(merged, name)) out.push(name);
    else {
      const to = merged[name];
      if (to) out.push(...to.split(/\s+/).filter((s) => s !== ''));
    }
  }
  return out;
}
