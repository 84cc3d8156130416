/**
 * The merged hook tree (DIB: `generate_hooks` and `copy_hooks_not_overwrite`
 * in diskimage_builder/lib/common-functions), computed as a plan, then
 * applied by one thin function.
 *
 * For every element, in build order:
 * - every subdirectory (or link to one), except `tests` and `__pycache__`,
 *   is merged into the tree's directory of the same name, entry by entry
 *   (its visible entries: DIB lists them with `ls`, so dot-entries at that
 *   level are left out). An entry that another element already put there
 *   as a file is an error naming both elements (DIB: "There is a duplicated
 *   hook in your elements"). Directories merge recursively, files deeper
 *   down are replaced (DIB copies them with `cp -a`): `static/etc/...` of
 *   two elements merge, the later file wins;
 * - every top-level file (or link to one), except `*.pyc`, is copied to the
 *   tree's root; the last element wins (element-deps, pkg-map, ...).
 * Links are copied as links and modes are kept, as `cp -a` does (owners
 * too when run as root: apply sets them only when asked).
 */
import {
  chmodSync,
  copyFileSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../../errors.js';
import { compareBytes } from './run-parts.js';

export type HookOp =
  /** Create a directory (a no-op if it exists). */
  | { op: 'mkdir'; dest: string; element: string; mode: number; uid: number; gid: number }
  /** Copy a regular file, replacing what is there. */
  | { op: 'copy'; src: string; dest: string; element: string; mode: number; uid: number; gid: number }
  /** Create a symbolic link, replacing what is there. */
  | { op: 'symlink'; target: string; dest: string; element: string };

/** dest paths are relative to the hook tree's root ('/'-separated, no leading '/'). */
export type HookPlan = HookOp[];

const SKIPPED_DIRS = new Set(['tests', '__pycache__']);

type Kind = 'dir' | 'file' | 'symlink';

function statFollow(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** Plan the merged hook tree of these elements, in this order. */
export function planHookTree(elements: readonly { name: string; path: string }[]): HookPlan {
  const plan: HookPlan = [];
  /** What is at each dest so far, and which element put it there. */
  const tree = new Map<string, { kind: Kind; element: string }>();

  const put = (element: string, src: string, dest: string, st = lstatSync(src)) => {
    const existing = tree.get(dest);
    if (st.isDirectory()) {
      if (existing && existing.kind !== 'dir')
        throw new UserError(`elements ${existing.element} and ${element} both have ${dest}: a file in one, a directory in the other`, {
          hint: 'rename one of them',
        });
      if (!existing) {
        plan.push({ op: 'mkdir', dest, element, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
        tree.set(dest, { kind: 'dir', element });
      }
      for (const name of readdirSync(src).sort(compareBytes)) put(element, join(src, name), `${dest}/${name}`);
      return;
    }
    if (existing?.kind === 'dir')
      throw new UserError(`elements ${existing.element} and ${element} both have ${dest}: a directory in one, a file in the other`, {
        hint: 'rename one of them',
      });
    if (st.isSymbolicLink()) {
      plan.push({ op: 'symlink', target: readlinkSync(src), dest, element });
      tree.set(dest, { kind: 'symlink', element });
    } else if (st.isFile()) {
      plan.push({ op: 'copy', src, dest, element, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
      tree.set(dest, { kind: 'file', element });
    } else {
      throw new UserError(`element ${element}: ${src} is neither a file, a directory nor a link`, { hint: 'remove it from the element' });
    }
  };

  for (const element of elements) {
    const entries = readdirSync(element.path).sort(compareBytes);
    for (const dirName of entries) {
      const dir = join(element.path, dirName);
      if (SKIPPED_DIRS.has(dirName) || !statFollow(dir)?.isDirectory()) continue;
      const st = statSync(dir);
      if (!tree.has(dirName)) {
        plan.push({ op: 'mkdir', dest: dirName, element: element.name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
        tree.set(dirName, { kind: 'dir', element: element.name });
      } else if (tree.get(dirName)?.kind !== 'dir') {
        const other = tree.get(dirName)?.element;
        throw new UserError(`elements ${other} and ${element.name} both have ${dirName}: a file in one, a directory in the other`, {
          hint: 'rename one of them',
        });
      }
      for (const name of readdirSync(dir).sort(compareBytes)) {
        if (name.startsWith('.')) continue;
        const dest = `${dirName}/${name}`;
        const existing = tree.get(dest);
        if (existing && existing.kind !== 'dir')
          throw new UserError(`duplicated hook ${dest}: in element ${existing.element} and in element ${element.name}`, {
            hint: 'hook names must be unique across all elements of a build (as in DIB): rename one of them',
          });
        put(element.name, join(dir, name), dest);
      }
    }
    for (const name of entries) {
      const src = join(element.path, name);
      if (name.endsWith('.pyc') || !statFollow(src)?.isFile()) continue;
      put(element.name, src, name);
    }
  }
  return plan;
}

/** Carry out a plan into `root` (created if needed). Owners are set only with `owners: true` (root). */
export function applyHookPlan(plan: HookPlan, root: string, opts: { owners?: boolean } = {}): void {
  mkdirSync(root, { recursive: true });
  const dirs: Extract<HookOp, { op: 'mkdir' }>[] = [];
  for (const op of plan) {
    const dest = join(root, op.dest);
    if (op.op === 'mkdir') {
      mkdirSync(dest, { recursive: true });
      dirs.push(op);
      continue;
    }
    const st = (() => {
      try {
        return lstatSync(dest);
      } catch {
        return undefined;
      }
    })();
    if (st) rmSync(dest, { force: true });
    if (op.op === 'symlink') {
      symlinkSync(op.target, dest);
      continue;
    }
    copyFileSync(op.src, dest);
    chmodSync(dest, op.mode);
    if (opts.owners) lchownSync(dest, op.uid, op.gid);
  }
  // Directory modes last, deepest first: a read-only directory must not stop the copies into it.
  for (const op of dirs.reverse()) {
    const dest = join(root, op.dest);
    chmodSync(dest, op.mode);
    if (opts.owners) lchownSync(dest, op.uid, op.gid);
  }
}
