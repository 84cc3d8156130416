/**
 * manifest.json: what went in (resolved spec, packages and versions, Node,
 * kernel, boot loaders) and what came out (sizes, checksums, timings), plus
 * SHA256SUMS for the artifacts. The manifest carries timings, so it is the
 * one file that differs between two otherwise identical builds; it is
 * therefore not listed in SHA256SUMS.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildContext } from '../context.js';
import { sha256File } from '../../debian/apt.js';
import { RAMFORGE_VERSION } from '../../version.js';

export async function writeManifest(ctx: BuildContext): Promise<void> {
  for (const a of ctx.artifacts) a.sha256 ??= await sha256File(join(ctx.staging, a.file));
  const sums = ctx.artifacts.map((a) => `${a.sha256}  ${a.file}\n`).join('');
  await writeFile(join(ctx.staging, 'SHA256SUMS'), sums);
  const manifest = {
    ramforge: RAMFORGE_VERSION,
    name: ctx.spec.name,
    flavor: ctx.spec.flavor,
    spec: ctx.spec,
    kernel: ctx.kernel && { version: ctx.kernel.version, package: ctx.kernel.package.name, packageVersion: ctx.kernel.package.version, modules: ctx.kernel.modules },
    node: ctx.node && { version: ctx.node.version, npmIntegrity: ctx.node.integrity, officialSha256: ctx.node.officialSha256, stripped: ctx.node.stripped, icu: ctx.node.icu, ...(ctx.node.icuTrim ? { icuTrim: ctx.node.icuTrim } : {}), sha256: ctx.node.sha256 },
    agent: ctx.agent && { bytes: ctx.agent.bytes },
    packages: (ctx.packages ?? []).map((p) => ({ name: p.name, version: p.version, arch: p.arch, sha256: p.sha256 })),
    bootloaders: ctx.bootloaders,
    rootfs: ctx.treeStats,
    artifacts: ctx.artifacts.map((a) => ({ kind: a.kind, file: a.file, size: a.size, sha256: a.sha256 })),
    timings: ctx.timings,
  };
  await writeFile(join(ctx.staging, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
}
