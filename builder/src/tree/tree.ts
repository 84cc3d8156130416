/**
 * The one assembled tree: metadata in memory, large contents on disk under
 * storeDir. Every write goes through the same path rules, so nothing a layer
 * adds can land outside the root, whatever the order of its entries.
 */
import { lstatSync, mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { UserError } from '../errors.js';
import { canonicalizeUsrMerge, globToRegExp, parentOf, PathRejection, sortTreePaths, splitTreePath, USR_MERGE_ALIASES } from './paths.js';
import { mergeTarInto } from './merge-tar.js';
import { mergeDirectoryInto, type MergeDirectoryOptions } from './merge-directory.js';
import type { EntryAttrs, TreeEntry } from './types.js';

export interface TreeOptions {
  /** Directory for file contents that must outlive their source (tar members, copied files). */
  storeDir: string;
  /** Debian-style merged /usr: bin, sbin, lib, lib64 are symlinks into usr/. Default true. */
  usrMerge?: boolean;
}

export interface MergeOptions {
  /** Layer name, recorded on entries and named in errors. */
  layer: string;
  /** Tree path the layer is merged under (default: the root). */
  into?: string;
  /**
   * Called with each member's tree path and tar type before it is merged;
   * false skips the member (e.g. OCI whiteouts, which act on the tree instead).
   */
  intercept?: (path: string, type: string) => boolean;
}

export interface PruneOptions {
  /** Globs kept even when a prune pattern matches (e.g. a copyright-file glob under usr/share/doc). */
  keep?: string[];
}

const DEFAULT_MODE = { dir: 0o755, file: 0o644, symlink: 0o777, special: 0o644 } as const;

/**
 * Paths given to every method may be 'x', '/x' or './x'; with usrMerge,
 * bin/sbin/lib/lib64 paths land under usr/. Later writes replace earlier
 * ones; a directory over a directory only updates its attributes.
 */
export class Tree {
  readonly storeDir: string;
  readonly usrMerge: boolean;
  readonly #entries = new Map<string, TreeEntry>();
  /** Directory path ('' = root) → full paths of its children. */
  readonly #children = new Map<string, Set<string>>([['', new Set()]]);
  /** File path → paths of the hard links to it. */
  readonly #links = new Map<string, Set<string>>();
  #storeSeq = 0;

  constructor(opts: TreeOptions) {
    mkdirSync(opts.storeDir, { recursive: true });
    // A private subdirectory: two trees may share one storeDir without clobbering each other.
    this.storeDir = mkdtempSync(join(opts.storeDir, 'tree-'));
    this.usrMerge = opts.usrMerge ?? true;
    if (this.usrMerge) {
      for (const a of USR_MERGE_ALIASES) {
        this.addDir(`usr/${a}`, { layer: 'usr-merge' });
        this.#put({ path: a, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, linkTarget: `usr/${a}`, layer: 'usr-merge' });
      }
    }
  }

  /** Canonical tree path of a caller path, or a UserError naming the layer. */
  resolve(path: string, layer = 'api', strictRelative = false): string {
    try {
      let parts = splitTreePath(path, strictRelative);
      if (this.usrMerge) parts = canonicalizeUsrMerge(parts);
      return parts.join('/');
    } catch (e) {
      throw this.#reject(layer, path, e);
    }
  }

  addDir(path: string, attrs: EntryAttrs = {}): void {
    this.#put(this.#base(this.resolve(path, attrs.layer), 'dir', DEFAULT_MODE.dir, attrs), path);
  }

  /**
   * content: inline bytes, or a host file referenced in place (no copy: the
   * caller keeps it until the tree is packed; it must be a regular file, a
   * symlink there is refused, never followed).
   */
  addFile(path: string, content: Buffer | { source: string; size?: number }, attrs: EntryAttrs = {}): void {
    const e = this.#base(this.resolve(path, attrs.layer), 'file', DEFAULT_MODE.file, attrs);
    if (Buffer.isBuffer(content)) {
      e.data = content;
      e.size = content.length;
    } else {
      let size = content.size;
      if (size === undefined) {
        const st = lstatSync(content.source);
        if (!st.isFile())
          throw new UserError(`layer '${e.layer ?? 'api'}': '${content.source}' (for '${path}') is not a regular file`, {
            hint: 'add symlinks with addSymlink and directories with addDir',
          });
        size = st.size;
      }
      e.source = content.source;
      e.size = size;
    }
    this.#put(e, path);
  }

  addSymlink(path: string, target: string, attrs: EntryAttrs = {}): void {
    let raw: string[];
    try {
      raw = splitTreePath(path);
    } catch (e) {
      throw this.#reject(attrs.layer ?? 'api', path, e);
    }
    // A layer re-creating the usr-merge alias itself (e.g. usrmerge's bin → usr/bin) is a no-op.
    if (this.usrMerge && raw.length === 1 && USR_MERGE_ALIASES.includes(raw[0] as string)) {
      if (target.replace(/^\/+/, '').replace(/\/+$/, '') === `usr/${raw[0]}`) return;
      throw this.#reject(
        attrs.layer ?? 'api',
        path,
        new PathRejection(`symlink '${path}' → '${target}' conflicts with the usr-merge alias ${raw[0]} → usr/${raw[0]}`),
      );
    }
    const e = this.#base(this.resolve(path, attrs.layer), 'symlink', DEFAULT_MODE.symlink, attrs);
    e.linkTarget = target;
    this.#put(e, path);
  }

  addHardlink(path: string, targetPath: string, attrs: EntryAttrs = {}): void {
    const p = this.resolve(path, attrs.layer);
    const t = this.resolve(targetPath, attrs.layer);
    const target = this.#entries.get(t);
    if (target?.type === 'symlink') {
      // GNU tar can hard-link a symlink; an equal symlink is the portable equivalent.
      this.addSymlink(path, target.linkTarget ?? '', {
        mode: target.mode,
        uid: target.uid,
        gid: target.gid,
        mtime: target.mtime,
        ...attrs,
      });
      return;
    }
    const file = target?.type === 'hardlink' ? this.#entries.get(target.linkTarget as string) : target;
    if (!file || file.type !== 'file') {
      throw this.#reject(
        attrs.layer ?? 'api',
        path,
        new PathRejection(`hard link target '${targetPath}' is not a regular file in the tree (add the file before its links)`),
      );
    }
    if (file.path === p) return;
    const e = this.#base(p, 'hardlink', file.mode, { mode: file.mode, uid: file.uid, gid: file.gid, mtime: file.mtime, ...attrs });
    e.linkTarget = file.path;
    this.#put(e, path);
  }

  addDevice(path: string, kind: 'char' | 'block', major: number, minor: number, attrs: EntryAttrs = {}): void {
    const e = this.#base(this.resolve(path, attrs.layer), kind, DEFAULT_MODE.special, attrs);
    e.rdevMajor = major;
    e.rdevMinor = minor;
    this.#put(e, path);
  }

  addFifo(path: string, attrs: EntryAttrs = {}): void {
    this.#put(this.#base(this.resolve(path, attrs.layer), 'fifo', DEFAULT_MODE.special, attrs), path);
  }

  /** Merge a tar stream (uncompressed); see merge-tar.ts for the rules. */
  mergeTar(input: Readable, opts: MergeOptions): Promise<void> {
    return mergeTarInto(this, input, opts);
  }

  /** Merge a host directory; host symlinks are recorded, never followed. */
  mergeDirectory(hostDir: string, opts: MergeDirectoryOptions): Promise<void> {
    return mergeDirectoryInto(this, hostDir, opts);
  }

  /** A fresh path under the store for content that must be kept. */
  allocateStorePath(): string {
    return join(this.storeDir, String(++this.#storeSeq));
  }

  /** Remove a path and everything below it (missing paths are ignored). */
  remove(path: string): void {
    const p = this.resolve(path);
    if (p === '') throw new UserError('refusing to remove the tree root', { hint: 'remove its children instead' });
    const e = this.#entries.get(p);
    if (!e) return;
    for (const child of [...(this.#children.get(p) ?? [])]) this.remove(child);
    this.#detach(e);
  }

  /** Remove everything matching the globs, except paths matching opts.keep (and their parents). */
  prune(patterns: string[], opts: PruneOptions = {}): number {
    const res = patterns.map(globToRegExp);
    const keeps = (opts.keep ?? []).map(globToRegExp);
    const protect = new Set<string>();
    // Ancestors of kept paths are protected too, so a matched directory holding a kept file survives.
    for (const p of this.#entries.keys()) {
      if (!keeps.some((r) => r.test(p))) continue;
      for (let q = p; q !== ''; q = parentOf(q)) protect.add(q);
    }
    let removed = 0;
    for (const p of sortTreePaths([...this.#entries.keys()])) {
      if (protect.has(p) || !this.#entries.has(p) || !res.some((r) => r.test(p))) continue;
      this.remove(p);
      removed++;
    }
    return removed;
  }

  get(path: string): TreeEntry | undefined {
    return this.#entries.get(this.resolve(path));
  }

  has(path: string): boolean {
    return this.#entries.has(this.resolve(path));
  }

  /** Every entry, parents before children, ordered by path components (byte order). */
  entries(): TreeEntry[] {
    return sortTreePaths([...this.#entries.keys()]).map((p) => this.#entries.get(p) as TreeEntry);
  }

  stats(): { files: number; dirs: number; bytes: number } {
    let files = 0;
    let dirs = 0;
    let bytes = 0;
    for (const e of this.#entries.values()) {
      if (e.type === 'file') {
        files++;
        bytes += e.size ?? 0;
      } else if (e.type === 'dir') dirs++;
    }
    return { files, dirs, bytes };
  }

  #base(path: string, type: TreeEntry['type'], mode: number, attrs: EntryAttrs): TreeEntry {
    const e: TreeEntry = {
      path,
      type,
      mode: (attrs.mode ?? mode) & 0o7777,
      uid: attrs.uid ?? 0,
      gid: attrs.gid ?? 0,
      mtime: attrs.mtime ?? 0,
    };
    if (attrs.layer !== undefined) e.layer = attrs.layer;
    return e;
  }

  #reject(layer: string, path: string, cause: unknown): UserError {
    if (cause instanceof UserError) return cause;
    const why = cause instanceof Error ? cause.message : String(cause);
    return new UserError(`layer '${layer}': entry '${path}' rejected: ${why}`, {
      hint: 'nothing may be written outside the tree root or through a symlink; fix the layer or remove the offending entry',
      cause,
    });
  }

  /** Create missing parents; refuse parents that are symlinks or non-directories. */
  #ensureParents(path: string, layer: string | undefined, original: string): void {
    const parts = path.split('/');
    let prefix = '';
    for (let i = 0; i < parts.length - 1; i++) {
      prefix = prefix ? `${prefix}/${parts[i]}` : (parts[i] as string);
      const p = this.#entries.get(prefix);
      if (!p) {
        this.#put(this.#base(prefix, 'dir', DEFAULT_MODE.dir, layer === undefined ? {} : { layer }));
      } else if (p.type === 'symlink') {
        throw this.#reject(
          layer ?? 'api',
          original,
          new PathRejection(`its parent '${prefix}' is a symlink (→ '${p.linkTarget}'), writing through it could escape the root`),
        );
      } else if (p.type !== 'dir') {
        throw this.#reject(layer ?? 'api', original, new PathRejection(`its parent '${prefix}' is a ${p.type}, not a directory`));
      }
    }
  }

  #put(e: TreeEntry, original = e.path): void {
    if (e.path === '') {
      if (e.type === 'dir') return; // the root is implicit: './' in tarballs
      throw this.#reject(e.layer ?? 'api', original, new PathRejection('only a directory can stand at the root'));
    }
    this.#ensureParents(e.path, e.layer, original);
    const old = this.#entries.get(e.path);
    if (old) {
      if (old.type === 'dir' && e.type === 'dir') {
        Object.assign(old, { mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, layer: e.layer });
        return;
      }
      if (old.type === 'dir' && (this.#children.get(old.path)?.size ?? 0) > 0) {
        throw this.#reject(
          e.layer ?? 'api',
          original,
          new PathRejection(`a ${e.type} cannot replace the non-empty directory '${old.path}'`),
        );
      }
      if (e.type === 'hardlink' && e.linkTarget === old.path) return;
      this.#detach(old);
    }
    this.#entries.set(e.path, e);
    this.#children.get(parentOf(e.path))?.add(e.path);
    if (e.type === 'dir') this.#children.set(e.path, new Set());
    if (e.type === 'hardlink') {
      const t = e.linkTarget as string;
      let set = this.#links.get(t);
      if (!set) this.#links.set(t, (set = new Set()));
      set.add(e.path);
    }
  }

  /** Drop one entry; a removed file's first hard link inherits its content. */
  #detach(e: TreeEntry): void {
    this.#entries.delete(e.path);
    this.#children.get(parentOf(e.path))?.delete(e.path);
    this.#children.delete(e.path);
    if (e.type === 'hardlink') this.#links.get(e.linkTarget as string)?.delete(e.path);
    if (e.type !== 'file') return;
    const links = this.#links.get(e.path);
    this.#links.delete(e.path);
    if (!links || links.size === 0) return;
    const [heir, ...rest] = sortTreePaths([...links]);
    const h = this.#entries.get(heir as string) as TreeEntry;
    h.type = 'file';
    delete h.linkTarget;
    for (const k of ['size', 'source', 'data'] as const) if (e[k] !== undefined) Object.assign(h, { [k]: e[k] });
    for (const r of rest) (this.#entries.get(r) as TreeEntry).linkTarget = h.path;
    if (rest.length) this.#links.set(h.path, new Set(rest));
  }
}
