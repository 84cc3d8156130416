/**
 * What the built-in helper elements read from the hook tree, computed here
 * in TypeScript instead of by DIB's host-side Python (package-installs-squash,
 * svc-map's merge) or in-image Python (svc-map): the hook scripts of
 * builtin-elements/ stay plain bash and the image needs no Python. (The
 * pkg-map command reads its JSON maps at run time: helper-runtime.ts.)
 *
 * Everything goes under `<hooks>/ramforge-data/`:
 * - `apt/sources`: `URI SUITE KEYRING` lines for the build's apt (the
 *   host's sources renamed for the build's release, as the base was made:
 *   debian/mmdebstrap.ts sourcesForRelease), `apt/keyrings/*`;
 * - `svc-map/services` (YAML, as DIB writes /usr/share/svc-map/services) and
 *   `svc-map/services.tsv`;
 * - `package-installs/<phase>.install|.uninstall`: install-packages' arguments,
 *   one package a line, already mapped; `<phase>.legacy-install|.legacy-uninstall`
 *   the same from the deprecated `package-installs-<element>` lists.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import YAML from 'yaml';
import { UserError } from '../../../errors.js';
import type { AptSource } from '../../../debian/sources.js';
import { PACKAGE_PHASES, phasePackages, type LegacyList, type Squashed } from './package-installs.js';
import { osFamily, type PkgMap } from './pkg-map.js';
import { parseDibYaml } from './yaml.js';

export const DATA_DIR = 'ramforge-data';

export interface Target {
  distro: string;
  release: string;
}

/** Write apt/sources and apt/keyrings for the OS element's root.d (which writes the build's apt configuration). */
export function writeAptData(hooks: string, sources: readonly AptSource[]): void {
  const dir = join(hooks, DATA_DIR, 'apt');
  mkdirSync(join(dir, 'keyrings'), { recursive: true });
  const lines: string[] = [];
  sources.forEach((s, i) => {
    let keyring = '-';
    const signedBy = s.signedBy?.trim();
    if (signedBy?.includes('BEGIN PGP')) {
      keyring = `source-${i}.asc`;
      writeFileSync(join(dir, 'keyrings', keyring), `${signedBy}\n`);
    } else if (signedBy) {
      const file = signedBy.split(/\s+/)[0] as string;
      keyring = `source-${i}-${basename(file)}`;
      copyFileSync(file, join(dir, 'keyrings', keyring));
    }
    for (const uri of s.uris)
      for (const suite of s.suites) lines.push(`${uri} ${suite} ${keyring}${s.components.length ? '' : ' exact-path'}`);
  });
  writeFileSync(join(dir, 'sources'), lines.join('\n') + '\n');
}

/**
 * DIB's svc-map merge (svc-map/extra-data.d/10-merge-svc-map-files): every
 * element's `svc-map` (YAML: service → {distro|family|default: name}),
 * resolved for the distro; a service named by two elements is an error.
 */
export function mergeSvcMaps(elements: readonly { name: string; path: string }[], distro: string): Record<string, string> {
  const out: Record<string, string> = {};
  const from: Record<string, string> = {};
  const family = osFamily(distro);
  for (const e of elements) {
    const file = join(e.path, 'svc-map');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    let data: unknown;
    try {
      data = parseDibYaml(text);
    } catch (err) {
      throw new UserError(`${file}: not YAML (${(err as Error).message.split('\n')[0]})`, { hint: 'fix the syntax' });
    }
    if (data == null) continue;
    if (typeof data !== 'object' || Array.isArray(data))
      throw new UserError(`${file}: not a map of service names`, { hint: 'write service: {default: name, debian: name}' });
    for (const [service, mapping] of Object.entries(data as Record<string, unknown>)) {
      if (service in out)
        throw new UserError(`svc-map: service ${service} is mapped by elements ${from[service]} and ${e.name}`, {
          hint: 'keep the mapping in one element only (DIB refuses the same)',
        });
      const m = (mapping ?? {}) as Record<string, unknown>;
      const pick = m[distro] ?? (family !== undefined ? m[family] : undefined) ?? m.default ?? service;
      out[service] = String(pick);
      from[service] = e.name;
    }
  }
  return out;
}

export function writeSvcMap(hooks: string, services: Record<string, string>): void {
  const dir = join(hooks, DATA_DIR, 'svc-map');
  mkdirSync(dir, { recursive: true });
  const names = Object.keys(services).sort();
  const sorted = Object.fromEntries(names.map((n) => [n, services[n]]));
  writeFileSync(join(dir, 'services'), names.length ? YAML.stringify(sorted) : '{}\n');
  writeFileSync(join(dir, 'services.tsv'), names.map((n) => `${n}\t${services[n]}\n`).join(''));
}

/** package-installs/<phase>.install|.uninstall: what install-packages gets in each phase. */
export function writePackageInstalls(
  hooks: string,
  squashed: Squashed,
  maps: ReadonlyMap<string, PkgMap | undefined>,
  target: Target,
): Record<string, { install: string[]; uninstall: string[] }> {
  const dir = join(hooks, DATA_DIR, 'package-installs');
  mkdirSync(dir, { recursive: true });
  const out: Record<string, { install: string[]; uninstall: string[] }> = {};
  for (const phase of PACKAGE_PHASES) {
    const install = phasePackages(squashed, phase, 'install', maps, target);
    const uninstall = phasePackages(squashed, phase, 'uninstall', maps, target);
    writeFileSync(join(dir, `${phase}.install`), install.map((p) => `${p}\n`).join(''));
    writeFileSync(join(dir, `${phase}.uninstall`), uninstall.map((p) => `${p}\n`).join(''));
    out[phase] = { install, uninstall };
  }
  return out;
}

/** package-installs/<phase>.legacy-install|.legacy-uninstall: the deprecated lists' packages, per phase (duplicates dropped). */
export function writeLegacyPackageInstalls(hooks: string, lists: readonly LegacyList[]): void {
  const dir = join(hooks, DATA_DIR, 'package-installs');
  mkdirSync(dir, { recursive: true });
  for (const phase of PACKAGE_PHASES)
    for (const kind of ['install', 'uninstall'] as const) {
      const pkgs = new Set(lists.filter((l) => l.phase === phase).flatMap((l) => l[kind]));
      writeFileSync(join(dir, `${phase}.legacy-${kind}`), [...pkgs].map((p) => `${p}\n`).join(''));
    }
}
