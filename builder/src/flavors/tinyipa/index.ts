/**
 * tinyipa: the smallest ramdisk that runs the agent. busybox (init, shell,
 * udhcpc, mdev, modprobe), glibc and the few libraries the pinned Node and
 * the disk tools need, the agent as one file, kernel modules for common
 * NICs and storage. No systemd, no udev, no package manager.
 */
import { chmod, copyFile, readdir, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join, relative } from 'node:path';
import type { BuildContext } from '../../pipeline/context.js';
import type { BuildSpec } from '../../spec/normalize.js';
import type { Tree } from '../../tree/tree.js';
import type { Flavor } from '../registry.js';
import { InternalError } from '../../errors.js';
import { run } from '../../exec/run.js';
import { DEFAULT_PRUNE, extractDeb } from '../../debian/extract.js';
import { addKernelModules } from '../../debian/kernel.js';
import { selectModules } from '../../debian/modules.js';
import { RAMFORGE_VERSION } from '../../version.js';
import { checkSharedLibraries } from './libcheck.js';

/** What the agent calls (see agent/src and docs/ramdisk-tools.md): lsblk/blkid/wipefs, mount, sgdisk/parted, mkfs, dmidecode, qemu-img, ipmitool, hdparm, nvme, efibootmgr. */
export const TINYIPA_PACKAGES = [
  'busybox-static',
  'libc6', 'libstdc++6', 'libgcc-s1', // the Node runtime's shared libraries
  // mount: util-linux's mount probes the filesystem type (busybox's only tries types already in /proc/filesystems, so an ESP fails while vfat is not loaded).
  'util-linux', 'mount', 'gdisk', 'parted', 'dosfstools', 'e2fsprogs',
  'dmidecode', 'qemu-utils', 'ipmitool', 'hdparm', 'nvme-cli', 'efibootmgr',
];

/**
 * Dependencies that only maintainer scripts or login tools use (besides
 * apt.ts SCRIPT_ONLY_PACKAGES): resolved as if installed, so neither they
 * nor their own dependencies (perl via usrmerge: ~50 MB) are shipped.
 * libcheck.ts proves the programs the agent needs still run.
 */
export const TINYIPA_DROP = [
  'passwd', 'tar', 'lsb-base', 'sysvinit-utils', 'readline-common', 'uuid-runtime', 'usr-is-merged',
  'libsemanage2', 'libsemanage-common', 'libsepol2', 'libpam-modules', 'libpam-modules-bin', 'libdb5.3',
];

/** Programs the agent runs; the build fails if any of them could not run. */
export const AGENT_TOOLS = [
  'node', 'busybox', 'lsblk', 'blkid', 'wipefs', 'blockdev', 'mount', 'umount', 'prlimit', 'sgdisk', 'parted', 'mkfs.vfat', 'mke2fs', 'mkswap', 'dmidecode',
  'qemu-img', 'ipmitool', 'hdparm', 'nvme', 'efibootmgr', 'lscpu', 'partprobe',
];

/** Beyond DEFAULT_PRUNE: data the ramdisk never reads. */
const TINYIPA_PRUNE = [
  'usr/lib/x86_64-linux-gnu/gconv/**', // iconv modules: nothing here converts legacy charsets
  'usr/share/misc/enterprise-numbers.txt', // ipmitool's IANA vendor names (4.7 MB), only for display
  'usr/lib/systemd/**', 'usr/lib/udev/**', 'usr/share/polkit-1/**', 'etc/systemd/**', 'etc/init.d/**',
  // Programs of the shipped packages that the agent never runs (qemu-img stays).
  'usr/bin/qemu-nbd', 'usr/bin/qemu-io', 'usr/bin/qemu-storage-daemon', 'usr/sbin/ipmievd', 'usr/sbin/debugfs',
  'usr/sbin/e2freefrag', 'usr/sbin/e4crypt', 'usr/sbin/e4defrag', 'usr/sbin/filefrag', 'usr/sbin/mklost+found',
];

const ROOTFS_DIR = fileURLToPath(new URL('./rootfs/', import.meta.url));
const SECRET_FILES = new Set(['etc/shadow']);

export const tinyipa: Flavor = {
  name: 'tinyipa',
  packages: (_spec: BuildSpec) => TINYIPA_PACKAGES,
  dropPackages: (_spec: BuildSpec) => TINYIPA_DROP,
  async assemble(ctx: BuildContext, tree: Tree): Promise<void> {
    const { spec } = ctx;
    const mtime = spec.sourceDateEpoch;
    if (!ctx.packages || !ctx.kernel || !ctx.node || !ctx.agent) throw new InternalError('tinyipa.assemble before its inputs were fetched');

    for (const pkg of ctx.packages) await extractDeb(tree, pkg, { exclude: DEFAULT_PRUNE });
    tree.prune(TINYIPA_PRUNE);
    await addBusyboxApplets(tree, ctx.workspace);

    const modules = await selectModules(ctx.kernel.modulesDir, spec.kernel.modules, spec.kernel.extraModules);
    ctx.kernel.modules = await addKernelModules(tree, ctx.kernel, modules);

    tree.addFile('usr/bin/node', { source: ctx.node.binary }, { mode: 0o755, mtime, layer: 'node-runtime' });
    tree.addFile('usr/lib/ramforge-agent/agent.mjs', ctx.agent.code, { mode: 0o644, mtime, layer: 'agent' });
    tree.addSymlink('usr/bin/ironic-python-agent', '/usr/sbin/ramforge-agent', { mtime, layer: 'agent' });
    const libs = await checkSharedLibraries(tree, AGENT_TOOLS);
    for (const r of libs.removed) ctx.log(`removed ${r.path}: it needs ${r.missing.join(', ')}, which no shipped package provides`);

    for (const d of ['proc', 'sys', 'dev', 'run', 'tmp', 'root', 'var/log', 'var/tmp', 'mnt', 'etc/ironic-python-agent.d']) {
      tree.addDir(d, { mode: d.endsWith('tmp') ? 0o1777 : d === 'root' ? 0o700 : 0o755, mtime, layer: 'tinyipa' });
    }
    // The kernel opens /dev/console before /init runs and before devtmpfs is mounted.
    tree.addDevice('dev/console', 'char', 5, 1, { mode: 0o600, mtime, layer: 'tinyipa' });
    tree.addDevice('dev/null', 'char', 1, 3, { mode: 0o666, mtime, layer: 'tinyipa' });
    await addRootfsFiles(tree, mtime);
    tree.addFile('etc/inittab', Buffer.from(inittab(spec.console)), { mode: 0o644, mtime, layer: 'tinyipa' });
    tree.addFile('etc/ramforge-release', Buffer.from(`NAME=${spec.name}\nFLAVOR=tinyipa\nRAMFORGE_VERSION=${RAMFORGE_VERSION}\nNODE_VERSION=${ctx.node.version}\nKERNEL=${ctx.kernel.version}\n`), { mode: 0o644, mtime, layer: 'tinyipa' });
  },
};

/** busybox init's table: system start, the agent (restarted when it exits), a root shell only on request. */
export function inittab(console: boolean): string {
  const lines = [
    '# ramforge tinyipa (busybox init)',
    '::sysinit:/etc/init.d/rcS',
    '::respawn:/usr/sbin/ramforge-agent',
  ];
  if (console) lines.push('::respawn:/bin/cttyhack /bin/sh -l');
  lines.push('::ctrlaltdel:/bin/reboot', '::shutdown:/bin/sync', '');
  return lines.join('\n');
}

/** One symlink per busybox applet, where no package already ships the real tool. */
async function addBusyboxApplets(tree: Tree, scratch: string): Promise<void> {
  const bb = tree.get('usr/bin/busybox');
  if (!bb?.source) throw new InternalError('busybox-static did not provide /bin/busybox');
  // The tree's store keeps contents, not modes: run a private executable copy.
  const exe = join(scratch, 'busybox');
  await copyFile(bb.source, exe);
  await chmod(exe, 0o755);
  const { stdout } = await run([exe, '--list-full']);
  for (const applet of stdout.split('\n').map((s) => s.trim()).filter(Boolean).sort()) {
    if (tree.has(applet)) continue;
    tree.addSymlink(applet, '/usr/bin/busybox', { layer: 'busybox-applets' });
  }
}

async function addRootfsFiles(tree: Tree, mtime: number): Promise<void> {
  for (const file of await walk(ROOTFS_DIR)) {
    const rel = relative(ROOTFS_DIR, file);
    const executable = ((await stat(file)).mode & 0o111) !== 0;
    const mode = SECRET_FILES.has(rel) ? 0o600 : executable ? 0o755 : 0o644;
    tree.addFile(rel, { source: file }, { mode, mtime, layer: 'tinyipa' });
  }
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}
