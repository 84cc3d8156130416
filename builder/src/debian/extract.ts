/**
 * Unpack a .deb's data archive into the Tree, the way `dpkg --unpack` would
 * lay the files down, but without dpkg: `dpkg-deb --fsys-tarfile` streams the
 * data member as a plain tar whatever its compression, and the Tree merges it
 * as layer 'deb:<name>'.
 *
 * No maintainer scripts (preinst/postinst) run. Consequences, by design:
 * - no ldconfig cache: not needed while libraries sit in the standard paths
 *   (usr/lib/x86_64-linux-gnu), which the dynamic loader searches anyway;
 * - no update-alternatives: /etc/alternatives links (awk, editor, iptables...)
 *   are missing; a flavor that needs one adds the symlink itself;
 * - no users/groups from adduser, no systemd unit enabling, no generated
 *   config (e.g. /etc/machine-id, ssh host keys): the flavor provides them;
 * - no dpkg status database: the ramdisk cannot install further packages;
 * - no compiled udev hwdb (udev's postinst runs `systemd-hwdb update`): the
 *   9 MB of usr/lib/udev/hwdb.d sources are dead weight unless the flavor
 *   compiles them (systemd-hwdb --root) or prunes them; udev works without,
 *   minus ID_VENDOR_FROM_DATABASE-style names.
 */
import { PassThrough } from 'node:stream';
import { BuildError, ProcessError } from '../errors.js';
import { run } from '../exec/run.js';
import { globToRegExp, parentOf } from '../tree/paths.js';
import type { Tree } from '../tree/tree.js';
import type { DownloadedPackage } from './apt-parse.js';

/**
 * What a ramdisk does not need from packages: documentation, manuals,
 * translations, bug-reporting and lint metadata. Paths are canonical tree
 * paths (usr-merged).
 */
export const DEFAULT_PRUNE: readonly string[] = [
  'usr/share/doc/**',
  'usr/share/doc-base/**',
  'usr/share/man/**',
  'usr/share/info/**',
  'usr/share/locale/**',
  'usr/share/i18n/**',
  'usr/lib/locale/**',
  'usr/share/lintian/**',
  'usr/share/bug/**',
  'usr/share/bash-completion/**',
  'usr/share/zsh/**',
  'usr/share/fish/**',
  'usr/share/menu/**',
  'usr/share/gtk-doc/**',
  'usr/share/help/**',
  'usr/share/pixmaps/**',
  'usr/share/applications/**',
];

/**
 * Kept even though DEFAULT_PRUNE matches: the C.UTF-8 locale (what our
 * tools run under) and each package's copyright file (the licence notice
 * that must travel with the binaries; a few KiB in all).
 */
export const DEFAULT_PRUNE_KEEP: readonly string[] = ['usr/lib/locale/C.utf8/**', 'usr/lib/locale/C.UTF-8/**', 'usr/share/doc/*/copyright'];

export interface ExtractOptions {
  /** Globs (tree paths) not to keep from this package. Default: none; pass DEFAULT_PRUNE for a ramdisk. */
  exclude?: readonly string[];
  /** Globs kept although `exclude` matches. Default DEFAULT_PRUNE_KEEP. */
  keep?: readonly string[];
}

/** Merge a downloaded package's files into the tree as layer 'deb:<name>'. */
export async function extractDeb(tree: Tree, deb: DownloadedPackage, opts: ExtractOptions = {}): Promise<void> {
  const layer = `deb:${deb.name}`;
  const tar = new PassThrough();
  const stop = new AbortController();
  // If merging fails (a rejected entry, a full disk), stop dpkg-deb too: it
  // would otherwise block forever writing into a pipe nobody reads.
  const merging = tree.mergeTar(tar, { layer }).catch((e: unknown) => {
    stop.abort();
    throw e;
  });
  merging.catch(() => undefined); // observed below; never an unhandled rejection
  try {
    await run(['dpkg-deb', '--fsys-tarfile', deb.path], { stdout: tar, signal: stop.signal });
    tar.end();
  } catch (e) {
    // Was dpkg-deb stopped because the merge failed? Then the merge's error is the news.
    const mergeFailedFirst = stop.signal.aborted;
    tar.destroy(e as Error);
    const mergeError = await merging.then(
      () => undefined,
      (m: unknown) => m,
    );
    if (mergeFailedFirst && mergeError) throw mergeError;
    const why = e instanceof ProcessError ? e.stderrTail.trim() || e.shortMessage : String(e);
    throw new BuildError(`cannot unpack ${deb.path} (${deb.name} ${deb.version}): ${why}`, {
      hint: 'the cached .deb may be damaged: delete it and build again (it is downloaded anew)',
      cause: e,
    });
  }
  await merging;
  if (opts.exclude?.length) pruneLayer(tree, layer, opts.exclude, opts.keep ?? DEFAULT_PRUNE_KEEP);
}

/**
 * Remove this layer's entries matching `exclude` (except `keep` and the
 * directories above kept paths). Only the layer's own entries are touched,
 * so files another layer put under e.g. usr/share/doc survive.
 */
export function pruneLayer(tree: Tree, layer: string, exclude: readonly string[], keep: readonly string[] = []): number {
  const ex = exclude.map(globToRegExp);
  const kp = keep.map(globToRegExp);
  const all = tree.entries();
  const protect = new Set<string>();
  for (const e of all) {
    if (!kp.some((r) => r.test(e.path))) continue;
    for (let q = e.path; q !== ''; q = parentOf(q)) protect.add(q);
  }
  const children = new Map<string, number>();
  for (const e of all) children.set(parentOf(e.path), (children.get(parentOf(e.path)) ?? 0) + 1);
  let removed = 0;
  // Deepest first, so a directory is looked at after its children went.
  for (const e of all.reverse()) {
    if (e.layer !== layer || protect.has(e.path) || !ex.some((r) => r.test(e.path))) continue;
    if (e.type === 'dir' && (children.get(e.path) ?? 0) > 0) continue; // holds another layer's files
    tree.remove(e.path);
    children.set(parentOf(e.path), (children.get(parentOf(e.path)) ?? 1) - 1);
    removed++;
  }
  return removed;
}
