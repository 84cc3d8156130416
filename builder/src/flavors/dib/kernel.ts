/**
 * The kernel of a dib root: the image from its /boot (the package the
 * elements left installed), and its modules cut to the generic storage and
 * NIC sets (debian/module-sets.ts), re-indexed with depmod.
 */
import { copyFile, readdir, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { BuildError } from '../../errors.js';
import { run } from '../../exec/run.js';
import { DEFAULT_MODULE_SETS, selectModules, type ModuleSet } from '../../debian/modules.js';

/** Module sets a dib ramdisk keeps: tinyipa's defaults plus every NIC driver Debian builds (real hardware). */
export const DIB_MODULE_SETS: ModuleSet[] = [...DEFAULT_MODULE_SETS, 'net-all'];

export interface RootKernel {
  /** A copy of the kernel image outside the root. */
  file: string;
  version: string;
}

/** The one vmlinuz-<version> in <root>/boot, copied to `dir`. */
export async function takeKernel(root: string, dir: string): Promise<RootKernel> {
  const images = (await readdir(join(root, 'boot')).catch(() => [] as string[])).filter((f) => f.startsWith('vmlinuz-')).sort();
  if (images.length !== 1) {
    throw new BuildError(
      images.length ? `the root has ${images.length} kernels in /boot (${images.join(', ')})` : 'the root has no kernel in /boot',
      { hint: 'exactly one linux-image package must be installed; remove the others in an element (package-installs uninstall)' },
    );
  }
  const name = images[0] as string;
  const file = join(dir, name);
  await copyFile(join(root, 'boot', name), file);
  return { file, version: name.slice('vmlinuz-'.length) };
}

/** Delete every module outside `sets`, then depmod the rest. */
export async function cutModules(
  root: string,
  version: string,
  sets: ModuleSet[] = DIB_MODULE_SETS,
): Promise<{ kept: number; removed: number }> {
  const dir = join(root, 'usr/lib/modules', version);
  const keep = new Set(await selectModules(dir, sets));
  let removed = 0;
  for (const file of await walk(join(dir, 'kernel'))) {
    const rel = relative(dir, file);
    if (keep.has(rel)) continue;
    await rm(file);
    removed++;
  }
  await run(['depmod', '-b', root, version]);
  return { kept: keep.size, removed };
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}
