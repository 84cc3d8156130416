/**
 * The kernel: a Debian linux-image-* package, unpacked once per package
 * version into the apt cache, plus the chosen modules staged into the Tree
 * with a depmod index that matches exactly that subset.
 *
 * Debian 12's modules are uncompressed .ko (CONFIG_MODULE_COMPRESS_NONE);
 * newer kernels ship .ko.xz. Either way the files are kept as they are:
 * kmod and the kernel load the format the kernel was built for, and an
 * uncompressed .ko compresses better inside the compressed initramfs.
 */
import { cp, link, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BuildError, UserError } from '../errors.js';
import { run } from '../exec/run.js';
import type { Tree } from '../tree/tree.js';
import type { AptRepo, DownloadedPackage, ResolvedPackage } from './apt.js';
import { withCacheLock } from './cache-lock.js';
import { describeSources } from './sources.js';

// Module selection lives in modules.ts; re-exported so the kernel API is in one place.
export { selectModules, DEFAULT_MODULE_SETS, MODULE_SETS, type ModuleSet } from './modules.js';

export interface Kernel {
  /** The release, as `uname -r` prints it (the lib/modules/<version> name). */
  version: string;
  /** Host path of the kernel image. */
  vmlinuz: string;
  /** Host path of the unpacked lib/modules/<version>/, with a full depmod index. */
  modulesDir: string;
  /** Host path of the kernel's build config (boot/config-<version>), when the package ships it: e.g. to check CONFIG_RD_ZSTD. */
  config?: string;
  package: DownloadedPackage;
}

/** Kernel image packages, not meta packages (linux-image-amd64) nor debug symbols. */
const IMAGE_PACKAGE = /^linux-image-\d.*(?<!-dbg)$/;
const DONE = '.ramforge-complete';

/**
 * Resolve a kernel package (a meta package such as 'linux-image-amd64' or
 * 'linux-image-cloud-amd64', or an exact 'linux-image-6.1.0-NN-amd64'),
 * download it and unpack it into the cache (reused when already unpacked).
 */
export async function fetchKernel(repo: AptRepo, pkg: string): Promise<Kernel> {
  let resolved: ResolvedPackage[];
  try {
    resolved = await repo.resolve([pkg]);
  } catch (e) {
    // Only "no such package" becomes the kernel message; a bad version pin keeps apt's own words.
    if (e instanceof UserError && e.message.startsWith(`package '${pkg.split('=')[0]}'`)) {
      throw new UserError(`kernel package '${pkg}' not found in ${describeSources(repo.sources)}`, {
        hint: 'list the kernel packages with: apt-cache search --names-only ^linux-image  (e.g. linux-image-amd64, linux-image-cloud-amd64)',
        cause: e,
      });
    }
    throw e;
  }
  const images = resolved.filter((p) => IMAGE_PACKAGE.test(p.name));
  const image = images.find((p) => p.name === pkg) ?? (images.length === 1 ? images[0] : undefined);
  if (!image) {
    throw new UserError(
      `package '${pkg}' does not lead to exactly one kernel image (found: ${images.map((p) => p.name).join(', ') || 'none'})`,
      {
        hint: 'name a linux-image-* package; list them with: apt-cache search --names-only ^linux-image',
      },
    );
  }
  const [deb] = await repo.download([image]);
  if (!deb) throw new BuildError(`download of ${image.name} returned nothing`);
  const root = join(await repo.cachePath(), 'kernels', `${deb.name}_${deb.version.replace(/:/g, '%3a')}_${deb.sha256.slice(0, 12)}`);
  // Locked: a parallel build must not replace the directory this one is reading.
  await withCacheLock(await repo.cachePath(), async () => {
    if (!(await exists(join(root, DONE)))) await unpackKernel(deb, root);
  });
  return locateKernel(root, deb);
}

/** Unpack into a temporary sibling, index the modules, then rename into place. */
async function unpackKernel(deb: DownloadedPackage, root: string): Promise<void> {
  await mkdir(dirname(root), { recursive: true });
  const tmp = await mkdtemp(`${root}.tmp-`);
  try {
    await run(['dpkg-deb', '--extract', deb.path, tmp]);
    // The package ships no modules.dep: its postinst would run depmod.
    const { version } = await findModulesDir(tmp, deb);
    await runDepmod(tmp, version);
    await writeFile(join(tmp, DONE), `${deb.name} ${deb.version} ${deb.sha256}\n`);
    await rm(root, { recursive: true, force: true });
    await rename(tmp, root);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

async function locateKernel(root: string, deb: DownloadedPackage): Promise<Kernel> {
  const { modulesDir, version } = await findModulesDir(root, deb);
  const vmlinuz = join(root, 'boot', `vmlinuz-${version}`);
  if (!(await exists(vmlinuz))) {
    throw new BuildError(`${deb.name} ${deb.version} has no boot/vmlinuz-${version}`, {
      hint: 'name a linux-image-* package that contains a kernel (not a -dbg or headers package)',
    });
  }
  const config = join(root, 'boot', `config-${version}`);
  return { version, vmlinuz, modulesDir, package: deb, ...((await exists(config)) ? { config } : {}) };
}

/** lib/modules/<ver> (Debian 12) or usr/lib/modules/<ver> (usr-merged packages). */
async function findModulesDir(root: string, deb: DownloadedPackage): Promise<{ modulesDir: string; version: string }> {
  for (const base of ['usr/lib/modules', 'lib/modules']) {
    const names = await readdir(join(root, base)).catch(() => [] as string[]);
    if (names.length === 1 && names[0]) return { modulesDir: join(root, base, names[0]), version: names[0] };
    if (names.length > 1)
      throw new BuildError(`${deb.name} ships several module trees (${names.join(', ')})`, { hint: 'name the exact kernel image package' });
  }
  throw new BuildError(`${deb.name} ${deb.version} contains no lib/modules/<version>/`, {
    hint: 'name a linux-image-* package that contains a kernel',
  });
}

/**
 * depmod -b <base> looks in <base>/lib/modules with Debian 12's kmod and in
 * <base>/usr/lib/modules with newer ones: give the tree both names (one a
 * symlink to the other) so either kmod finds the modules.
 */
async function runDepmod(base: string, version: string): Promise<void> {
  const hasLib = await exists(join(base, 'lib', 'modules'));
  const hasUsr = await exists(join(base, 'usr', 'lib', 'modules'));
  if (hasUsr && !(await lexists(join(base, 'lib')))) await symlink('usr/lib', join(base, 'lib'));
  if (hasLib && !hasUsr) {
    await mkdir(join(base, 'usr', 'lib'), { recursive: true });
    await symlink('../../lib/modules', join(base, 'usr', 'lib', 'modules'));
  }
  try {
    await run(['depmod', '--basedir', base, version]);
  } catch (e) {
    throw new BuildError(`depmod failed for kernel ${version}`, { hint: 'install kmod (apt-get install -y kmod)', cause: e });
  }
}

/**
 * Copy the chosen modules (paths from selectModules) into the tree at
 * usr/lib/modules/<ver>/ with modules.order/builtin and a depmod index made
 * for exactly this subset (modules.dep, modules.alias and their .bin forms).
 */
export async function addKernelModules(tree: Tree, kernel: Kernel, modules: string[]): Promise<{ count: number; bytes: number }> {
  const stage = await mkdtemp(join(tree.storeDir, 'modules-'));
  try {
    const dir = join(stage, 'usr', 'lib', 'modules', kernel.version);
    await mkdir(dir, { recursive: true });
    let bytes = 0;
    for (const rel of modules) {
      const dest = join(dir, rel);
      await mkdir(dirname(dest), { recursive: true });
      await link(join(kernel.modulesDir, rel), dest).catch(() => cp(join(kernel.modulesDir, rel), dest));
      bytes += (await stat(dest)).size;
    }
    const wanted = new Set(modules);
    const order = await readFile(join(kernel.modulesDir, 'modules.order'), 'utf8').catch(() => '');
    await writeFile(
      join(dir, 'modules.order'),
      order
        .split('\n')
        .filter((l) => wanted.has(l.trim()))
        .map((l) => `${l}\n`)
        .join(''),
    );
    for (const f of ['modules.builtin', 'modules.builtin.modinfo']) {
      await cp(join(kernel.modulesDir, f), join(dir, f)).catch(() => undefined);
    }
    await runDepmod(stage, kernel.version);
    for (const f of await readdir(dir)) if (f.startsWith('modules.')) bytes += (await stat(join(dir, f))).size;
    await tree.mergeDirectory(dir, { layer: `kernel-modules:${kernel.version}`, into: `usr/lib/modules/${kernel.version}` });
    return { count: modules.length, bytes };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function lexists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}
