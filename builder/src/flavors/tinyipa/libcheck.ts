/**
 * Packages are unpacked without running their scripts, and some of what
 * dependency resolution pulls in only serves those scripts, so the flavor
 * drops such packages. This check keeps that honest: every program the agent
 * needs must find all its shared libraries in the tree (or the build fails),
 * and any other program that cannot run is removed rather than shipped
 * broken.
 */
import type { Tree } from '../../tree/tree.js';
import { BuildError } from '../../errors.js';
import { readNeeded } from '../../elf.js';

const LIB_DIRS = ['usr/lib/x86_64-linux-gnu', 'usr/lib', 'usr/lib64'];

export interface LibCheckResult {
  /** Programs removed because a library they need is not in the tree. */
  removed: { path: string; missing: string[] }[];
  checked: number;
}

/**
 * `required`: program names (in usr/bin or usr/sbin) the agent runs.
 * `mounted`: programs the ramdisk mounts from an image at boot (tinyipa's
 * Node), with the host file that goes into the image: their libraries must
 * be in the tree all the same.
 */
export async function checkSharedLibraries(
  tree: Tree,
  required: string[],
  mounted: { path: string; source: string }[] = [],
): Promise<LibCheckResult> {
  const has = (soname: string) => LIB_DIRS.some((d) => tree.has(`${d}/${soname}`));
  const removed: LibCheckResult['removed'] = [];
  const broken = new Map<string, string[]>();
  let checked = 0;
  const problems: string[] = [];
  for (const m of mounted) {
    const missing = ((await readNeeded(m.source)) ?? []).filter((n) => !has(n));
    checked++;
    if (missing.length) problems.push(`${m.path} (needs ${missing.join(', ')})`);
  }
  for (const e of tree.entries()) {
    if (e.type !== 'file' || !e.source || !/^usr\/(s?bin|lib\/x86_64-linux-gnu)\//.test(e.path)) continue;
    const needed = await readNeeded(e.source);
    if (!needed) continue;
    checked++;
    const missing = needed.filter((n) => !has(n));
    if (missing.length) broken.set(e.path, missing);
  }
  const locate = (name: string) => ['usr/sbin', 'usr/bin'].map((d) => `${d}/${name}`).find((p) => tree.has(p));
  const absent = required.filter((r) => !locate(r));
  if (absent.length)
    throw new BuildError(`programs the agent needs are not in the ramdisk: ${absent.join(', ')}`, {
      hint: 'a package providing them was dropped or renamed: check the flavor package list',
    });
  for (const r of required) {
    const e = tree.get(locate(r)!);
    if (e && broken.has(e.path)) problems.push(`${e.path} (needs ${broken.get(e.path)!.join(', ')})`);
  }
  if (problems.length) {
    throw new BuildError(`programs the agent needs cannot run in this ramdisk: ${problems.join('; ')}`, {
      hint: 'add the packages providing those libraries to `packages` in the spec',
    });
  }
  for (const [path, missing] of broken) {
    if (!/^usr\/s?bin\//.test(path)) continue; // a library is harmless unless something loads it
    tree.remove(path);
    removed.push({ path, missing });
  }
  return { removed, checked };
}
