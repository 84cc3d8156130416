/**
 * Which binary each program the agent runs resolves to inside the built
 * tinyipa and dib initramfs, checked against the cpio listing: a real tool that
 * silently turns back into a busybox applet (as `shred` did: busybox's writes
 * nothing to a block device and exits 0) fails here. The table is the one of
 * docs/ramdisk-tools.md; keep both in step.
 *
 *   node --import tsx --test test/integration/ramdisk-tools.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listInitramfs } from '../../builder/src/index.js';
import { dibSharedBuild } from '../support/dib-build.js';
import { sharedBuild } from '../support/shared-build.js';

/** PATH of the agent (usr/sbin/ramforge-agent and etc/init.d/rcS). */
export const RAMDISK_PATH = ['usr/local/sbin', 'usr/local/bin', 'usr/sbin', 'usr/bin', 'sbin', 'bin'];

/** 'busybox' (an applet), a path (the real program, after symlinks), or null (not shipped: the agent copes). */
export type Resolution = 'busybox' | string | null;

export const TINYIPA_TOOLS: Record<string, Resolution> = {
  // Disks: real util-linux, gdisk, parted, dosfstools, e2fsprogs, hdparm, nvme-cli.
  lsblk: 'usr/bin/lsblk',
  blkid: 'usr/sbin/blkid',
  wipefs: 'usr/sbin/wipefs',
  blockdev: 'usr/sbin/blockdev',
  sgdisk: 'usr/sbin/sgdisk',
  parted: 'usr/sbin/parted',
  partprobe: 'usr/sbin/partprobe',
  'mkfs.vfat': 'usr/sbin/mkfs.fat',
  'mkfs.ext4': 'usr/sbin/mke2fs',
  mkswap: 'usr/sbin/mkswap',
  hdparm: 'usr/sbin/hdparm',
  nvme: 'usr/sbin/nvme',
  mount: 'usr/bin/mount',
  umount: 'usr/bin/umount',
  // Images and boot: qemu-utils, util-linux, efibootmgr.
  'qemu-img': 'usr/bin/qemu-img',
  prlimit: 'usr/bin/prlimit',
  efibootmgr: 'usr/bin/efibootmgr',
  // Software RAID: mdadm (busybox has no applet of that name; a stray one must never shadow it).
  mdadm: 'usr/sbin/mdadm',
  // Inventory.
  dmidecode: 'usr/sbin/dmidecode',
  ipmitool: 'usr/bin/ipmitool',
  lscpu: 'usr/bin/lscpu',
  dmesg: 'usr/bin/dmesg',
  // LLDP capture (ipa-collect-lldp).
  tcpdump: 'usr/bin/tcpdump',
  // busybox applets whose behaviour is all the agent needs (docs/ramdisk-tools.md says why).
  sync: 'busybox',
  poweroff: 'busybox',
  reboot: 'busybox',
  chroot: 'busybox',
  ip: 'busybox',
  cat: 'busybox',
  ps: 'busybox',
  df: 'busybox',
  modprobe: 'busybox',
  mdev: 'busybox',
  udhcpc: 'busybox',
  sh: 'busybox',
  // power_off/run_image's fallback writes o/b with `tee /proc/sysrq-trigger`; finalize_rescue runs `busybox mkpasswd`.
  tee: 'busybox',
  busybox: 'busybox',
  // Not called by the agent (the overwrite is its own code); listed so nobody starts relying on them.
  shred: 'busybox',
  dd: 'busybox',
  // Not shipped; the agent works without them (optional inventory/log data, clock sync, old-conductor rescue).
  openssl: null,
  ntpdate: null,
  chronyd: null,
  lshw: null,
  lldpcli: null,
  biosdevname: null,
  multipath: null,
  multipathd: null,
  iptables: null,
  journalctl: null,
  // tinyipa has no udev (busybox mdev coldplugs before the agent starts); the settle is skipped there.
  udevadm: null,
  // network_data.json DHCP on a bond/VLAN: networkctl where it exists, else udhcpc (tinyipa).
  networkctl: null,
  // network_data.json on networkd ramdisks: systemctl try-restart systemd-networkd where networkctl reload fails.
  systemctl: null,
  // The extra-hardware inspection collector checks for it first and fails with a hint.
  'hardware-detect': null,
  // The bridge check before an ATA secure erase: not in tinyipa (as IPA's tinyipa), so the erase goes ahead as IPA's.
  smartctl: null,
};

interface Entry {
  path: string;
  type: string;
  linkTarget?: string;
}

/** Resolve `tool` as execvp would on RAMDISK_PATH, following symlinks (absolute or relative) in the listing. */
export function resolveTool(entries: Entry[], tool: string): Resolution {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const resolvePath = (p: string, depth = 0): string | null => {
    if (depth > 20) return null;
    // Resolve directory symlinks component by component (bin -> usr/bin).
    const parts = p.split('/');
    let cur = '';
    for (let i = 0; i < parts.length; i++) {
      cur = cur ? `${cur}/${parts[i]}` : parts[i]!;
      const e = byPath.get(cur);
      if (!e) return null;
      if (e.type === 'symlink') {
        const t = e.linkTarget!;
        const base = cur.split('/').slice(0, -1).join('/');
        const target = t.startsWith('/') ? t.slice(1) : base ? `${base}/${t}` : t;
        const rest = parts.slice(i + 1).join('/');
        return resolvePath(normalize(rest ? `${target}/${rest}` : target), depth + 1);
      }
    }
    return cur;
  };
  for (const dir of RAMDISK_PATH) {
    const real = resolvePath(`${dir}/${tool}`);
    if (real === null) continue;
    if (byPath.get(real)?.type !== 'file') continue;
    return real === 'usr/bin/busybox' ? 'busybox' : real;
  }
  return null;
}

function normalize(p: string): string {
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return out.join('/');
}

test('resolveTool follows PATH order and symlinks like the ramdisk shell', () => {
  const entries: Entry[] = [
    { path: 'bin', type: 'symlink', linkTarget: 'usr/bin' },
    { path: 'sbin', type: 'symlink', linkTarget: 'usr/sbin' },
    { path: 'usr', type: 'dir' },
    { path: 'usr/bin', type: 'dir' },
    { path: 'usr/sbin', type: 'dir' },
    { path: 'usr/bin/busybox', type: 'file' },
    { path: 'usr/bin/blkdiscard', type: 'symlink', linkTarget: '/usr/bin/busybox' },
    { path: 'usr/sbin/blkdiscard', type: 'file' },
    { path: 'usr/bin/shred', type: 'symlink', linkTarget: '/usr/bin/busybox' },
    { path: 'usr/sbin/mke2fs', type: 'file' },
    { path: 'usr/sbin/mkfs.ext4', type: 'symlink', linkTarget: 'mke2fs' },
    { path: 'usr/sbin/dangling', type: 'symlink', linkTarget: '../nowhere' },
  ];
  assert.equal(resolveTool(entries, 'blkdiscard'), 'usr/sbin/blkdiscard', 'usr/sbin comes first on PATH');
  assert.equal(resolveTool(entries, 'shred'), 'busybox');
  assert.equal(resolveTool(entries, 'mkfs.ext4'), 'usr/sbin/mke2fs');
  assert.equal(resolveTool(entries, 'dangling'), null);
  assert.equal(resolveTool(entries, 'openssl'), null);
});

/**
 * Program names in the agent's source: the first element of an argv literal given to run/tryRun/execute, a
 * hasCommand probe, a network_data.json action (`run: [...]`), the log collection table (util/system-logs.ts),
 * finalize_rescue's hashers (commands/system.ts), and qemu-img (called through prlimit). grub-install runs in the
 * deployed image's chroot, not from the ramdisk.
 */
export function programsInAgentSource(dir = join(import.meta.dirname, '../../agent/src')): Set<string> {
  const found = new Set<string>(['qemu-img']);
  const everywhere = [
    /\b(?:run|tryRun|execute)\((?:host, )?\[\s*'([A-Za-z0-9._-]+)'/g,
    /\bhasCommand\('([A-Za-z0-9._-]+)'\)/g,
    /\brun: \['([A-Za-z0-9._-]+)'/g,
  ];
  const inFile: Record<string, RegExp> = {
    'util/system-logs.ts': /^\s+\w+: \['([A-Za-z0-9._-]+)'/gm,
    'commands/system.ts': /^\s+\['([A-Za-z0-9._-]+)', '/gm,
  };
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || !e.name.endsWith('.ts') || e.name.endsWith('.test.ts')) continue;
    const file = join(e.parentPath, e.name);
    const text = readFileSync(file, 'utf8');
    const extra = inFile[file.slice(dir.length + 1)];
    for (const re of extra ? [...everywhere, extra] : everywhere) for (const m of text.matchAll(re)) found.add(m[1]!);
  }
  return found;
}

test('every program the agent source runs is in the table (a new one must be checked in the initramfs too)', () => {
  const found = programsInAgentSource();
  assert.ok(found.has('wipefs') && found.has('tee') && found.has('busybox'), `the scan finds the calls: ${[...found].join(' ')}`);
  const missing = [...found].filter((p) => !(p in TINYIPA_TOOLS)).sort();
  assert.deepEqual(missing, [], 'add these to TINYIPA_TOOLS, DIB_TOOLS and docs/ramdisk-tools.md');
});

const skip =
  process.getuid?.() !== 0 && !process.env.RAMFORGE_TEST_INITRAMFS ? 'the shared test build needs root (apt, device nodes)' : false;

test('every program the agent runs resolves to the expected binary in the tinyipa initramfs', { skip, timeout: 30 * 60_000 }, async () => {
  const initramfs = process.env.RAMFORGE_TEST_INITRAMFS ?? (await sharedBuild()).initramfs;
  const entries = (await listInitramfs(initramfs)).flatMap((m) => m.entries);
  const got = Object.fromEntries(Object.keys(TINYIPA_TOOLS).map((t) => [t, resolveTool(entries, t)]));
  assert.deepEqual(got, TINYIPA_TOOLS);
});

/**
 * The dib flavor is a full Debian root (merged /usr, no busybox): every name the agent relies on resolves to the
 * Debian package's real tool, the busybox rows to coreutils/procps/iproute2/kmod/systemd, and the "not shipped" rows
 * stay absent except openssl (ca-certificates needs it), journalctl, udevadm, networkctl and systemctl (systemd).
 */
export const DIB_TOOLS: Record<string, Resolution> = {
  ...Object.fromEntries(Object.entries(TINYIPA_TOOLS).filter(([, v]) => v !== 'busybox' && v !== null)),
  sync: 'usr/bin/sync',
  poweroff: 'usr/bin/systemctl',
  reboot: 'usr/bin/systemctl',
  chroot: 'usr/sbin/chroot',
  ip: 'usr/bin/ip',
  cat: 'usr/bin/cat',
  ps: 'usr/bin/ps',
  df: 'usr/bin/df',
  modprobe: 'usr/bin/kmod',
  mdev: null,
  udhcpc: null,
  sh: 'usr/bin/dash',
  tee: 'usr/bin/tee',
  // No busybox: finalize_rescue hashes a clear-text password with openssl (below).
  busybox: null,
  shred: 'usr/bin/shred',
  dd: 'usr/bin/dd',
  openssl: 'usr/bin/openssl',
  ntpdate: null,
  chronyd: null,
  lshw: null,
  lldpcli: null,
  biosdevname: null,
  multipath: null,
  multipathd: null,
  iptables: null,
  journalctl: 'usr/bin/journalctl',
  // The agent starts while udev still coldplugs: udevadm settle before a lookup, inspection, virtual-media search.
  udevadm: 'usr/bin/udevadm',
  networkctl: 'usr/bin/networkctl',
  systemctl: 'usr/bin/systemctl',
  'hardware-detect': null,
  // smartmontools, as IPA's DIB element installs it for this check.
  smartctl: 'usr/sbin/smartctl',
};

test("every program the agent runs resolves to the expected binary in the dib initramfs (the dib tests' shared build)", {
  skip,
  timeout: 45 * 60_000,
}, async () => {
  const entries = (await listInitramfs((await dibSharedBuild()).initramfs)).flatMap((m) => m.entries);
  const got = Object.fromEntries(Object.keys(DIB_TOOLS).map((t) => [t, resolveTool(entries, t)]));
  assert.deepEqual(got, DIB_TOOLS);
});
