/**
 * Rescue through the REAL conductor (rescue_interface=agent), one VM boot per flavor:
 * the node is adopted into `active` (the least rescue needs; a deploy is
 * covered elsewhere), `baremetal node rescue --rescue-password` moves it to
 * `rescue wait`, the tinyipa ramdisk boots, looks up, heartbeats, answers
 * rescue.finalize_rescue, and the conductor moves the node to `rescue`.
 * Then, on the guest: the rescue user logs in over SSH WITH THE PASSWORD
 * (a wrong one is refused), DHCP was restarted on every interface, and the
 * agent neither answers nor is started again (docs/rescue.md). The dib case
 * does the same with the dib ramdisk (systemd units, sshd, systemd-networkd),
 * the coreos case with the coreos ramdisk, whose agent runs chrooted in its
 * container: the rescue user, sshd and networkd are the HOST's.
 *
 * The conductor's fake boot interface has no validate_rescue, so this Ironic
 * runs with [agent]manage_agent_boot=false (the ramdisk is booted by the
 * test, which is what that option means). The password goes through ssh's
 * SSH_ASKPASS (OpenSSH >= 8.4: SSH_ASKPASS_REQUIRE=force), no extra tool.
 *
 *   node --import tsx --test test/integration/agent-rescue.test.ts
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIronic, vmIronicSkip, type IronicEnv } from '../support/ironic.js';
import { bootVm, freePort, type Vm } from '../support/qemu.js';
import { DIB_TEST_SPEC, dibSharedBuild } from '../support/dib-build.js';
import { NO_KEY_SPEC, sharedBuild } from '../support/shared-build.js';
import { coreosSharedBuild } from '../support/coreos-build.js';

const skip = vmIronicSkip();
const MAC = '52:54:00:12:34:58';
const PASSWORD = 'r3scue: with spaces & $ymbols';

let ironic: IronicEnv | undefined;
let kernel = '';
let initrd = '';
let dir = '';
before(
  async () => {
    if (skip) return;
    dir = mkdtempSync(join(tmpdir(), 'ramforge-rescue-'));
    ironic = await startIronic({
      extraConf: '[DEFAULT]\nenabled_rescue_interfaces = agent,no-rescue\n[agent]\nmanage_agent_boot = false\n',
    });
    // Without SSH keys, as most sites build it: dropbear listens only once the rescue starts it.
    const b = await sharedBuild(NO_KEY_SPEC);
    kernel = b.kernel;
    initrd = b.initramfs;
  },
  { timeout: 30 * 60_000 },
);
after(async () => {
  await ironic?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** ssh as `user` with `password` (never a key); returns the exit code and output. */
function sshWithPassword(port: number, user: string, password: string, command: string): { status: number | null; out: string } {
  const askpass = join(dir, 'askpass');
  writeFileSync(askpass, `#!/bin/sh\ncat ${join(dir, 'password')}\n`, { mode: 0o700 });
  writeFileSync(join(dir, 'password'), `${password}\n`, { mode: 0o600 });
  const r = spawnSync(
    'ssh',
    [
      '-p',
      String(port),
      '-o',
      'PubkeyAuthentication=no',
      '-o',
      'PreferredAuthentications=password,keyboard-interactive',
      '-o',
      'NumberOfPasswordPrompts=1',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'ConnectTimeout=30',
      '-o',
      'LogLevel=ERROR',
      `${user}@127.0.0.1`,
      command,
    ],
    {
      encoding: 'utf8',
      timeout: 90_000,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: dir, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
    },
  );
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/**
 * An enrolled node adopted into `active` (the least rescue needs), then `baremetal node rescue`
 * with PASSWORD, until the conductor waits for the ramdisk.
 */
async function adoptAndRescue(env: IronicEnv, uuid: string): Promise<void> {
  await env.setProvisionState(uuid, 'manage');
  await env.waitForProvisionState(uuid, ['manageable'], 60_000);
  await env.setProvisionState(uuid, 'adopt');
  await env.waitForProvisionState(uuid, ['active'], 60_000);
  const cli = spawnSync('/usr/bin/baremetal', ['node', 'rescue', uuid, '--rescue-password', PASSWORD], {
    encoding: 'utf8',
    env: {
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
      LANG: 'C.UTF-8',
      OS_ENDPOINT: env.apiUrl,
      OS_AUTH_TYPE: 'none',
      OS_BAREMETAL_API_VERSION: 'latest',
    },
  });
  assert.equal(cli.status, 0, `baremetal node rescue: ${cli.stderr}`);
  await env.waitForProvisionState(uuid, ['rescue wait'], 60_000);
}

/** Whether anything still answers HTTP(S) on the agent's forwarded port. */
function agentAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/v1/status', rejectUnauthorized: false, timeout: 5000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy(new Error('timeout'))).on('error', () => resolve(false));
    req.end();
  });
}

/** What a rescue case boots: one flavor's ramdisk with two NICs (DHCP must restart on every interface). */
interface RescueBoot {
  label: string;
  kernel: string;
  initrd: string;
  memoryMiB: number;
  /** The PXE NIC's MAC, and the second NIC's, on its own network 10.0.3.0/24. */
  macs: [string, string];
  /** How long the conductor may wait for the ramdisk to reach `rescue`. */
  rescueTimeoutMs: number;
  /** ramforge-rescue-dhcp-delay: the hand-over's pause before DHCP (default 5 s). */
  dhcpDelayS?: number;
}

/** The running rescue case: the VM and the forwarded ports of the agent and SSH. */
interface RescueVm {
  env: IronicEnv;
  vm: Vm;
  node: Awaited<ReturnType<IronicEnv['waitForProvisionState']>>;
  agentPort: number;
  sshPort: number;
  /** When qemu was started (Date.now()). */
  t0: number;
}

/**
 * Enrol a node, adopt it and ask for rescue (adoptAndRescue), boot the ramdisk against the real
 * conductor, wait for `rescue` with no error, then run `check` on the guest. The conductor's log
 * and the serial console's tail are printed when anything fails; the VM and the node go in any case.
 */
async function withRescueVm(b: RescueBoot, check: (r: RescueVm) => Promise<void>): Promise<void> {
  const env = ironic!;
  let vm: Vm | undefined;
  let uuid: string | undefined;
  try {
    uuid = await env.enrollNode({ mac: b.macs[0], name: `vm-rescue-${b.label}`, fields: { rescue_interface: 'agent' } });
    await adoptAndRescue(env, uuid);

    const agentPort = await freePort();
    const sshPort = await freePort();
    const apiPort = new URL(env.apiUrl).port;
    const t0 = Date.now();
    vm = await bootVm({
      kernel: b.kernel,
      initrd: b.initrd,
      append: `console=ttyS0 ipa-api-url=http://10.0.2.2:${apiPort} ipa-advertise-host=127.0.0.1 ipa-advertise-port=${agentPort} ipa-disk-wait-attempts=1 ramforge-rescue-dhcp-delay=${b.dhcpDelayS ?? 5}`,
      memoryMiB: b.memoryMiB,
      mac: b.macs[0],
      hostfwd: [
        { hostPort: agentPort, guestPort: 9999 },
        { hostPort: sshPort, guestPort: 22 },
      ],
      serialLog: join(dir, `serial-${b.label}.log`),
      extraArgs: ['-nic', `user,net=10.0.3.0/24,model=virtio-net-pci,mac=${b.macs[1]}`],
    });
    const node = await env.waitForProvisionState(uuid, ['rescue'], b.rescueTimeoutMs);
    console.log(`${b.label}: boot to provision state "rescue": ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(node.last_error, null);
    await check({ env, vm, node, agentPort, sshPort, t0 });
  } catch (e) {
    console.error(env.logTail(80));
    if (vm) console.error(`--- serial console (tail)\n${vm.serialText().split('\n').slice(-80).join('\n')}`);
    throw e;
  } finally {
    await vm?.stop();
    if (uuid) await env.deleteNode(uuid).catch(() => undefined);
  }
}

/** The SLAAC address qemu's user network (prefix fec0::/64) gives a NIC with this MAC (EUI-64). */
function slirpSlaac(mac: string): string {
  const b = mac.split(':').map((h) => Number.parseInt(h, 16));
  const words = [((b[0]! ^ 2) << 8) | b[1]!, (b[2]! << 8) | 0xff, 0xfe00 | b[3]!, (b[4]! << 8) | b[5]!];
  return `fec0::${words.map((w) => w.toString(16)).join(':')}`;
}

/** The agent answered finalize_rescue and stopped for good: its API stays closed. */
async function assertAgentGone(agentPort: number): Promise<void> {
  for (let i = 0; i < 3; i++) {
    assert.equal(await agentAnswers(agentPort), false, 'the agent API is closed');
    await new Promise((r) => setTimeout(r, 2500));
  }
}

/** systemd ramdisks (dib, coreos): each NIC got its lease twice, at boot and after the hand-over's networkd restart. */
function assertLeasedTwice(out: string): void {
  for (const net of ['2', '3']) {
    const leases = out.match(new RegExp(`^lease .*DHCPv4 address 10\\.0\\.${net}\\.15`, 'gm')) ?? [];
    assert.ok(leases.length >= 2, `10.0.${net}.15 leased ${leases.length} time(s), want 2 (boot, rescue)`);
  }
}

test('rescue through the real conductor: the rescue user logs in with the password over SSH, DHCP restarted, the agent gone for good', {
  skip,
  timeout: 600_000,
}, async () => {
  const boot = { label: 'tinyipa', kernel, initrd, memoryMiB: 1024, macs: [MAC, '52:54:00:12:34:59'] as [string, string] };
  await withRescueVm({ ...boot, rescueTimeoutMs: 180_000, dhcpDelayS: 20 }, async ({ vm, node, agentPort, sshPort, t0 }) => {
    assert.equal(node.instance_info.rescue_password, undefined, 'the conductor removed the password after rescue');

    // During the pause, IPv6 as the provisioning network would leave it: a SLAAC-like (dynamic) address, beside a
    // static address and route (network_data.json's) that must stay. (busybox ip cannot make a route with a lifetime,
    // as a router advertisement's are: that part is network-data-busybox.test.ts's, with iproute2 making them.)
    await vm.waitForSerial(/ramforge-rescue: renewing DHCP on every interface/, 90_000);
    // dropbear comes back with password logins just before that line: a first try may find it still restarting.
    let planted = { status: null as number | null, out: '' };
    for (let i = 0; i < 5 && planted.status !== 0; i++) {
      if (i) await new Promise((r) => setTimeout(r, 1500));
      planted = sshWithPassword(
        sshPort,
        'rescue',
        PASSWORD,
        [
          'ip -6 addr add 2001:db8:dead::1/64 dev eth0 valid_lft 600 preferred_lft 600',
          'ip -6 addr add 2001:db8:5::1/64 dev eth0',
          'ip -6 route add 2001:db8:cafe::/64 via fe80::2 dev eth0',
          'grep Icmp6OutRouterSolicits /proc/net/dev_snmp6/eth0',
          // The provisioning network's client: the restart must come after the planting (a new pid below).
          'echo "planted_before_client $(cat /run/udhcpc.eth0.pid)"',
        ].join(' && '),
      );
    }
    assert.equal(planted.status, 0, planted.out);
    assert.doesNotMatch(vm.serialText(), /DHCP restarted on:/, 'planted before the DHCP restart');
    const rsBefore = Number(/Icmp6OutRouterSolicits\s+(\d+)/.exec(planted.out)?.[1]);

    // The hand-over runs in the agent's init slot; the DHCP restart comes after the (shortened) pause.
    const dhcp = await vm.waitForSerial(/ramforge-rescue: DHCP restarted on: [^\n]*\n/, 90_000);
    assert.match(dhcp, /on: eth0 eth1; addresses: eth0 10\.0\.2\.15\/24 eth1 10\.0\.3\.15\/24/);
    const serial = vm.serialText();
    assert.match(serial, /ramforge-rescue: user rescue created/);
    assert.match(serial, /ramforge-rescue: SSH server restarted with password logins/);

    const tSsh = Date.now();
    console.log(`tinyipa: hand-over done ${((tSsh - t0) / 1000).toFixed(1)} s after boot`);
    const wrong = sshWithPassword(sshPort, 'rescue', `${PASSWORD}x`, 'true');
    assert.notEqual(wrong.status, 0, 'a wrong password is refused');
    assert.match(wrong.out, /Permission denied/);
    // Password logins are on now, but root has no password and dropbear never takes an empty one.
    const root = sshWithPassword(sshPort, 'root', '', 'true');
    assert.notEqual(root.status, 0, `root logged in with an empty password: ${root.out}`);

    const probe = [
      'echo "user=$USER uid=$(id -u)"',
      'echo "agent=$(pidof node || echo none)"',
      'echo "rescue_pid=$(cat /run/ramforge-rescue.done)"',
      'for f in /run/udhcpc.*.pid; do n=${f#/run/udhcpc.}; echo "udhcpc ${n%.pid} $(cat $f)"; done',
      'ip -4 -o addr show',
      'ip -4 route show default',
      'ls /sys/class/net',
      // The hand-over dropped the provisioning network's IPv6 and solicited routers again: SLAAC is back.
      // (qemu's user network advertises fec0::/64, a site-scope prefix.)
      'for i in $(seq 20); do [ "$(ip -6 -o addr show | grep -c "inet6 fec0:")" -ge 2 ] && break; sleep 1; done',
      'ip -6 -o addr show',
      'ip -6 route show dev eth0 | sed "s/^/route6 /"',
      'grep Icmp6OutRouterSolicits /proc/net/dev_snmp6/eth0',
    ].join('; ');
    console.log(`refused logins took ${((Date.now() - tSsh) / 1000).toFixed(1)} s`);
    const ok = sshWithPassword(sshPort, 'rescue', PASSWORD, probe);
    console.log(`as rescue on the guest:\n${ok.out}`);
    assert.equal(ok.status, 0, `ssh as rescue with the password: ${ok.out}`);
    assert.match(ok.out, /^user=rescue uid=0$/m);
    assert.match(ok.out, /^agent=none$/m);
    assert.match(ok.out, /eth0 +inet 10\.0\.2\.15\/24/);
    assert.match(ok.out, /eth1 +inet 10\.0\.3\.15\/24/);
    assert.match(ok.out, new RegExp(`eth0 +inet6 ${slirpSlaac(MAC)}/64`), 'eth0 has its SLAAC address again');
    assert.doesNotMatch(ok.out, /2001:db8:dead::1/, "the provisioning network's dynamic IPv6 address is gone");
    assert.match(ok.out, /eth0 +inet6 2001:db8:5::1\/64/, 'the static IPv6 address stays');
    assert.match(ok.out, /^route6 2001:db8:cafe::\/64 via fe80::2/m, 'the static IPv6 route stays');
    const plantedClient = /^planted_before_client (\d+)$/m.exec(planted.out)?.[1];
    assert.ok(plantedClient, planted.out);
    assert.notEqual(
      /^udhcpc eth0 (\d+)$/m.exec(ok.out)?.[1],
      plantedClient,
      'the planting came before the DHCP restart (eth0 has a new client since)',
    );
    const rsAfter = Number(/Icmp6OutRouterSolicits\s+(\d+)/.exec(ok.out)?.[1]);
    assert.ok(rsAfter > rsBefore, `eth0 solicited routers again (${rsBefore} → ${rsAfter})`);
    assert.match(ok.out, new RegExp(`eth1 +inet6 ${slirpSlaac(boot.macs[1])}/64`), 'eth1 has its SLAAC address again');
    // Two networks, one default route: the first lease back installs it (the other NIC's add finds it taken).
    assert.match(ok.out, /^default via 10\.0\.(2\.2 dev eth0|3\.2 dev eth1)/m);
    // Every interface got a new DHCP client after the hand-over began: its pid is newer than the hand-over's.
    const rescuePid = Number(/^rescue_pid=(\d+)$/m.exec(ok.out)?.[1]);
    const clients = [...ok.out.matchAll(/^udhcpc (\S+) (\d+)$/gm)].map((m) => ({ iface: m[1]!, pid: Number(m[2]) }));
    assert.deepEqual(
      clients.map((c) => c.iface),
      ['eth0', 'eth1'],
    );
    for (const c of clients)
      assert.ok(c.pid > rescuePid, `udhcpc on ${c.iface} (pid ${c.pid}) restarted after the hand-over (pid ${rescuePid})`);

    // The agent answered finalize_rescue and stopped; busybox init does not start it again.
    await assertAgentGone(agentPort);
    const again = sshWithPassword(sshPort, 'rescue', PASSWORD, 'pidof node || echo none');
    assert.match(again.out, /^none$/m);
    assert.equal((vm.serialText().match(/ramforge: starting the agent/g) ?? []).length, 1, 'the agent was started once, at boot');
  });
});

test('rescue through the real conductor with the dib ramdisk: systemd hand-over, sshd takes the password, networkd restarted DHCP', {
  skip,
  timeout: 45 * 60_000,
}, async () => {
  // The dib tests' shared build, without root's key: only the rescue password opens the door.
  const b = await dibSharedBuild({ ...DIB_TEST_SPEC, ssh: { authorizedKeys: [] } });
  const boot = {
    label: 'dib',
    kernel: b.kernel,
    initrd: b.initramfs,
    memoryMiB: 1024,
    macs: ['52:54:00:12:34:5a', '52:54:00:12:34:5b'] as [string, string],
  };
  await withRescueVm({ ...boot, rescueTimeoutMs: 400_000 }, async ({ vm, agentPort, sshPort, t0 }) => {
    await vm.waitForSerial(/ramforge-rescue: done/, 180_000);
    const serial = vm.serialText();
    assert.match(serial, /ramforge-rescue: user rescue \(uid 0\) has the conductor's password/);
    assert.match(serial, /ramforge-rescue: sshd accepts the rescue user's password/);
    assert.match(serial, /ramforge-rescue: DHCP restarted on: \S+ \S+\s*$/m, 'DHCP restarted on both NICs');
    console.log(`dib: hand-over done ${((Date.now() - t0) / 1000).toFixed(1)} s after boot`);

    const wrong = sshWithPassword(sshPort, 'rescue', `${PASSWORD}x`, 'true');
    assert.notEqual(wrong.status, 0, 'a wrong password is refused');
    assert.match(wrong.out, /Permission denied/);
    const root = sshWithPassword(sshPort, 'root', '', 'true');
    assert.notEqual(root.status, 0, `root logged in with an empty password: ${root.out}`);

    // Wait for both leases to come back before looking (networkd may still be in DISCOVER).
    const probe = [
      'for i in $(seq 30); do [ "$(ip -4 -o addr show scope global | wc -l)" -ge 2 ] && break; sleep 1; done',
      'echo "user=$USER uid=$(id -u)"',
      'echo "agent=$(pidof node || echo none) $(systemctl is-active ironic-python-agent.service)"',
      // The whole boot's journal, not -u: the agent's unit starts before journald (no default dependencies), and
      // systemd logs to the kernel's log until journald runs, so that "Started" line carries no unit field.
      'echo "starts=$(journalctl -b -o cat | grep -c "^Started ironic-python-agent")"',
      'journalctl -b -o cat -u ironic-python-agent.service | grep -c "unmet condition" | sed "s/^/skipped=/"',
      'journalctl -b -o cat -u systemd-networkd.service | grep -E "DHCPv4 address 10\\.0\\.[23]\\.15" | sed "s/^/lease /"',
      'ip -4 -o addr show scope global',
      'ip -4 route show default',
      // The hand-over flushed the provisioning network's IPv6; the restarted networkd took SLAAC again.
      // (qemu's user network advertises fec0::/64, a site-scope prefix.)
      'for i in $(seq 20); do [ "$(ip -6 -o addr show | grep -c "inet6 fec0:")" -ge 2 ] && break; sleep 1; done',
      'ip -6 -o addr show',
    ].join('; ');
    const ok = sshWithPassword(sshPort, 'rescue', PASSWORD, probe);
    console.log(`dib: as rescue on the guest:\n${ok.out}`);
    assert.equal(ok.status, 0, `ssh as rescue with the password: ${ok.out}`);
    assert.match(ok.out, /^user=rescue uid=0$/m);
    assert.match(ok.out, /^agent=none (inactive|failed)$/m);
    assert.match(ok.out, /^starts=1$/m, 'the agent was started once, at boot');
    assert.match(ok.out, /^skipped=[1-9]/m, 'systemd skipped the restart on ConditionPathExists=!/etc/.rescued');
    assert.match(ok.out, /inet 10\.0\.2\.15\/24/);
    assert.match(ok.out, /inet 10\.0\.3\.15\/24/);
    assert.match(ok.out, /^default via 10\.0\.[23]\.2 /m);
    for (const mac of boot.macs)
      assert.match(ok.out, new RegExp(`inet6 ${slirpSlaac(mac)}/64`), `the NIC ${mac} has its SLAAC address again`);
    assertLeasedTwice(ok.out);
    await assertAgentGone(agentPort);
  });
});

test('rescue through the real conductor with the coreos ramdisk: the chrooted agent hands over, the HOST gets the rescue user, sshd and DHCP', {
  skip,
  timeout: 45 * 60_000,
}, async () => {
  // The coreos tests' shared build (core's key only: the rescue user needs the password).
  const b = await coreosSharedBuild();
  const boot = {
    label: 'coreos',
    kernel: b.kernel,
    initrd: b.initramfs,
    memoryMiB: 1536,
    macs: ['52:54:00:12:34:5c', '52:54:00:12:34:5d'] as [string, string],
  };
  await withRescueVm({ ...boot, rescueTimeoutMs: 900_000 }, async ({ vm, agentPort, sshPort, t0 }) => {
    await vm.waitForSerial(/ramforge-rescue: done/, 180_000);
    const serial = vm.serialText();
    assert.match(serial, /ramforge-rescue: user rescue \(group sudo, sudo\) has the conductor's password/);
    assert.match(serial, /ramforge-rescue: sshd accepts the rescue user's password/);
    assert.match(serial, /ramforge-rescue: DHCP restarted on: \S+ \S+\s*$/m, 'DHCP restarted on both NICs');
    console.log(`coreos: hand-over done ${((Date.now() - t0) / 1000).toFixed(1)} s after boot`);

    const wrong = sshWithPassword(sshPort, 'rescue', `${PASSWORD}x`, 'true');
    assert.notEqual(wrong.status, 0, 'a wrong password is refused');
    assert.match(wrong.out, /Permission denied/);
    for (const user of ['root', 'core']) {
      const other = sshWithPassword(sshPort, user, '', 'true');
      assert.notEqual(other.status, 0, `${user} logged in with an empty password: ${other.out}`);
    }

    const probe = [
      'for i in $(seq 30); do [ "$(ip -4 -o addr show scope global | wc -l)" -ge 2 ] && break; sleep 1; done',
      // The agent's unit waits RestartSec=30s before systemd tries it again and skips it on the condition.
      'for i in $(seq 60); do [ "$(sudo -n systemctl is-active ironic-python-agent.service)" != activating ] && break; sleep 1; done',
      'echo "user=$USER sudo=$(sudo -n id -u)"',
      // The login is on the host, not in the agent's container.
      'echo "host=$(cat /etc/ramforge-release | grep FLAVOR) container=$(test -d /opt/ironic-python-agent/usr/local/bin && echo beside)"',
      'echo "agent=$(pgrep -x node || echo none) $(sudo -n systemctl is-active ironic-python-agent.service)"',
      'echo "starts=$(sudo -n journalctl -b -o cat -u ironic-python-agent.service | grep -c "^Started ironic-python-agent")"',
      'sudo -n journalctl -b -o cat -u ironic-python-agent.service | grep -c "unmet condition" | sed "s/^/skipped=/"',
      'sudo -n journalctl -b -o cat -u systemd-networkd.service | grep -E "DHCPv4 address 10\\.0\\.[23]\\.15" | sed "s/^/lease /"',
      'ip -4 -o addr show scope global',
      'ip -4 route show default',
      // The hand-over flushed the provisioning network's IPv6; the restarted networkd took SLAAC again.
      // (qemu's user network advertises fec0::/64, a site-scope prefix.)
      'for i in $(seq 20); do [ "$(ip -6 -o addr show | grep -c "inet6 fec0:")" -ge 2 ] && break; sleep 1; done',
      'ip -6 -o addr show',
    ].join('; ');
    const ok = sshWithPassword(sshPort, 'rescue', PASSWORD, probe);
    console.log(`coreos: as rescue on the host:\n${ok.out}`);
    assert.equal(ok.status, 0, `ssh as rescue with the password: ${ok.out}`);
    assert.match(ok.out, /^user=rescue sudo=0$/m);
    assert.match(ok.out, /^host=FLAVOR=coreos container=beside$/m);
    assert.match(ok.out, /^agent=none (inactive|failed)$/m);
    assert.match(ok.out, /^starts=1$/m, 'the agent was started once, at boot');
    assert.match(ok.out, /^skipped=[1-9]/m, 'systemd skipped the restart on ConditionPathExists=!/opt/ironic-python-agent/etc/.rescued');
    assert.match(ok.out, /inet 10\.0\.2\.15\/24/);
    assert.match(ok.out, /inet 10\.0\.3\.15\/24/);
    assert.match(ok.out, /^default via 10\.0\.[23]\.2 /m);
    for (const mac of boot.macs)
      assert.match(ok.out, new RegExp(`inet6 ${slirpSlaac(mac)}/64`), `the NIC ${mac} has its SLAAC address again`);
    assertLeasedTwice(ok.out);
    await assertAgentGone(agentPort);
  });
});
