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

/** zstd level of each kept module: 19 saves 1.5 MB of ~18 for 25 s of CPU at every build. */
export const MODULE_ZSTD_LEVEL = 9;
/** Modules compressed at a time by one zstd (two run side by side). */
const MODULE_BATCH = 64;

/**
 * Delete every module outside `sets`, compress the rest one by one with zstd
 * (`name.ko.zst`, when the root's kmod reads zstd), then depmod.
 *
 * Why compress each module: the kernel decompresses the whole initramfs at
 * every boot before /init runs, which under emulation is the slowest part of
 * the kernel's start; modules compressed on their own go into a member the
 * kernel only copies (members.ts), and kmod decompresses just the few it
 * loads. Measured on the generic set (367 modules, 66 MB): the member is
 * 17.9 MB against 14.3 MB for the same modules in the zstd root member.
 */
export async function cutModules(
  root: string,
  version: string,
  sets: ModuleSet[] = DIB_MODULE_SETS,
): Promise<{ kept: number; removed: number; compressed: boolean }> {
  const dir = join(root, 'usr/lib/modules', version);
  const keep = new Set(await selectModules(dir, sets));
  let removed = 0;
  const kept: string[] = [];
  for (const file of await walk(join(dir, 'kernel'))) {
    const rel = relative(dir, file);
    if (keep.has(rel)) {
      if (file.endsWith('.ko')) kept.push(file);
      continue;
    }
    await rm(file);
    removed++;
  }
  const compressed = kept.length > 0 && (await kmodReadsZstd(root));
  if (compressed) await compressModules(kept.sort());
  await run(['depmod', '-b', root, version]);
  return { kept: keep.size, removed, compressed };
}

/** Whether the root's kmod was built with zstd (`kmod --version` lists `+ZSTD`). */
async function kmodReadsZstd(root: string): Promise<boolean> {
  try {
    const { stdout } = await run(['chroot', root, 'kmod', '--version']);
    return /(^|\s)\+ZSTD(\s|$)/.test(stdout);
  } catch {
    return false;
  }
}

/** `file.ko` → `file.ko.zst` (zstd keeps the mode and mtime), two zstd processes side by side. */
async function compressModules(files: string[]): Promise<void> {
  const batches: string[][] = [];
  for (let i = 0; i < files.length; i += MODULE_BATCH) batches.push(files.slice(i, i + MODULE_BATCH));
  const worker = async (): Promise<void> => {
    for (let b = batches.shift(); b; b = batches.shift()) {
      await run(['zstd', '--quiet', '--no-progress', '--rm', '-T1', `-${MODULE_ZSTD_LEVEL}`, '--', ...b]);
    }
  };
  await Promise.all([worker(), worker()]);
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
