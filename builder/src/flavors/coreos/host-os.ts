/**
 * ramforge's own container host for the coreos flavor (the default when no
 * coreos.base is given), built on the dib flavor's machinery: the Debian
 * base through debian/mmdebstrap.ts (cached by content), the dib element
 * runner with ramforge-ramdisk (/init → systemd, networkd DHCP on every
 * wired NIC, journald cap, the prune list) and this flavor's own element,
 * ramforge-coreos-host (elements/: `core` with passwordless sudo, sshd with
 * host keys made at boot, `sshkey=`, /usr/bin/update-ssh-keys, the
 * cloud-config runner unit), the kernel from /boot and the module cut of
 * dib/kernel.ts. The host carries no Node and none of the agent's tools:
 * the container has them.
 */
import { SYSTEMD_RAMDISK_PACKAGES } from '../agent-packages.js';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tree } from '../../tree/tree.js';
import { extractBase } from '../../debian/mmdebstrap.js';
import { BUILTIN_ELEMENTS_DIR, runElements } from '../dib/elements/runner.js';
import { RUNTIME_DIR } from '../dib/elements/run-phase.js';
import { SHIPPED_ELEMENTS_DIR } from '../dib/index.js';
import { cutModules, DIB_MODULE_SETS, takeKernel } from '../dib/kernel.js';
import { mergeRootTar, packRootDir } from '../dib/root-tree.js';

/**
 * Debian packages of the host (on mmdebstrap's minbase): systemd, udev, the
 * generic kernel (IPMI and every server NIC and HBA; tiny-initramfs
 * satisfies its "an initramfs generator" dependency), sshd, sudo, useradd,
 * pgrep, and pigz to unpack a container.tar.gz (a repacked base; ramforge's own
 * initramfs holds the container unpacked).
 */
export const HOST_PACKAGES = [...SYSTEMD_RAMDISK_PACKAGES, 'sudo', 'passwd', 'procps', 'pigz', 'linux-image-amd64', 'tiny-initramfs'];

/** The elements the host is made of (ramforge-coreos-host depends on ramforge-ramdisk). */
export const HOST_ELEMENTS = ['ramforge-debian', 'ramforge-coreos-host'];
const COREOS_ELEMENTS_DIR = fileURLToPath(new URL('./elements/', import.meta.url)).replace(/\/$/, '');

export interface HostBuild {
  kernel: { file: string; version: string };
  modules: { kept: number; removed: number };
  elements: string[];
}

/** Bump when what buildHostOs makes of the same inputs changes. */
const HOST_CACHE_VERSION = 1;

interface HostOptions {
  baseTarball: string;
  /** The Debian base's content key (debian/mmdebstrap.ts). */
  baseKey: string;
  runner: Buffer;
  release: string;
  name: string;
  console: boolean;
  mtime: number;
  workspace: string;
  cacheDir: string;
  log: (line: string) => void;
  signal: AbortSignal;
}

/**
 * The host root into the tree, and its kernel. The root after the elements
 * and the module cut is cached by content (the base's key, every element
 * and runner script, the cloud-config runner, the options): a warm build
 * merges a tar instead of extracting the base and running the elements.
 */
export async function buildHostOs(tree: Tree, opts: HostOptions): Promise<HostBuild> {
  const key = await hostKey(opts);
  const dir = join(opts.cacheDir, 'coreos-host');
  const tar = join(dir, `${key}.tar`);
  const meta = join(dir, `${key}.json`);
  const vmlinuz = join(dir, `${key}.vmlinuz`);
  if (!(existsSync(tar) && existsSync(meta) && existsSync(vmlinuz))) {
    await mkdir(dir, { recursive: true });
    const built = await buildRoot(opts);
    const tmp = `.${process.pid}`;
    try {
      await packRootDir(built.root, `${tar}${tmp}`);
      await copyFile(built.kernel.file, `${vmlinuz}${tmp}`);
      await writeFile(`${meta}${tmp}`, JSON.stringify({ version: built.kernel.version, modules: built.modules, elements: built.elements }));
      await rename(`${tar}${tmp}`, tar);
      await rename(`${vmlinuz}${tmp}`, vmlinuz);
      await rename(`${meta}${tmp}`, meta);
    } finally {
      await rm(built.root, { recursive: true, force: true });
      for (const f of [tar, vmlinuz, meta]) await rm(`${f}${tmp}`, { force: true });
    }
  } else {
    opts.log(`container host: cached (${key.slice(0, 12)})`);
  }
  const m = JSON.parse(await readFile(meta, 'utf8')) as { version: string; modules: HostBuild['modules']; elements: string[] };
  await mergeRootTar(tree, tar, { mtime: opts.mtime, layer: 'coreos-host' });
  tree.addFile('etc/ramforge-release', Buffer.from(`NAME=${opts.name}\nFLAVOR=coreos\n`), {
    mode: 0o644,
    mtime: opts.mtime,
    layer: 'coreos-host',
  });
  const kernel = join(opts.workspace, `vmlinuz-${m.version}`);
  await mkdir(opts.workspace, { recursive: true });
  await copyFile(vmlinuz, kernel);
  return { kernel: { file: kernel, version: m.version }, modules: m.modules, elements: m.elements };
}

/** Extract the base, run the elements, take the kernel, cut the modules. */
async function buildRoot(opts: HostOptions): Promise<HostBuild & { root: string }> {
  const { workspace, mtime } = opts;
  const root = join(workspace, 'host-root');
  await extractBase(opts.baseTarball, root, opts.signal);
  const runner = join(workspace, 'coreos-cloudinit.mjs');
  await writeFile(runner, opts.runner);
  const ran = await runElements({
    root,
    elements: HOST_ELEMENTS,
    elementsPath: [COREOS_ELEMENTS_DIR, SHIPPED_ELEMENTS_DIR],
    environment: hostEnvironment(opts, runner),
    release: opts.release,
    arch: 'amd64',
    imageName: opts.name,
    workDir: join(workspace, 'host-dib'),
    cacheDir: opts.cacheDir,
    epoch: mtime,
    log: opts.log,
    signal: opts.signal,
  });
  const kernel = await takeKernel(root, workspace);
  const modules = await cutModules(root, kernel.version);
  opts.log(`kernel ${kernel.version}: ${modules.kept} modules kept, ${modules.removed} removed`);
  return { root, kernel, modules, elements: ran.elements };
}

function hostEnvironment(opts: Pick<HostOptions, 'console'>, runner: string): Record<string, string> {
  // CoreOS's hostname until DHCP or the cloud-config names the node (sudo resolves it through /etc/hosts).
  return { RAMFORGE_COREOS_RUNNER: runner, DIB_RAMFORGE_CONSOLE: opts.console ? '1' : '0', DIB_RAMFORGE_HOSTNAME: 'localhost' };
}

/** The cache key of a host root: everything that goes into it. */
async function hostKey(opts: HostOptions): Promise<string> {
  const h = createHash('sha256');
  h.update(
    JSON.stringify({
      v: HOST_CACHE_VERSION,
      base: opts.baseKey,
      release: opts.release,
      name: opts.name,
      epoch: opts.mtime,
      env: hostEnvironment(opts, ''),
      elements: HOST_ELEMENTS,
      modules: DIB_MODULE_SETS,
      runner: createHash('sha256').update(opts.runner).digest('hex'),
    }),
  );
  for (const d of [COREOS_ELEMENTS_DIR, SHIPPED_ELEMENTS_DIR, BUILTIN_ELEMENTS_DIR, RUNTIME_DIR]) {
    h.update('\0dir\0');
    await hashTree(h, d, '');
  }
  return h.digest('hex');
}

/** Paths, modes, contents and link targets of a directory, in a stable order. */
async function hashTree(h: ReturnType<typeof createHash>, dir: string, rel: string): Promise<void> {
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    const full = join(dir, path);
    const st = await lstat(full);
    h.update(`${path}\0${st.mode}\0`);
    if (st.isDirectory()) await hashTree(h, dir, path);
    else if (st.isSymbolicLink()) h.update(await readlink(full));
    else h.update(await readFile(full));
  }
}
