/**
 * A former tenant's config drive is not virtual media. tinyipa booted with
 * boot_method=vmedia and no virtual media attached, but with a local disk
 * whose partition is labelled config-2 and carries a network_data.json (what
 * an instance's config drive leaves on the disk, seen when the node is
 * cleaned after it): rcS must not take that document as the node's and skip
 * DHCP, or the node has no network. The effect is checked from outside: the
 * agent (standalone) answers through a hostfwd to slirp's DHCP address
 * 10.0.2.15, which the guest only has when DHCP ran.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { diskPartitions } from '../support/disk-layout.js';
import { bootVm, freePort, type Vm } from '../support/qemu.js';
import { sharedBuild } from '../support/shared-build.js';

const skip =
  process.getuid?.() !== 0 ? 'needs root' : !existsSync('/usr/bin/xorriso') ? 'needs xorriso (./ramforge doctor --for test --fix)' : false;
let kernel = process.env.RAMFORGE_TEST_KERNEL;
let initrd = process.env.RAMFORGE_TEST_INITRAMFS;
let dir = '';

before(
  async () => {
    if (skip) return;
    dir = mkdtempSync(join(tmpdir(), 'ramforge-tenant-cd-'));
    if (kernel && initrd) return;
    const b = await sharedBuild();
    kernel = b.kernel;
    initrd = b.initramfs;
  },
  { timeout: 30 * 60_000 },
);
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('tinyipa, boot_method=vmedia: a config-2 partition on a local disk is not virtual media; DHCP runs', {
  skip,
  timeout: 10 * 60_000,
}, async () => {
  // The tenant's config drive: ISO 9660, volume id config-2, a static network on the NIC's MAC.
  const tree = join(dir, 'cd');
  mkdirSync(join(tree, 'openstack/latest'), { recursive: true });
  writeFileSync(
    join(tree, 'openstack/latest/network_data.json'),
    JSON.stringify({
      links: [{ id: 'tap0', type: 'phy', ethernet_mac_address: '52:54:00:12:34:56' }],
      networks: [{ id: 'n0', link: 'tap0', type: 'ipv4', ip_address: '192.0.2.77', netmask: '255.255.255.0' }],
      services: [],
    }),
  );
  const iso = join(dir, 'cd.iso');
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-r', '-J', '-V', 'config-2', '-o', iso, tree], { stdio: 'ignore' });
  const disk = join(dir, 'disk.img');
  execFileSync('truncate', ['-s', '64M', disk]);
  execFileSync('sgdisk', ['-n', '1:0:+8M', '-t', '1:0700', disk]);
  const [p1] = diskPartitions(disk);
  const data = readFileSync(iso);
  const fd = openSync(disk, 'r+');
  try {
    writeSync(fd, data, 0, data.length, p1!.offset);
  } finally {
    closeSync(fd);
  }

  const port = await freePort();
  let vm: Vm | undefined;
  try {
    vm = await bootVm({
      kernel,
      initrd,
      append: 'console=ttyS0 boot_method=vmedia ipa-standalone=1 ipa-disk-wait-attempts=1',
      memoryMiB: 1024,
      hostfwd: [{ hostPort: port, guestPort: 9999 }],
      disks: [{ path: disk, format: 'raw' }],
    });
    const up = await vm.waitForHttp(`http://127.0.0.1:${port}/v1/status`, 300_000);
    console.log(`the agent answered on the DHCP address after ${up.ms} ms`);
    const serial = vm.serialText();
    assert.doesNotMatch(serial, /network: from network_data\.json on the virtual media/);
    assert.doesNotMatch(serial, /192\.0\.2\.77/);
  } catch (e) {
    if (vm) console.error(`--- serial console (tail)\n${vm.serialText().split('\n').slice(-60).join('\n')}`);
    throw e;
  } finally {
    await vm?.stop();
  }
});
