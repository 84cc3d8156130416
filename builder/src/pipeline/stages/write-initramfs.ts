import type { BuildContext } from '../context.js';
import { artifactPath } from '../context.js';
import { InternalError } from '../../errors.js';
import { writeInitramfs as write } from '../../archive/initramfs.js';
import type { TreeEntry } from '../../tree/types.js';

/**
 * Two members: 'base' (packages, kernel modules, runtime, agent) and 'site'
 * (the spec's own files, agent config, managers, CA). The kernel unpacks
 * members in order into one rootfs, so a later tool can swap the site
 * member without touching the base.
 */
export async function writeInitramfs(ctx: BuildContext): Promise<void> {
  if (!ctx.tree) throw new InternalError('writeInitramfs before assembleRootfs');
  const { base, site } = splitSite(ctx.tree.entries());
  const out = artifactPath(ctx, 'initramfs');
  const compression = ctx.spec.compression;
  const members = [{ name: 'base', compression, entries: base }];
  if (site.length) members.push({ name: 'site', compression, entries: site });
  const r = await write(out, members, { epoch: ctx.spec.sourceDateEpoch });
  ctx.artifacts.push({ kind: 'initramfs', file: `${ctx.spec.name}.initramfs`, size: r.size });
}

/** Site entries plus their ancestor directories (the kernel creates no missing parents). */
export function splitSite(entries: TreeEntry[]): { base: TreeEntry[]; site: TreeEntry[] } {
  const base: TreeEntry[] = [];
  const siteSet = new Set<string>();
  for (const e of entries) {
    if (e.layer?.startsWith('site:')) {
      siteSet.add(e.path);
      for (let p = parentOf(e.path); p; p = parentOf(p)) siteSet.add(p);
    }
  }
  const site: TreeEntry[] = [];
  for (const e of entries) {
    if (e.layer?.startsWith('site:')) site.push(e);
    else {
      base.push(e);
      if (siteSet.has(e.path) && e.type === 'dir') site.push(e);
    }
  }
  return { base, site };
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}
