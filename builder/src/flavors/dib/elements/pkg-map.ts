/**
 * DIB's `pkg-map` (diskimage_builder/elements/pkg-map/bin/pkg-map), as
 * package-installs uses it (`--missing-ok`): an element's `pkg-map` file
 * (JSON) maps generic names to the distribution's, the most specific
 * section winning: `default` < `family` < `distro` < `release[distro][release]`.
 * A name mapped to an empty value is dropped; a name with no mapping, or an
 * element without a pkg-map file, passes through unchanged. A mapped value
 * holding several names ("a b") gives them all, as install-packages splits
 * its arguments.
 *
 * mergeNameMap is also the merge of the image's pkg-map command
 * (pkg-map-cli.ts), which esbuild bundles with this module and runs in the
 * chroot on the build's Node: keep its imports to Node and errors.ts.
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

/** Where DIB's pkg-map (Python) would stop with an exception: a map of the wrong shape. */
export class PkgMapShapeError extends Error {}

/** A JSON object (not an array, null, or a class instance such as pkg-map-cli's numbers). */
function isDict(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Python's truth value of a plain JSON value. */
function pyTruthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (isDict(v)) return Object.keys(v).length > 0;
  return Boolean(v);
}

/**
 * The one name map that holds for this distro and release, merged as DIB's
 * pkg-map merges a map (JSON, unchecked): `default`, then `family`, `distro`
 * and `release[distro][release]`, each an object whose names replace the
 * earlier ones (the most specific wins). Sections are looked up as Python
 * looks up dict keys (own keys only). A family or distro section that is
 * absent or false-like (`truthy`: Python's truth value, which the caller
 * may extend to its own value types) is skipped; a release section that is
 * absent (no such distro or release, or no release) too.
 *
 * Returns undefined where the `default` section is not an object and
 * nothing was merged into it (DIB stops only once a name is looked up in
 * it); throws PkgMapShapeError where DIB stops with an exception.
 */
export function mergeNameMap<V>(
  map: unknown,
  target: { distro: string; release: string | undefined },
  truthy: (v: unknown) => boolean = pyTruthy,
): Record<string, V> | undefined {
  if (!isDict(map)) throw new PkgMapShapeError('the map is not a JSON object');
  let names: unknown = Object.hasOwn(map, 'default') ? map.default : {};
  const update = (section: unknown, where: string) => {
    if (!isDict(names)) throw new PkgMapShapeError('its "default" section is not a JSON object');
    if (section === '' || (Array.isArray(section) && section.length === 0)) return; // Python's dict.update takes these too
    if (!isDict(section)) throw new PkgMapShapeError(`its ${where} section is not a JSON object`);
    names = { ...names, ...section };
  };
  const family = osFamily(target.distro);
  for (const [key, pick] of [
    ['family', family],
    ['distro', target.distro],
  ] as const) {
    if (!Object.hasOwn(map, key)) continue;
    const section = map[key];
    if (!isDict(section)) throw new PkgMapShapeError(`its "${key}" section is not a JSON object`);
    const chosen = pick !== undefined && Object.hasOwn(section, pick) ? section[pick] : undefined;
    if (truthy(chosen)) update(chosen, `"${key}"."${pick}"`);
  }
  if (Object.hasOwn(map, 'release')) {
    // DIB: map['release'][distro][release], a missing key skipped (a release of None finds none).
    const byDistro = map.release;
    if (!isDict(byDistro)) throw new PkgMapShapeError('its "release" section is not a JSON object');
    if (Object.hasOwn(byDistro, target.distro)) {
      const releases = byDistro[target.distro];
      if (!isDict(releases)) throw new PkgMapShapeError(`its "release"."${target.distro}" section is not a JSON object`);
      const release = target.release === undefined ? undefined : majorRelease(target.release);
      if (release !== undefined && Object.hasOwn(releases, release)) update(releases[release], `"release"."${target.distro}"."${release}"`);
    }
  }
  return isDict(names) ? (names as Record<string, V>) : undefined;
}

/** The names `names` stand for on this distro and release (`pkg-map --missing-ok`). */
export function mapPackages(map: PkgMap | undefined, names: readonly string[], target: { distro: string; release: string }): string[] {
  if (!map) return [...names];
  const merged = mergeNameMap<string | null>(map, target) ?? {}; // parsePkgMap let through objects only
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
