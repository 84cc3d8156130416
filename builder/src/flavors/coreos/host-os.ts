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
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tree } from '../../tree/tree.js';
import { extractBase } from '../../debian/mmdebstrap.js';
import { runElements } from '../dib/elements/runner.js';
import { SHIPPED_ELEMENTS_DIR } from '../dib/index.js';
import { cutModules, takeKernel } from '../dib/kernel.js';
import { mergeRootDir } from '../dib/root-tree.js';

/**
 * Debian packages of the host (on mmdebstrap's minbase): systemd, udev, the
 * generic kernel (IPMI and every server NIC and HBA; tiny-initramfs
 * satisfies its "an initramfs generator" dependency), sshd, sudo, useradd,
 * pgrep, and pigz to unpack the container.
 */
export const HOST_PACKAGES = [
  'systemd',
  'systemd-sysv',
  'udev',
  'kmod',
  'iproute2',
  'openssh-server',
  'sudo',
  'passwd',
  'procps',
  'pigz',
  'linux-image-amd64',
  'tiny-initramfs',
];

/** The elements the host is made of (ramforge-coreos-host depends on ramforge-ramdisk). */
export const HOST_ELEMENTS = ['ramforge-debian', 'ramforge-coreos-host'];
const COREOS_ELEMENTS_DIR = fileURLToPath(new URL('./elements/', import.meta.url)).replace(/\/$/, '');

export interface HostBuild {
  kernel: { file: string; version: string };
  modules: { kept: number; removed: number };
  elements: string[];
}

/** Build the host root from the Debian base tarball in `workspace`, and merge it into the tree. */
export async function buildHostOs(
  tree: Tree,
  opts: {
    baseTarball: string;
    runner: Buffer;
    release: string;
    name: string;
    console: boolean;
    mtime: number;
    workspace: string;
    cacheDir: string;
    log: (line: string) => void;
    signal: AbortSignal;
  },
): Promise<HostBuild> {
  const { workspace, mtime } = opts;
  const root = join(workspace, 'host-root');
  await extractBase(opts.baseTarball, root, opts.signal);
  const runner = join(workspace, 'coreos-cloudinit.mjs');
  await writeFile(runner, opts.runner);
  const ran = await runElements({
    root,
    elements: HOST_ELEMENTS,
    elementsPath: [COREOS_ELEMENTS_DIR, SHIPPED_ELEMENTS_DIR],
    // CoreOS's hostname until DHCP or the cloud-config names the node (sudo resolves it through /etc/hosts).
    environment: { RAMFORGE_COREOS_RUNNER: runner, DIB_RAMFORGE_CONSOLE: opts.console ? '1' : '0', DIB_RAMFORGE_HOSTNAME: 'localhost' },
    release: opts.release,
    arch: 'amd64',
    imageName: opts.name,
    workDir: join(workspace, 'host-dib'),
    cacheDir: opts.cacheDir,
    epoch: mtime,
    log: opts.log,
    signal: opts.signal,
  });
  for (const f of await readdir(join(root, 'tmp'))) await rm(join(root, 'tmp', f), { recursive: true, force: true });
  await mkdir(workspace, { recursive: true });
  const kernel = await takeKernel(root, workspace);
  const modules = await cutModules(root, kernel.version);
  opts.log(`kernel ${kernel.version}: ${modules.kept} modules kept, ${modules.removed} removed`);
  await mergeRootDir(tree, root, { mtime, layer: 'coreos-host' });
  tree.addFile('etc/ramforge-release', Buffer.from(`NAME=${opts.name}\nFLAVOR=coreos\n`), { mode: 0o644, mtime, layer: 'coreos-host' });
  await rm(root, { recursive: true, force: true });
  return { kernel, modules, elements: ran.elements };
}
