/**
 * tinyipa: the smallest ramdisk that runs the agent. busybox (init, shell,
 * udhcpc, mdev, modprobe), glibc and the few libraries the pinned Node and
 * the disk tools need, the agent as one file, kernel modules for common
 * NICs and storage. No systemd, no udev, no package manager.
 */
import { chmod, copyFile, readdir, stat } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join, relative } from 'node:path';
import type { Tree } from '../../tree/tree.js';
import { defineFlavor } from '../contract.js';
import type { FlavorSpec } from '../../spec/normalize.js';
import { InternalError } from '../../errors.js';
import { run } from '../../exec/run.js';
import { requirementsFor } from '../../host/tools.js';
import { bundleAgent, type AgentBundle } from '../../agent-bundle.js';
import { makeAgentCompileCache } from '../../agent-compile-cache.js';
import { fetchNodeRuntime, type NodeRuntime } from '../../node-runtime.js';
import { debianHostTools, fetchDebianInput, type DebianInput } from '../../debian/input.js';
import { DEFAULT_PRUNE, extractDeb } from '../../debian/extract.js';
import { addKernelModules } from '../../debian/kernel.js';
import { selectModules } from '../../debian/modules.js';
import { RAMFORGE_VERSION } from '../../version.js';
import { AGENT_BUNDLE_PATH, AGENT_COMPILE_CACHE_DIR, agentNodeFlags } from './agent-start.js';
import { checkSharedLibraries } from './libcheck.js';
import { makeNodeSquashfs, NODE_BINARY_PATH, NODE_MOUNT_DIR, NODE_SQUASHFS_PATH } from './node-squashfs.js';
import { AGENT_LAYER, RUNTIME_LAYER, tinyipaMembers } from './members.js';
import { AGENT_TOOL_PACKAGES } from '../agent-packages.js';
import { addSshServer, applyRescueSupport, SSH_PACKAGES, SSH_PROGRAMS, SSHD_INITTAB, wantsSsh } from './ssh.js';

/** What the agent calls (see agent/src and docs/ramdisk-tools.md): lsblk/blkid/wipefs, mount, sgdisk/parted, mkfs, dmidecode, qemu-img, ipmitool, hdparm, nvme, efibootmgr, tcpdump, mdadm. */
export const TINYIPA_PACKAGES = [
  'busybox-static',
  'libc6',
  'libstdc++6',
  'libgcc-s1', // the Node runtime's shared libraries
  ...AGENT_TOOL_PACKAGES,
];

/**
 * Dependencies that only maintainer scripts or login tools use (besides
 * apt.ts SCRIPT_ONLY_PACKAGES): resolved as if installed, so neither they
 * nor their own dependencies (perl via usrmerge: ~50 MB) are shipped.
 * libcheck.ts proves the programs the agent needs still run.
 */
export const TINYIPA_DROP = [
  'passwd',
  'tar',
  'lsb-base',
  'sysvinit-utils',
  'readline-common',
  'uuid-runtime',
  'usr-is-merged',
  'libsemanage2',
  'libsemanage-common',
  'libsepol2',
  'libpam-modules',
  'libpam-modules-bin',
  'libdb5.3',
  'adduser', // only tcpdump's maintainer script (its user; the agent runs tcpdump -Z root)
  // mdadm's: udev rules and systemd units; the ramdisk runs mdev and calls mdadm itself (only libudev1 is linked).
  'udev',
];

/** Programs the agent runs; the build fails if any of them could not run. */
export const AGENT_TOOLS = [
  'node',
  'busybox',
  'lsblk',
  'blkid',
  'wipefs',
  'blockdev',
  'mount',
  'umount',
  'prlimit',
  'sgdisk',
  'parted',
  'mkfs.vfat',
  'mke2fs',
  'mkswap',
  'dmidecode',
  'qemu-img',
  'ipmitool',
  'hdparm',
  'nvme',
  'efibootmgr',
  'tcpdump',
  'lscpu',
  'partprobe',
  'mdadm',
];

/** Beyond DEFAULT_PRUNE: data the ramdisk never reads. */
const TINYIPA_PRUNE = [
  'usr/lib/x86_64-linux-gnu/gconv/**', // iconv modules: nothing here converts legacy charsets
  'usr/share/misc/enterprise-numbers.txt', // ipmitool's IANA vendor names (4.7 MB), only for display
  'usr/lib/systemd/**',
  'usr/lib/udev/**',
  'usr/share/polkit-1/**',
  'etc/systemd/**',
  'etc/init.d/**',
  // Programs of the shipped packages that the agent never runs (qemu-img stays).
  'usr/bin/qemu-nbd',
  'usr/bin/qemu-io',
  'usr/bin/qemu-storage-daemon',
  'usr/sbin/ipmievd',
  'usr/sbin/debugfs',
  'usr/sbin/e2freefrag',
  'usr/sbin/e4crypt',
  'usr/sbin/e4defrag',
  'usr/sbin/filefrag',
  'usr/sbin/mklost+found',
];

const ROOTFS_DIR = fileURLToPath(new URL('./rootfs/', import.meta.url));
const SECRET_FILES = new Set(['etc/shadow']);

type TinyipaBuild = FlavorSpec<'tinyipa'>;

/** What tinyipa's input stages fetch, handed to its assemble. */
export interface TinyipaInputs {
  debian: DebianInput;
  node: NodeRuntime;
  agent: AgentBundle;
}

export const flavor = defineFlavor<TinyipaInputs>({
  name: 'tinyipa',
  host: () => ({ tools: [...debianHostTools(), ...requirementsFor(['node-runtime', 'squashfs'])], probes: [] }),
  inputs: (spec) => {
    const own = tinyipaSpec(spec).tinyipa;
    const ssh = wantsSsh(spec);
    return {
      debian: {
        name: 'resolve-packages',
        title: 'Resolve and download Debian packages',
        run: (env) =>
          fetchDebianInput({
            sources: own.debian,
            packages: ssh ? [...TINYIPA_PACKAGES, ...SSH_PACKAGES] : TINYIPA_PACKAGES,
            userPackages: own.packages,
            drop: TINYIPA_DROP,
            kernelPackage: own.kernel.package,
            cacheDir: env.cacheDir,
            log: env.log,
          }),
      },
      node: {
        name: 'fetch-node',
        title: 'Fetch the pinned Node runtime',
        run: (env) =>
          fetchNodeRuntime(own.node.version, env.cacheDir, {
            strip: own.node.strip,
            icu: own.node.icu,
            exports: own.node.exports,
            log: env.log,
          }),
      },
      agent: {
        name: 'bundle-agent',
        title: 'Bundle the agent',
        run: async (env) => {
          const agent = await bundleAgent({ nodeVersion: own.node.version });
          env.log(`agent bundle: ${(agent.bytes / 1024).toFixed(0)} KiB`);
          return agent;
        },
      },
    };
  },
  async assemble({ debian, node, agent }, { spec: anySpec, tree, workspace, cacheDir, log }) {
    const spec = tinyipaSpec(anySpec);
    const own = spec.tinyipa;
    const mtime = spec.sourceDateEpoch;
    const ssh = wantsSsh(spec);
    const kernel = debian.kernel;

    for (const pkg of debian.packages) await extractDeb(tree, pkg, { exclude: DEFAULT_PRUNE });
    tree.prune(TINYIPA_PRUNE);
    await addBusyboxApplets(tree, workspace);

    const selected = await selectModules(kernel.modulesDir, own.kernel.modules, own.kernel.extraModules);
    const modules = await addKernelModules(tree, kernel, selected);

    // Node in a squashfs image that rcS mounts (node-squashfs.ts): the kernel copies it, squashfs decompresses what Node reads.
    const nodeImage = await makeNodeSquashfs({
      binary: node.binary,
      sha256: node.sha256,
      compression: spec.compression,
      epoch: mtime,
      cacheDir,
      workspace,
      log,
    });
    tree.addFile(NODE_SQUASHFS_PATH, { source: nodeImage.file }, { mode: 0o644, mtime, layer: RUNTIME_LAYER });
    tree.addDir(NODE_MOUNT_DIR, { mode: 0o755, mtime, layer: RUNTIME_LAYER });
    tree.addSymlink('usr/bin/node', NODE_BINARY_PATH, { mtime, layer: RUNTIME_LAYER });
    tree.addFile(AGENT_BUNDLE_PATH.slice(1), agent.code, { mode: 0o644, mtime, layer: AGENT_LAYER });
    const compileCache = await makeAgentCompileCache({
      node: node.binary,
      bundle: agent.code,
      url: pathToFileURL(AGENT_BUNDLE_PATH).href,
      flags: agentNodeFlags(),
      log,
    });
    if (compileCache)
      tree.addFile(`${AGENT_COMPILE_CACHE_DIR}/${compileCache.key}`, compileCache.data, { mode: 0o644, mtime, layer: AGENT_LAYER });
    tree.addSymlink('usr/bin/ironic-python-agent', '/usr/sbin/ramforge-agent', { mtime, layer: AGENT_LAYER });
    const libs = await checkSharedLibraries(tree, ssh ? [...AGENT_TOOLS, ...SSH_PROGRAMS] : AGENT_TOOLS, [
      { path: NODE_BINARY_PATH, source: node.binary },
    ]);
    for (const r of libs.removed) log(`removed ${r.path}: it needs ${r.missing.join(', ')}, which no shipped package provides`);

    for (const d of ['proc', 'sys', 'dev', 'run', 'tmp', 'root', 'var/log', 'var/tmp', 'mnt', 'etc/ironic-python-agent.d']) {
      tree.addDir(d, { mode: d.endsWith('tmp') ? 0o1777 : d === 'root' ? 0o700 : 0o755, mtime, layer: 'tinyipa' });
    }
    // The kernel opens /dev/console before /init runs and before devtmpfs is mounted.
    tree.addDevice('dev/console', 'char', 5, 1, { mode: 0o600, mtime, layer: 'tinyipa' });
    tree.addDevice('dev/null', 'char', 1, 3, { mode: 0o666, mtime, layer: 'tinyipa' });
    await addRootfsFiles(tree, mtime);
    if (ssh) addSshServer(tree, mtime);
    applyRescueSupport(tree, spec.rescue, mtime);
    tree.addFile('etc/inittab', Buffer.from(inittab(spec.console, ssh)), { mode: 0o644, mtime, layer: 'tinyipa' });
    tree.addFile(
      'etc/ramforge-release',
      Buffer.from(
        `NAME=${spec.name}\nFLAVOR=tinyipa\nRAMFORGE_VERSION=${RAMFORGE_VERSION}\nNODE_VERSION=${node.version}\nKERNEL=${kernel.version}\n`,
      ),
      { mode: 0o644, mtime, layer: 'tinyipa' },
    );

    return {
      kernel: { file: kernel.vmlinuz, version: kernel.version },
      members: tinyipaMembers(),
      facts: {
        kernel: { package: kernel.package.name, packageVersion: kernel.package.version, modules },
        node: {
          version: node.version,
          npmIntegrity: node.integrity,
          officialSha256: node.officialSha256,
          stripped: node.stripped,
          icu: node.icu,
          ...(node.icuTrim ? { icuTrim: node.icuTrim } : {}),
          exports: node.exports,
          ...(node.exportsTrim ? { exportsTrim: node.exportsTrim } : {}),
          sha256: node.sha256,
        },
        nodeSquashfs: { path: `/${NODE_SQUASHFS_PATH}`, compression: spec.compression, bytes: nodeImage.bytes },
        agent: { bytes: agent.bytes, compileCacheBytes: compileCache?.data.length ?? 0 },
        packages: debian.packages.map((p) => ({ name: p.name, version: p.version, arch: p.arch, sha256: p.sha256 })),
        ssh: ssh ? { server: 'dropbear', authorizedKeys: spec.ssh.authorizedKeys.length } : undefined,
        rescue: spec.rescue,
      },
    };
  },
});

function tinyipaSpec(spec: { flavor: string }): TinyipaBuild {
  if (spec.flavor !== 'tinyipa') throw new InternalError(`the tinyipa flavor was given a ${spec.flavor} spec`);
  return spec as TinyipaBuild;
}

/** busybox init's table: system start, the agent (restarted when it exits; the rescue hand-over takes its slot), the SSH slot, a root shell only on request. */
export function inittab(console: boolean, ssh = false): string {
  const lines = ['# ramforge tinyipa (busybox init)', '::sysinit:/etc/init.d/rcS', '::respawn:/usr/sbin/ramforge-agent'];
  if (ssh) lines.push(SSHD_INITTAB);
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
  for (const applet of stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean)
    .sort()) {
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
