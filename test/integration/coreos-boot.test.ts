/**
 * The coreos flavor end to end with a real, private Docker engine
 * (test/support/dockerd.ts; never a system daemon): `ramforge build` with
 * flavor coreos builds the top-level Dockerfile on a Debian base it
 * imported itself, puts the container unpacked at /opt/ironic-python-agent
 * (its own initramfs member) and cloud-config.yml and authorized_keys into
 * /usr/share/oem of its container host, and the ramdisk boots (qemu TCG,
 * 1.5 GiB): kernel + initramfs, the ISO on BIOS and the ISO on UEFI (OVMF),
 * one boot each. In every boot the agent answers /v1/status from its chroot
 * (/proc/PID/root of the agent's node process); the direct boot also logs
 * `core` in with the spec's key, checks sudo, that the root the
 * container shares grew to 90 % of the RAM, and that from the agent's root
 * `modprobe bonding max_bonds=0` loads the module from the host's
 * /usr/lib/modules (bound in read-only) and /sys/class/net/bonding_masters
 * appears (a bond can be made there).
 *
 * One build, shared with the other coreos tests (test/support/coreos-build.ts).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listInitramfs, readInitramfsFiles } from '../../builder/src/archive/initramfs-list.js';
import { bootVm, freePort, type BootVmOptions } from '../support/qemu.js';
import { testSshKey } from '../support/shared-build.js';
import { sshOnce, sshUntil } from '../support/ssh.js';
import { coreosSharedBuild, type CoreosBuild } from '../support/coreos-build.js';

const dir = mkdtempSync(join(tmpdir(), 'ramforge-coreos-'));
const disk = join(dir, 'disk.img');
execFileSync('truncate', ['-s', '8G', disk]);
let b: CoreosBuild;

before(
  async () => {
    b = await coreosSharedBuild();
  },
  { timeout: 40 * 60_000 },
);
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
/** Every entry listed under usr/share/oem/, with its contents (the container archive's left out: not read, empty). */
async function oemFiles(initramfs: string): Promise<Map<string, Buffer>> {
  const inOem = (p: string): boolean => p.startsWith('usr/share/oem/');
  const { members, files } = await readInitramfsFiles(initramfs, (p) => inOem(p) && !p.endsWith('.tar.gz'));
  const oem = new Map<string, Buffer>();
  for (const m of members) for (const e of m.entries) if (inOem(e.path)) oem.set(e.path, files.get(e.path) ?? Buffer.alloc(0));
  return oem;
}

test('the OEM directory holds the checked cloud-config and the SSH keys, the container is unpacked in its own member; no engine leftovers', async () => {
  const oem = await oemFiles(b.initramfs);
  assert.deepEqual([...oem.keys()].sort(), ['usr/share/oem/authorized_keys', 'usr/share/oem/cloud-config.yml']);
  const members = await listInitramfs(b.initramfs);
  const container = members.filter((m) => m.entries.some((e) => e.path.startsWith('opt/ironic-python-agent/')));
  assert.equal(container.length, 1, 'one member holds the container');
  const paths = new Set(container[0]!.entries.map((e) => e.path));
  for (const p of ['opt/ironic-python-agent/usr/bin/node', 'opt/ironic-python-agent/usr/local/bin/ironic-python-agent'])
    assert.ok(paths.has(p), `${p} in the container member`);
  assert.deepEqual(
    [...paths].filter((p) => !p.startsWith('opt/ironic-python-agent')),
    ['opt'],
    'nothing but the container (and its parent directory) in that member',
  );
  assert.match(oem.get('usr/share/oem/cloud-config.yml')?.toString() ?? '', /^#cloud-config\n/);
  assert.equal(oem.get('usr/share/oem/authorized_keys')?.toString(), `${testSshKey().publicKey}\n`);
  assert.equal(b.manifest.flavor, 'coreos');
  assert.deepEqual(b.engineContainers, [], 'no container left in the engine');
});

/** Boot with `opts`, wait for /v1/status, check the answer comes from the agent chrooted in its container, then `then`. */
async function boot(name: string, opts: Partial<BootVmOptions>, then?: (sshPort: number) => Promise<void>): Promise<void> {
  const port = await freePort();
  const sshPort = await freePort();
  const vm = await bootVm({
    memoryMiB: 1536,
    hostfwd: [
      { hostPort: port, guestPort: 9999 },
      { hostPort: sshPort, guestPort: 22 },
    ],
    disks: [{ path: disk, format: 'raw' }],
    ...opts,
  });
  try {
    const r = await vm.waitForHttp(`http://127.0.0.1:${port}/v1/status`, 600_000);
    assert.equal(r.status, 200);
    assert.equal(typeof (JSON.parse(r.body) as { version: string }).version, 'string');
    process.stderr.write(`[coreos-boot] ${name}: /v1/status after ${((Date.now() - vm.startedAt) / 1000).toFixed(1)} s\n`);
    // Who answered: the agent's node, whose root is the container on the host.
    const root = await sshUntil(
      { port: sshPort, key: testSshKey().privateKeyFile, user: 'core' },
      'sudo -n readlink /proc/$(sudo -n ss -Hltnp "sport = :9999" | grep -o "pid=[0-9]*" | head -n 1 | cut -d= -f2)/root',
      { timeoutMs: 120_000, pauseMs: 3000 },
    );
    assert.equal(root.trim(), '/opt/ironic-python-agent', 'the process listening on 9999 runs in the container');
    await then?.(sshPort);
  } catch (e) {
    process.stderr.write(`[coreos-boot] ${name} serial log:\n${vm.serialText().slice(-6000)}\n`);
    throw e;
  } finally {
    await vm.stop();
  }
}

test("boots (kernel + initramfs): the agent answers /v1/status from its chroot, core logs in with the key and sudo, the agent's modprobe loads bonding", {
  timeout: 15 * 60_000,
}, async () => {
  await boot('direct', { kernel: b.kernel, initrd: b.initramfs, append: 'console=ttyS0,115200' }, async (sshPort) => {
    const ssh = sshOnce(
      { port: sshPort, key: testSshKey().privateKeyFile, user: 'core' },
      // No dbus on the host: systemctl as root (sudo) talks to systemd directly.
      'id -un; sudo -n systemctl is-active ironic-python-agent.service; sudo -n systemctl is-active ramforge-rescue.path; ' +
        'df --output=size -BM / | tail -n 1',
      120_000,
    );
    assert.equal(ssh.status, 0, ssh.stderr);
    const [user, agent, rescue, rootSize] = ssh.stdout.trim().split('\n');
    assert.deepEqual([user, agent, rescue], ['core', 'active', 'active']);
    // The container lives in the initramfs's root: the runner grew it from half the RAM (768 MiB) to 90 % (~1380 MiB).
    assert.ok(Number.parseInt(rootSize ?? '', 10) > 1200, `/ is ${rootSize}`);
    // The agent's modprobe (bonds and VLANs from network_data.json, md personalities) finds the host's modules,
    // bound read-only into its root: bonding loads, and its effect, /sys/class/net/bonding_masters, appears.
    const mod = sshOnce(
      { port: sshPort, key: testSshKey().privateKeyFile, user: 'core' },
      "sudo -n chroot /opt/ironic-python-agent /bin/sh -c '" +
        'test -e /sys/class/net/bonding_masters && echo before=present || echo before=absent; ' +
        'modprobe bonding max_bonds=0 && echo modprobe=ok; ' +
        'test -e /sys/class/net/bonding_masters && echo after=present || echo after=absent; ' +
        'echo +rfbond0 > /sys/class/net/bonding_masters && test -d /sys/class/net/rfbond0 && echo bond=made; ' +
        'echo -rfbond0 > /sys/class/net/bonding_masters; ' +
        'grep -q "^bonding " /proc/modules && echo proc-modules=bonding; ' +
        'lsmod | grep -q "^bonding " && echo lsmod=bonding; ' +
        'touch /lib/modules/ramforge-rw 2>/dev/null && echo modules=rw || echo modules=ro; ' +
        "for m in 8021q raid1; do modprobe $m >/dev/null 2>&1 && echo $m=ok >&2 || echo $m=failed >&2; done'",
      120_000,
    );
    process.stderr.write(`[coreos-boot] other modules from the agent's root: ${mod.stderr.trim().split('\n').join(' ')}\n`);
    assert.equal(mod.status, 0, mod.stderr);
    assert.deepEqual(mod.stdout.trim().split('\n'), [
      'before=absent',
      'modprobe=ok',
      'after=present',
      'bond=made',
      'proc-modules=bonding',
      'lsmod=bonding',
      'modules=ro',
    ]);
  });
});

test('the ISO boots on BIOS and the agent answers from its chroot', { timeout: 15 * 60_000 }, async () => {
  await boot('iso-bios', { iso: b.iso, firmware: 'bios' });
});

test("the ISO boots on UEFI (OVMF) and the agent answers from its chroot, where efibootmgr reads the firmware's variables", {
  timeout: 15 * 60_000,
}, async () => {
  await boot('iso-uefi', { iso: b.iso, firmware: 'uefi' }, async (sshPort) => {
    // install_bootloader and clean_uefi_nvram run efibootmgr in the agent's root: efivarfs must be there.
    const r = sshOnce(
      { port: sshPort, key: testSshKey().privateKeyFile, user: 'core' },
      "sudo -n chroot /opt/ironic-python-agent /bin/sh -c 'findmnt -n -o FSTYPE /sys/firmware/efi/efivars; efibootmgr >/dev/null && echo efibootmgr=ok'",
      120_000,
    );
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.deepEqual(r.stdout.trim().split('\n'), ['efivarfs', 'efibootmgr=ok']);
  });
});
