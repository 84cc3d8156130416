/**
 * The initramfs from the flavor's members plus `site` (the spec's own
 * layers), in boot order: the kernel unpacks them in order into one
 * rootfs. A tree member is packed as cpio and compressed on its own, and
 * cached under a key computed from its exact content and metadata, so a
 * warm build only compresses what changed (usually the agent and site),
 * and later tools can replace the site member without touching the rest.
 * A verbatim member is appended as it is.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeInitramfs, type InitramfsResult } from '../../archive/initramfs.js';
import type { Compression, MemberMethod } from '../../archive/compress.js';
import { InternalError } from '../../errors.js';
import type { Member, MemberCompression } from '../../flavors/contract.js';
import type { TreeEntry } from '../../tree/types.js';
import { parentOf } from '../../tree/paths.js';

/** The member that carries the spec's own layers (tagged 'site:' by apply-spec-layers.ts). */
export const SITE_MEMBER: Member = { kind: 'tree', name: 'site', select: (e) => (e.layer ?? '').startsWith('site:') };
/** Bumped when the cpio or compression settings change, to invalidate cached members. */
const FORMAT_VERSION = 1;

export interface PackInitramfsArgs {
  /** The flavor's members, in boot order; `site` is appended here. */
  members: Member[];
  entries: TreeEntry[];
  out: string;
  compression: Compression;
  epoch: number;
  /** Where compressed tree members are kept (a cache shared by builds, or a private directory). */
  memberDir: string;
  log: (line: string) => void;
}

export async function packInitramfs(a: PackInitramfsArgs): Promise<InitramfsResult> {
  const members = [...a.members, SITE_MEMBER];
  await mkdir(a.memberDir, { recursive: true });
  const slices = splitTree(a.entries, members);
  const files: { name: string; file: string }[] = [];
  for (const m of members) {
    if (m.kind === 'verbatim') {
      files.push({ name: m.name, file: m.file });
      continue;
    }
    const entries = slices.get(m.name)!;
    if (!entries.length) continue;
    const { compression, level } = memberMethod(m.compression, a.compression);
    const key = await memberKey(entries, compression, a.epoch, level);
    const file = join(a.memberDir, `${m.name}-${key}.cpio.${compression}`);
    if (existsSync(file)) {
      a.log(`member ${m.name}: cached`);
    } else {
      const t0 = performance.now();
      const tmp = `${file}.${process.pid}`;
      try {
        await writeInitramfs(tmp, [{ name: m.name, compression, entries, ...(level !== undefined ? { level } : {}) }], {
          epoch: a.epoch,
        });
        await rename(tmp, file);
      } finally {
        await rm(tmp, { force: true });
      }
      a.log(`member ${m.name}: ${entries.length} entries compressed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    files.push({ name: m.name, file });
  }
  return writeInitramfs(a.out, files, { epoch: a.epoch });
}

/**
 * Entries per tree member: each entry goes to the first member whose
 * `select` claims it, else to the one tree member without `select` (the
 * flavor's catch-all), else to the last tree member (site). Each member also gets the ancestor
 * directories its paths need (the kernel creates no missing parents).
 */
export function splitTree(entries: TreeEntry[], members: Member[]): Map<string, TreeEntry[]> {
  const trees = members.filter((m): m is Extract<Member, { kind: 'tree' }> => m.kind === 'tree');
  const names = new Set<string>();
  for (const m of members) {
    if (names.has(m.name)) throw new InternalError(`two initramfs members are named '${m.name}'`);
    names.add(m.name);
  }
  const catchAll = trees.filter((m) => !m.select);
  if (catchAll.length > 1) throw new InternalError(`initramfs members ${catchAll.map((m) => m.name).join(', ')} all take every entry`);
  // Without a catch-all of the flavor's (a verbatim base), the last member (site) takes the rest.
  const fallback = catchAll[0]?.name ?? trees[trees.length - 1]?.name;
  const claim = (e: TreeEntry): string => {
    for (const m of trees) if (m.select?.(e)) return m.name;
    if (fallback === undefined) throw new InternalError(`tree entry '${e.path}' belongs to no initramfs member`);
    return fallback;
  };
  const owner = new Map<string, string>();
  const needs = new Map<string, Set<string>>(trees.map((m) => [m.name, new Set<string>()]));
  for (const e of entries) {
    const m = claim(e);
    owner.set(e.path, m);
    for (let p = parentOf(e.path); p; p = parentOf(p)) needs.get(m)!.add(p);
  }
  const out = new Map<string, TreeEntry[]>(trees.map((m) => [m.name, []]));
  for (const e of entries) {
    const own = owner.get(e.path)!;
    out.get(own)!.push(e);
    if (e.type !== 'dir') continue;
    // A directory also goes into every other member that puts something below it.
    for (const m of trees) if (m.name !== own && needs.get(m.name)!.has(e.path)) out.get(m.name)!.push(e);
  }
  return out;
}

/** Everything that ends up in the member's bytes: metadata as packed, and file contents. */
async function memberKey(entries: TreeEntry[], compression: MemberMethod, epoch: number, level?: number): Promise<string> {
  const h = createHash('sha256');
  // The default level keeps the key it always had, so existing cached members stay valid.
  h.update(`v${FORMAT_VERSION}\0${compression}\0${epoch}\0${level === undefined ? '' : `level=${level}\0`}`);
  for (const e of entries) {
    h.update(
      `${e.path}\0${e.type}\0${e.mode}\0${e.uid}\0${e.gid}\0${Math.min(e.mtime, epoch)}\0${e.size ?? ''}\0${e.linkTarget ?? ''}\0${e.rdevMajor ?? ''}:${e.rdevMinor ?? ''}\0`,
    );
    if (e.type !== 'file') continue;
    if (e.data) h.update(e.data);
    else if (e.source) for await (const chunk of createReadStream(e.source, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  }
  return h.digest('hex').slice(0, 32);
}

/** How a tree member is compressed: its own choice (MemberCompression) for the spec's method. */
export function memberMethod(own: MemberCompression | undefined, spec: Compression): { compression: MemberMethod; level?: number } {
  if (own === 'none' || spec === 'none') return { compression: 'none' };
  const choice = own?.[spec];
  if (choice === 'lz4') return { compression: 'lz4', level: 9 };
  return choice === undefined ? { compression: spec } : { compression: spec, level: choice };
}
