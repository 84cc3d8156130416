/**
 * manifest.json: what went in (resolved spec, the flavor's facts: packages
 * and versions, runtimes; kernel, boot loaders) and what came out (sizes,
 * checksums, timings), plus SHA256SUMS for the artifacts. The manifest
 * carries timings, so it is the one file that differs between two
 * otherwise identical builds; it is therefore not listed in SHA256SUMS.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Artifact } from '../context.js';
import type { Assembly } from '../../flavors/contract.js';
import type { BuildSpec } from '../../spec/normalize.js';
import { sha256File } from '../../debian/apt.js';
import { RAMFORGE_VERSION } from '../../version.js';
import { readBootloaderVersions } from '../../outputs/iso-tools.js';

/**
 * The host packages whose programs write bytes of the artifacts (the ISO's
 * filesystem and ESP, the UKI's PE sections and signatures, the
 * initramfs' compressed members), recorded with their versions so a
 * rebuild elsewhere can tell whether a byte difference comes from a tool.
 * Only those installed are listed; gzip is Node's zlib (\`node.zlib\`).
 */
export const ARTIFACT_TOOL_PACKAGES: readonly string[] = [
  'binutils',
  'dosfstools',
  'libfaketime',
  'lz4',
  'mtools',
  'sbsigntool',
  'systemd-boot-efi',
  'xorriso',
  'xz-utils',
  'zstd',
];

async function artifactTools(): Promise<Record<string, string>> {
  const all = await readBootloaderVersions(ARTIFACT_TOOL_PACKAGES);
  const tools: Record<string, string> = {};
  for (const [pkg, version] of Object.entries(all)) if (version !== 'unknown') tools[pkg] = version;
  return { ...tools, node: process.versions.node, 'node.zlib': process.versions.zlib ?? 'unknown' };
}

export interface ManifestArgs {
  spec: BuildSpec;
  /** The flavor that built it (the spec's, unless build() was given another). */
  flavor: string;
  staging: string;
  assembly: Assembly;
  rootfs: { files: number; dirs: number; bytes: number };
  members: { name: string; offset: number; size: number }[];
  bootloaders: Record<string, string>;
  hostInstalled: string[];
  artifacts: Artifact[];
  timings: Record<string, number>;
}

export async function writeManifest(a: ManifestArgs): Promise<void> {
  for (const x of a.artifacts) x.sha256 ??= await sha256File(join(a.staging, x.file));
  const sums = a.artifacts.map((x) => `${x.sha256}  ${x.file}\n`).join('');
  await writeFile(join(a.staging, 'SHA256SUMS'), sums);
  const { kernel: kernelFacts, ...facts } = a.assembly.facts;
  const manifest = {
    ramforge: RAMFORGE_VERSION,
    name: a.spec.name,
    flavor: a.flavor,
    spec: a.spec,
    kernel: { version: a.assembly.kernel.version, ...(kernelFacts as Record<string, unknown> | undefined) },
    ...facts,
    bootloaders: a.bootloaders,
    hostTools: await artifactTools(),
    rootfs: a.rootfs,
    initramfsMembers: a.members,
    hostInstalled: a.hostInstalled,
    artifacts: a.artifacts.map((x) => ({ kind: x.kind, file: x.file, size: x.size, sha256: x.sha256 })),
    timings: a.timings,
  };
  await writeFile(join(a.staging, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
}
