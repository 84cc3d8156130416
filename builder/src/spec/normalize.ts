/**
 * Defaults: what a spec means when it says nothing. The defaults themselves
 * are declared in the schema (schema.ts, flavors/<name>/spec.ts) and filled
 * in by TypeBox's Value.Default; what is left here are the few values that
 * change shape (iso: true → {enabled, label, append}, octal modes, paths
 * made absolute) or depend on more than the spec (SOURCE_DATE_EPOCH).
 */
import { Value } from '@sinclair/typebox/value';
import { IsoOptions, WrittenSpecSchema, type WrittenSpec } from './schema.js';
import type { Filled } from './schema-kit.js';
import { DEFAULT_EPOCH, epochFromEnv } from '../defaults.js';
import type { FLAVOR_SECTIONS, FlavorName } from '../flavors/sections.js';
import { isKeyText } from './ssh-keys.js';

// Kept here for the callers that import them from the spec.
export { DEFAULT_EPOCH } from '../defaults.js';
export { DEFAULT_NODE_VERSION } from '../flavors/tinyipa/spec.js';
export type { FlavorName as Flavor } from '../flavors/sections.js';
export type { Compression } from '../archive/compress.js';
export type { ModuleSet } from '../debian/module-sets.js';

type Written = Filled<typeof WrittenSpecSchema>;
type Section<F extends FlavorName> = Filled<(typeof FLAVOR_SECTIONS)[F]>;

export function parseMode(m: number | string | undefined): number | undefined {
  if (m === undefined) return undefined;
  return typeof m === 'number' ? m : parseInt(m, 8);
}

/** The common keys, resolved (the flavor's own section is added by normalizeSpec). */
function normalizeCommon(w: Written, opts: { resolvePath: (p: string) => string; env: NodeJS.ProcessEnv }) {
  const iso = w.iso === false ? undefined : (Value.Default(IsoOptions, w.iso === true ? {} : w.iso) as Filled<typeof IsoOptions>);
  return {
    name: w.name ?? (w.flavor === 'tinyipa' ? 'tinyipa' : `ipa-${w.flavor}`),
    cmdline: w.cmdline,
    agent: {
      config: w.agent.config,
      hardwareManagers: w.agent.hardwareManagers.map(opts.resolvePath),
      caCertificates: w.agent.caCertificates.map(opts.resolvePath),
    },
    /** Key lines or files (absolute) until load.ts reads them: then key lines only. */
    ssh: { authorizedKeys: w.ssh.authorizedKeys.map((k) => (isKeyText(k) ? k : opts.resolvePath(k))) },
    rescue: w.rescue,
    files: w.files.map((f) => ({
      dest: f.dest,
      ...(f.src !== undefined ? { src: opts.resolvePath(f.src) } : {}),
      ...(f.content !== undefined ? { content: f.content } : {}),
      ...(f.mode !== undefined ? { mode: parseMode(f.mode) } : {}),
      uid: f.uid,
      gid: f.gid,
    })),
    directories: w.directories.map((d) => ({
      dest: d.dest,
      ...(d.src !== undefined ? { src: opts.resolvePath(d.src) } : {}),
      ...(d.mode !== undefined ? { mode: parseMode(d.mode) } : {}),
      uid: d.uid,
      gid: d.gid,
    })),
    tarballs: w.tarballs.map((t) => ({ src: opts.resolvePath(t.src), dest: t.dest })),
    console: w.console,
    compression: w.compression,
    iso: {
      enabled: iso !== undefined,
      label: iso?.label ?? IsoOptions.properties.label.default,
      append: iso?.append ?? '',
      secureBoot: iso?.secureBoot ?? IsoOptions.properties.secureBoot.default,
      ...(iso?.signing ? { signing: { key: opts.resolvePath(iso.signing.key), cert: opts.resolvePath(iso.signing.cert) } } : {}),
    },
    sourceDateEpoch: w.sourceDateEpoch ?? epochFromEnv(opts.env) ?? DEFAULT_EPOCH,
  };
}

export type CommonSpec = ReturnType<typeof normalizeCommon>;
/** A spec with every default resolved; paths made absolute against the spec's directory; only the chosen flavor's section. */
export type BuildSpec = { [F in FlavorName]: CommonSpec & { flavor: F } & { [K in F]: Section<K> } }[FlavorName];
/** The resolved spec of one flavor. */
export type FlavorSpec<F extends FlavorName> = Extract<BuildSpec, { flavor: F }>;

export function normalizeSpec(written: WrittenSpec, opts: { resolvePath: (p: string) => string; env?: NodeJS.ProcessEnv }): BuildSpec {
  const raw = structuredClone(written) as Record<string, unknown>;
  const flavor = (raw.flavor ?? 'tinyipa') as FlavorName;
  raw[flavor] ??= {};
  const w = Value.Default(WrittenSpecSchema, raw) as Written;
  const common = normalizeCommon(w, { resolvePath: opts.resolvePath, env: opts.env ?? process.env });
  const section =
    flavor === 'dib' && w.dib
      ? { ...w.dib, elementsPath: w.dib.elementsPath.map(opts.resolvePath) }
      : flavor === 'coreos' && w.coreos
        ? resolveCoreosPaths(w.coreos, opts.resolvePath)
        : w[flavor];
  return { ...common, flavor, [flavor]: section } as BuildSpec;
}

/** The coreos section's host paths, made absolute against the spec's directory. */
function resolveCoreosPaths(c: Section<'coreos'>, resolvePath: (p: string) => string): Section<'coreos'> {
  return {
    ...c,
    ...(c.dockerfile !== undefined ? { dockerfile: resolvePath(c.dockerfile) } : {}),
    ...(c.container !== undefined ? { container: resolvePath(c.container) } : {}),
    ...(c.base ? { base: { kernel: resolvePath(c.base.kernel), initramfs: resolvePath(c.base.initramfs) } } : {}),
    cloudConfig: c.cloudConfig.map(resolvePath),
  };
}
