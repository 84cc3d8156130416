/**
 * The dib flavor, end to end on one shared build (test/support/dib-build.ts):
 * the initramfs checked file by file (owners, modes, enabled units, what must
 * not be there), then boots in qemu (TCG, 1 GiB): kernel + initramfs
 * directly, with root logging in over SSH with the spec's key and with a key
 * given by sshkey= on the kernel command line; the ISO on BIOS and on UEFI.
 * Each boot checks the agent's /v1/status.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedBuild, testSshKey, type SharedBuild } from '../support/shared-build.js';
import { DIB_TEST_SPEC, dibSharedBuild } from '../support/dib-build.js';
import { bootVm, freePort, type Vm } from '../support/qemu.js';
import { readInitramfsFiles, type InitramfsListEntry } from '../../builder/src/archive/initramfs-list.js';
import { sshUntil, sshWithoutKey } from '../support/ssh.js';

let b: SharedBuild;
const scratch = mkdtempSync(join(tmpdir(), 'ramforge-dib-'));
const disk = join(scratch, 'disk.img');
execFileSync('truncate', ['-s', '8G', disk]);
// A second key, given only on the kernel command line (sshkey=).
const cmdlineKey = join(scratch, 'cmdline_key');
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ramforge-cmdline', '-f', cmdlineKey]);

before(
  async () => {
    b = await dibSharedBuild();
  },
  { timeout: 45 * 60_000 },
);
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Every entry of the initramfs by path (later members win, as when the kernel unpacks them), and the text of `wanted`. */
async function readImage(
  path: string,
  wanted: string[],
): Promise<{ entries: Map<string, InitramfsListEntry>; files: Map<string, string> }> {
  const { members, files } = await readInitramfsFiles(path, (p) => wanted.includes(p));
  const entries = new Map<string, InitramfsListEntry>();
  for (const m of members) for (const e of m.entries) entries.set(e.path, e);
  return { entries, files: new Map([...files].map(([p, data]) => [p, data.toString('utf8')])) };
}

test('dib: the initramfs, file by file: owners, modes, enabled units, the site element, nothing per-machine', {
  timeout: 45 * 60_000,
}, async () => {
  const { entries, files } = await readImage(b.initramfs, [
    'etc/passwd',
    'etc/group',
    'etc/fstab',
    'etc/ramforge-test/greeting',
    'etc/machine-id',
    'root/.ssh/authorized_keys',
    'usr/lib/systemd/system/ironic-python-agent.service',
    'usr/lib/systemd/system/ramforge-rescue.path',
    'usr/lib/systemd/system/ramforge-rescue.service',
    'usr/local/sbin/ramforge-rescue',
  ]);
  const get = (p: string): InitramfsListEntry => {
    const e = entries.get(p);
    assert.ok(e, `${p} is in the initramfs`);
    return e;
  };
  const init = get('init');
  assert.equal(init.type, 'symlink');
  assert.equal(init.linkTarget, '/usr/lib/systemd/systemd');
  assert.equal(get('usr/lib/systemd/systemd').type, 'file');
  assert.match(files.get('etc/fstab') ?? '', /^#[^\n]*\n$/, 'fstab mounts nothing');
  assert.equal(get('dev/console').type, 'char');

  // The site element's user owns its home; files keep the modes and groups it gave them.
  const passwd = files.get('etc/passwd') ?? '';
  const site = /^rfsite:x:(\d+):(\d+):/m.exec(passwd);
  assert.ok(site, 'user rfsite exists');
  const [uid, gid] = [Number(site[1]), Number(site[2])];
  assert.ok(uid >= 1000, `rfsite uid ${uid}`);
  for (const p of ['home/rfsite', 'home/rfsite/.ssh', 'home/rfsite/.ssh/authorized_keys']) {
    const e = get(p);
    assert.deepEqual([e.uid, e.gid], [uid, gid], `${p} belongs to rfsite`);
  }
  assert.equal(get('home/rfsite/.ssh').mode, 0o700);
  assert.equal(get('home/rfsite/.ssh/authorized_keys').mode, 0o600);
  const rfops = /^rfops:x:(\d+):(.*)$/m.exec(files.get('etc/group') ?? '');
  assert.ok(rfops && rfops[2]?.split(',').includes('rfsite'), 'rfsite is in rfops');
  const secret = get('etc/ramforge-test/secret');
  assert.deepEqual([secret.mode, secret.uid, secret.gid], [0o640, 0, Number(rfops[1])]);
  const sudoers = get('etc/sudoers.d/rfops');
  assert.deepEqual([sudoers.mode, sudoers.uid], [0o440, 0]);
  assert.equal(get('usr/bin/sudo').mode, 0o4755, 'sudo keeps its setuid bit');
  assert.equal(get('usr/bin/less').type, 'file', "pkg-map turned 'pager' into less");
  assert.equal(files.get('etc/ramforge-test/greeting'), 'hello from the spec\n', 'dib.environment reached the element');

  // Units enabled in the chroot.
  for (const unit of ['ironic-python-agent.service', 'ramforge-test-site.service', 'ssh.service', 'ramforge-ssh-cmdline.service']) {
    assert.equal(get(`etc/systemd/system/multi-user.target.wants/${unit}`).type, 'symlink', `${unit} is enabled`);
  }
  assert.equal(get('etc/systemd/system/systemd-firstboot.service').linkTarget, '/dev/null');
  // nvme-cli's NVMe-oF auto-connect runs `nvme connect-all` at every boot (~13 s of a TCG boot): masked.
  assert.equal(get('etc/systemd/system/nvmf-autoconnect.service').linkTarget, '/dev/null');
  // smartd would open every disk at boot; the agent needs only smartctl (the bridge check before an ATA secure erase).
  assert.equal(get('etc/systemd/system/smartmontools.service').linkTarget, '/dev/null');
  assert.equal(get('usr/sbin/smartctl').type, 'file');
  // Generators with nothing to do in a ramdisk are off (each is a process before systemd loads its units).
  for (const gen of ['cryptsetup', 'integritysetup', 'veritysetup', 'system-update', 'gpt-auto', 'hibernate-resume']) {
    assert.equal(get(`etc/systemd/system-generators/systemd-${gen}-generator`).linkTarget, '/dev/null', gen);
  }
  // fstab, sysv and rc-local are off only when the image gives them nothing to do (finalise.d of ramforge-ramdisk):
  // the fstab is empty, but the site element ships a SysV script without a unit and an rc.local (run at boot: below).
  assert.equal(get('etc/systemd/system-generators/systemd-fstab-generator').linkTarget, '/dev/null', 'fstab generator off');
  for (const gen of ['sysv', 'rc-local']) {
    assert.equal(entries.get(`etc/systemd/system-generators/systemd-${gen}-generator`), undefined, `${gen} generator stays`);
  }
  assert.ok(
    [...entries.keys()].some((p) => /^etc\/rc3\.d\/S\d\dramforge-test-sysv$/.test(p)),
    'the SysV script is enabled (update-rc.d)',
  );

  // Rescue (docs/rescue.md): the agent accepts finalize_rescue only with /etc/ipa-rescue-config; it is not started
  // again once /etc/.rescued exists; the path unit starts the hand-over (user, sshd, DHCP) on that marker.
  assert.deepEqual([get('etc/ipa-rescue-config').type, get('etc/ipa-rescue-config').mode], ['dir', 0o700]);
  assert.match(files.get('usr/lib/systemd/system/ironic-python-agent.service') ?? '', /^ConditionPathExists=!\/etc\/\.rescued$/m);
  assert.equal(get('etc/systemd/system/multi-user.target.wants/ramforge-rescue.path').type, 'symlink', 'ramforge-rescue.path is enabled');
  assert.match(files.get('usr/lib/systemd/system/ramforge-rescue.path') ?? '', /^PathExists=\/etc\/\.rescued$/m);
  assert.match(files.get('usr/lib/systemd/system/ramforge-rescue.service') ?? '', /^ExecStart=\/usr\/local\/sbin\/ramforge-rescue$/m);
  assert.equal(get('usr/local/sbin/ramforge-rescue').mode, 0o755);
  const rescue = files.get('usr/local/sbin/ramforge-rescue') ?? '';
  for (const step of [
    /useradd .*--uid 0 .*--password "\$hash" rescue/,
    /Match User rescue/,
    /systemctl restart ssh\.service/,
    /systemctl restart systemd-networkd\.service/,
  ]) {
    assert.match(rescue, step);
  }
  assert.equal(get('usr/sbin/useradd').type, 'file');
  assert.equal(get('usr/bin/node').mode, 0o755);
  assert.equal(get('root/.ssh').mode, 0o700);
  assert.equal(get('root/.ssh/authorized_keys').mode, 0o600);
  assert.equal(files.get('root/.ssh/authorized_keys'), `${testSshKey().publicKey}\n`);

  // Nothing per-machine, no logs, no caches, no docs, no kernel image inside.
  const paths = [...entries.keys()];
  assert.deepEqual(
    paths.filter((p) => /^etc\/ssh\/ssh_host_/.test(p)),
    [],
    'no SSH host keys',
  );
  assert.equal(entries.get('etc/machine-id')?.type, 'file', 'machine-id is a file');
  assert.equal(files.get('etc/machine-id') ?? '', '', 'machine-id empty');
  assert.deepEqual(
    paths.filter((p) => /^var\/log\/./.test(p) && entries.get(p)?.type === 'file'),
    [],
    'no logs',
  );
  assert.deepEqual(
    paths.filter((p) => /^(var\/lib\/apt\/lists|var\/cache\/apt)\/./.test(p) && entries.get(p)?.type === 'file'),
    [],
    'no apt lists or caches',
  );
  assert.deepEqual(
    paths.filter((p) => /^usr\/share\/(doc|man)\/./.test(p)),
    [],
    'no docs, no man pages',
  );
  assert.deepEqual(
    paths.filter((p) => p.startsWith('boot/')),
    [],
    'the kernel is not inside',
  );
  assert.deepEqual(
    paths.filter((p) => p.startsWith('tmp/')),
    [],
    '/tmp is empty',
  );
  // The generic module set for real hardware: storage and NIC drivers, not everything; each zstd-compressed
  // on its own (the kernel only copies them at boot; kmod decompresses the ones it loads: the boot tests load them).
  const modules = paths.filter((p) => /^usr\/lib\/modules\/[^/]+\/kernel\/.*\.ko/.test(p));
  assert.ok(
    modules.some((p) => p.endsWith('/ixgbe.ko.zst')) && modules.some((p) => p.endsWith('/megaraid_sas.ko.zst')),
    'server NIC and HBA drivers',
  );
  assert.deepEqual(
    modules.filter((p) => !p.endsWith('.ko.zst')),
    [],
    'every module compressed',
  );
  assert.ok(modules.length < 1000, `${modules.length} modules`);

  const m = b.manifest;
  assert.equal(m.flavor, 'dib');
  assert.ok(m.elements.includes('ramforge-test-site') && m.elements.includes('ironic-python-agent-ramdisk'));
  assert.ok(
    (m.artifacts as { kind: string; size: number }[]).find((a) => a.kind === 'initramfs')!.size < 100 * 1024 * 1024,
    'initramfs ≤ 100 MiB',
  );
});

test('dib: the IPA-equivalent image (no site elements, as the bench builds it) has the fstab, sysv and rc-local generators off', {
  timeout: 30 * 60_000,
}, async () => {
  // Its own build: the shared one carries the site element, whose SysV script and rc.local keep two of them on.
  const plain = await sharedBuild({ flavor: 'dib', name: 'ipa-dib-plain', iso: false });
  const { entries } = await readImage(plain.initramfs, []);
  for (const gen of ['fstab', 'sysv', 'rc-local']) {
    assert.equal(entries.get(`etc/systemd/system-generators/systemd-${gen}-generator`)?.linkTarget, '/dev/null', `${gen} generator off`);
  }
  for (const gen of ['debug', 'run']) {
    assert.equal(entries.get(`etc/systemd/system-generators/systemd-${gen}-generator`), undefined, `${gen} generator stays`);
  }
});

async function boot(name: string, opts: Parameters<typeof bootVm>[0], then?: (vm: Vm, sshPort: number) => Promise<void>): Promise<void> {
  const port = await freePort();
  const sshPort = await freePort();
  let vm: Vm | undefined;
  try {
    vm = await bootVm({
      memoryMiB: 1024,
      hostfwd: [
        { hostPort: port, guestPort: 9999 },
        { hostPort: sshPort, guestPort: 22 },
      ],
      disks: [{ path: disk, format: 'raw' }],
      ...opts,
    });
    const r = await vm.waitForHttp(`http://127.0.0.1:${port}/v1/status`, 600_000);
    assert.equal(r.status, 200);
    assert.equal(typeof (JSON.parse(r.body) as { version: string }).version, 'string');
    process.stderr.write(`[dib-boot] ${name}: /v1/status after ${((Date.now() - vm.startedAt) / 1000).toFixed(1)} s\n`);
    await then?.(vm, sshPort);
  } catch (e) {
    process.stderr.write(`[dib-boot] ${name} serial log:\n${vm?.serialText().slice(-8000) ?? ''}\n`);
    throw e;
  } finally {
    await vm?.stop();
  }
}

test("dib: kernel + initramfs boot directly; root logs in with the spec's key and with sshkey=; units ran", {
  timeout: 20 * 60_000,
}, async () => {
  const pub = readFileSync(`${cmdlineKey}.pub`, 'utf8').trim();
  await boot(
    'direct',
    {
      kernel: b.kernel,
      initrd: b.initramfs,
      append: `${DIB_TEST_SPEC.cmdline} sshkey="${pub}"`,
      // A BMC on KCS (qemu's IPMI simulator): the dib ramdisk's kernel modules and udev give /dev/ipmi0 for it.
      extraArgs: ['-device', 'ipmi-bmc-sim,id=bmc0', '-device', 'isa-ipmi-kcs,bmc=bmc0'],
    },
    async (vm, sshPort) => {
      const out = await sshUntil(
        { port: sshPort, key: testSshKey().privateKeyFile },
        'id -u; systemctl is-active ironic-python-agent ramforge-test-site systemd-networkd; cat /run/ramforge-test-site; ls /etc/ssh; grep FLAVOR /etc/ramforge-release; readlink /proc/1/exe; ' +
          // Debian orders rc-local.service after network-online.target, possibly after sshd answers: wait for both markers.
          'for i in $(seq 60); do [ -e /run/ramforge-test-sysv ] && [ -e /run/ramforge-test-rc-local ] && break; sleep 1; done; ' +
          'echo "sysv=$(cat /run/ramforge-test-sysv) rc.local=$(cat /run/ramforge-test-rc-local)"; ' +
          'systemctl show -p Result,ExecMainStatus,ExecMainExitTimestampMonotonic,CPUQuotaPerSecUSec,CPUQuotaPeriodUSec ramforge-rng-seed.service; ' +
          // The agent's CPU share: its own slice beside system.slice and PID 1, its weight read from the kernel.
          'echo "agent-cgroup=$(grep -o "::.*" /proc/$(systemctl show -p MainPID --value ironic-python-agent)/cgroup) weight=$(cat /sys/fs/cgroup/ramforge.slice/cpu.weight)"; ' +
          'systemctl show -p StartupCPUWeight,CPUWeight ramforge.slice',
        { timeoutMs: 300_000, pauseMs: 3000 },
      );
      const lines = out.trim().split('\n');
      assert.equal(lines[0], '0', out);
      assert.deepEqual(lines.slice(1, 4), ['active', 'active', 'active'], out);
      assert.equal(lines[4], 'started');
      assert.match(out, /ssh_host_ed25519_key/, 'host keys were made at boot');
      assert.doesNotMatch(out, /ssh_host_rsa_key/, 'no RSA host key (Ed25519 and ECDSA only: RSA costs ~10 s of CPU at boot)');
      assert.match(out, /^FLAVOR=dib$/m);
      assert.match(out, /\/systemd$/m, 'PID 1 is systemd');
      assert.match(out, /^sysv=started rc\.local=started$/m, "the site's SysV script and rc.local ran at boot");
      // The RNG wait from the top of the boot (ramforge-ramdisk): ran to its end (the kernel seeded), under its CPU cap.
      for (const p of ['Result=success', 'ExecMainStatus=0', 'CPUQuotaPerSecUSec=250ms', 'CPUQuotaPeriodUSec=4ms'])
        assert.match(out, new RegExp(`^${p}$`, 'm'), `ramforge-rng-seed.service: ${p}`);
      assert.match(out, /^ExecMainExitTimestampMonotonic=[1-9]\d*$/m, 'ramforge-rng-seed.service ran and ended');
      // 10000 while the boot's jobs run (StartupCPUWeight), 1000 after: the kernel's value is whichever applies now.
      assert.match(
        out,
        /^agent-cgroup=::\/ramforge\.slice\/ironic-python-agent\.service weight=(1000|10000)$/m,
        'the agent runs in ramforge.slice',
      );
      assert.match(out, /^StartupCPUWeight=10000$/m);
      assert.match(out, /^CPUWeight=1000$/m);
      // ipmitool reaches the BMC through /dev/ipmi0 (ipmi_si and ipmi_devintf loaded), as the inventory's bmc_address needs.
      const bmc = await sshUntil(
        { port: sshPort, key: testSshKey().privateKeyFile },
        'ls /dev/ipmi0 && ipmitool mc info | grep -m1 "IPMI Version"',
        { timeoutMs: 60_000, pauseMs: 3000 },
      );
      assert.match(bmc, /^\/dev\/ipmi0\nIPMI Version\s*:\s*2\.0/m, bmc);
      const viaCmdline = await sshUntil({ port: sshPort, key: cmdlineKey }, 'id -un; cat /proc/cmdline', {
        timeoutMs: 120_000,
        pauseMs: 3000,
      });
      assert.match(viaCmdline, /^root$/m, 'the sshkey= key logs in');
      const none = sshWithoutKey(sshPort);
      assert.notEqual(none.status, 0, 'no key, no login');
      assert.match(none.stderr, /Permission denied/, none.stderr);
      process.stderr.write(`[dib-boot] direct: ssh checks done after ${((Date.now() - vm.startedAt) / 1000).toFixed(1)} s\n`);
    },
  );
});

test('dib: the ISO boots on BIOS and the agent answers', { timeout: 15 * 60_000 }, async () => {
  await boot('iso-bios', { iso: b.iso, firmware: 'bios' });
});

test('dib: the ISO boots on UEFI and the agent answers', { timeout: 15 * 60_000 }, async () => {
  await boot('iso-uefi', { iso: b.iso, firmware: 'uefi' });
});
