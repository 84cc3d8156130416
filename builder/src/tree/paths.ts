/**
 * Path rules of the Tree: normalisation of caller paths, usr-merge
 * canonicalisation, the component-wise sort order and prune globs.
 */

/** Top-level names that a usr-merged root turns into symlinks into usr/. */
export const USR_MERGE_ALIASES: readonly string[] = ['bin', 'sbin', 'lib', 'lib64'];

/** Why a path was refused; the caller turns it into a UserError naming the layer. */
export class PathRejection extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PathRejection';
  }
}

/**
 * Split a caller's path into components. Accepts 'x', '/x', './x'; drops '.'
 * and empty components. '..' is refused, never resolved: resolving it could
 * climb out of a subtree the caller did not mean to touch.
 * With strictRelative, a leading '/' is refused too (tar members).
 */
export function splitTreePath(path: string, strictRelative = false): string[] {
  if (path.includes('\0')) throw new PathRejection(`path '${path}' contains a NUL byte`);
  if (strictRelative && path.startsWith('/')) throw new PathRejection(`absolute path '${path}'`);
  const parts: string[] = [];
  for (const c of path.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw new PathRejection(`'..' component in '${path}'`);
    parts.push(c);
  }
  return parts;
}

/** Normalise to the canonical form ('' for the root). */
export function normalizeTreePath(path: string, strictRelative = false): string {
  return splitTreePath(path, strictRelative).join('/');
}

/** bin/x → usr/bin/x etc. when the first component is a usr-merge alias. */
export function canonicalizeUsrMerge(parts: string[]): string[] {
  const first = parts[0];
  if (first !== undefined && USR_MERGE_ALIASES.includes(first)) return ['usr', ...parts];
  return parts;
}

/** Parent path of a canonical path ('' for top-level entries). */
export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/**
 * Sort key that orders by path components: '/' becomes NUL so that 'a/b'
 * sorts before 'a-b' and every parent precedes its children, and UTF-8 bytes
 * (not UTF-16 units) decide the rest.
 */
export function pathSortKey(path: string): Buffer {
  const b = Buffer.from(path, 'utf8');
  for (let i = 0; i < b.length; i++) if (b[i] === 0x2f) b[i] = 0;
  return b;
}

/** Sort canonical paths component-wise (parents before children). */
export function sortTreePaths(paths: string[]): string[] {
  const keyed = paths.map((p) => ({ p, k: pathSortKey(p) }));
  keyed.sort((a, b) => Buffer.compare(a.k, b.k));
  return keyed.map((x) => x.p);
}

/**
 * Glob → RegExp: '**' spans components, '*' and '?' stay within one.
 * 'usr/share/doc/**' matches everything below usr/share/doc, not the dir itself.
 */
export function globToRegExp(glob: string): RegExp {
  const g = normalizeTreePath(glob);
  let re = '';
  for (let i = 0; i < g.length; i++) {
    const c = g[i] as string;
    if (c === '*') {
      if (g[i + 1] === '*') {
        i++;
        // 'x/**/y' must also match 'x/y': swallow the following '/'.
        if (g[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
