/**
 * The initramfs as separately compressed members, in boot order:
 *   base    — Debian packages, busybox, kernel modules, the flavor's files
 *   runtime — the pinned Node binary
 *   agent   — the agent bundle
 *   site    — the spec's own layers (config, managers, CA, files)
 * The kernel unpacks them in order into one rootfs. Each member is cached,
 * compressed, under a key computed from its exact content and metadata, so
 * a warm build only compresses what changed (usually the agent and site),
 * and later tools can replace the site member without touching the rest.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildContext } from '../context.js';
import { artifactPath } from '../context.js';
import { InternalError } from '../../errors.js';
import { writeInitramfs as write } from '../../archive/initramfs.js';
import type { Compression } from '../../archive/compress.js';
import type { TreeEntry } from '../../tree/types.js';
import { parentOf } from '../../tree/paths.js';

export const MEMBER_ORDER = ['base', 'runtime', 'agent', 'site'] as const;
export type MemberName = (typeof MEMBER_ORDER)[number];
/** Bumped when the cpio or compression settings change, to invalidate cached members. */
const FORMAT_VERSION = 1;

export function memberOf(e: TreeEntry): MemberName {
  const layer = e.layer ?? '';
  if (layer.startsWith('site:')) return 'site';
  if (layer === 'agent') return 'agent';
  if (layer === 'node-runtime') return 'runtime';
  return 'base';
}

export async function writeInitramfs(ctx: BuildContext): Promise<void> {
  if (!ctx.tree) throw new InternalError('writeInitramfs before assembleRootfs');
  const compression = ctx.spec.compression;
  const epoch = ctx.spec.sourceDateEpoch;
  const cacheDir = ctx.reuseMembers ? join(ctx.cacheDir, 'initramfs-members') : join(ctx.workspace, 'members');
  await mkdir(cacheDir, { recursive: true });
  const files: { name: string; file: string }[] = [];
  for (const [name, entries] of splitMembers(ctx.tree.entries())) {
    if (!entries.length) continue;
    const key = await memberKey(entries, compression, epoch);
    const file = join(cacheDir, `${name}-${key}.cpio.${compression}`);
    if (existsSync(file)) {
      ctx.log(`member ${name}: cached`);
    } else {
      const t0 = performance.now();
      const tmp = `${file}.${process.pid}`;
      try {
        await write(tmp, [{ name, compression, entries }], { epoch });
        await rename(`${tmp}`, file);
      } finally {
        await rm(tmp, { force: true });
      }
      ctx.log(`member ${name}: ${entries.length} entries compressed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    files.push({ name, file });
  }
  const r = await write(artifactPath(ctx, 'initramfs'), files, { epoch });
  ctx.artifacts.push({ kind: 'initramfs', file: `${ctx.spec.name}.initramfs`, size: r.size });
}

/** Entries per member, each with the ancestor directories its paths need (the kernel creates no missing parents). */
export function splitMembers(entries: TreeEntry[]): Map<MemberName, TreeEntry[]> {
  const owner = new Map<string, MemberName>();
  const needs = new Map<MemberName, Set<string>>(MEMBER_ORDER.map((m) => [m, new Set<string>()]));
  for (const e of entries) {
    const m = memberOf(e);
    owner.set(e.path, m);
    if (m === 'base') continue;
    for (let p = parentOf(e.path); p; p = parentOf(p)) needs.get(m)!.add(p);
  }
  const out = new Map<MemberName, TreeEntry[]>(MEMBER_ORDER.map((m) => [m, []]));
  for (const e of entries) {
    const own = owner.get(e.path)!;
    out.get(own)!.push(e);
    if (e.type !== 'dir') continue;
    // A directory also goes into every later member that puts something below it.
    for (const m of MEMBER_ORDER) if (m !== own && needs.get(m)!.has(e.path)) out.get(m)!.push(e);
  }
  return out;
}

/** Everything that ends up in the member's bytes: metadata as packed, and file contents. */
async function memberKey(entries: TreeEntry[], compression: Compression, epoch: number): Promise<string> {
  const h = createHash('sha256');
  h.update(`v${FORMAT_VERSION}\0${compression}\0${epoch}\0`);
  for (const e of entries) {
    h.update(`${e.path}\0${e.type}\0${e.mode}\0${e.uid}\0${e.gid}\0${Math.min(e.mtime, epoch)}\0${e.size ?? ''}\0${e.linkTarget ?? ''}\0${e.rdevMajor ?? ''}:${e.rdevMinor ?? ''}\0`);
    if (e.type !== 'file') continue;
    if (e.data) h.update(e.data);
    else if (e.source) for await (const chunk of createReadStream(e.source, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  }
  return h.digest('hex').slice(0, 32);
}
