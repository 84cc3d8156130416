/**
 * tinyipa's ramforge-dhcp, run by sh over a fake /sys/class/net, with fake
 * `ip`, `udhcpc`, `hostname` and `usleep` that record their arguments: the
 * effect checked is which interfaces get a new client, that the old client
 * is gone, and what is left of its lease (addresses flushed, its DNS file).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./rootfs/usr/sbin/ramforge-dhcp', import.meta.url));
const top = mkdtempSync(join(tmpdir(), 'rf-ramforge-dhcp-'));
after(() => rmSync(top, { recursive: true, force: true }));

/** A fresh fake host: lo, eth0 and eth1 (NICs), bond0 (no device), wlan0 (wireless). */
function host(name: string): { dir: string; calls: () => string[]; run: (args: string[]) => string } {
  const dir = join(top, name);
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  // busybox ip's one-line IPv6 listing: a SLAAC address (dynamic), a static one, the link-local one.
  const v6 = [
    'case "$*" in',
    `  '-6 -o addr show dev '*' scope link') echo "9: $5    inet6 fe80::5054:ff:fe00:1/64 scope link" ;;`,
    `  '-6 -o addr show dev '*) echo "9: $5    inet6 fec0::5054:ff:fe00:1/64 scope site dynamic flags 100"`,
    '    echo "9: $5    inet6 2001:db8:5::1/64 scope global"',
    '    echo "9: $5    inet6 fe80::5054:ff:fe00:1/64 scope link" ;;',
    // busybox ip's route listing: two routes from router advertisements (with a lifetime), a static one.
    `  '-6 route show dev '*) echo "fec0::/64 dev $5  metric 256  expires 0sec"`,
    '    echo "2001:db8:cafe::/64 via fe80::3 dev $5  metric 1024 "',
    '    echo "default via fe80::2 dev $5  metric 1024  expires 0sec" ;;',
    'esac',
  ].join('\n');
  for (const tool of ['ip', 'udhcpc', 'hostname', 'usleep']) {
    writeFileSync(
      join(bin, tool),
      `#!/bin/sh\necho "${tool} $*" >> ${JSON.stringify(join(dir, 'calls'))}\n[ ${tool} = hostname ] && echo ipa-test\n${tool === 'ip' ? `${v6}\n` : ''}exit 0\n`,
    );
    chmodSync(join(bin, tool), 0o755);
  }
  for (const n of ['lo', 'eth0', 'eth1', 'bond0', 'wlan0']) mkdirSync(join(dir, 'net', n), { recursive: true });
  for (const n of ['eth0', 'eth1', 'wlan0']) writeFileSync(join(dir, 'net', n, 'device'), '');
  mkdirSync(join(dir, 'net/wlan0/wireless'));
  mkdirSync(join(dir, 'run'));
  mkdirSync(join(dir, 'etc'));
  return {
    dir,
    calls: () => (existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n') : []),
    run: (args) => {
      const r = spawnSync('sh', [SCRIPT, ...args], {
        env: {
          RAMFORGE_TEST_PATH: bin,
          RAMFORGE_SYSFS_NET: join(dir, 'net'),
          RAMFORGE_RUN: join(dir, 'run'),
          RAMFORGE_RESOLV: join(dir, 'etc/resolv.conf'),
        },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    },
  };
}

const started = (calls: string[]) =>
  calls
    .filter((c) => c.startsWith('udhcpc '))
    .map((c) => c.split(' ')[2])
    .sort();

/** The script starts udhcpc in the background (`&`) and exits: wait until `n` of them have recorded their call. */
async function settled(h: { calls: () => string[] }, n: number): Promise<string[]> {
  for (let i = 0; i < 200 && started(h.calls()).length < n; i++) await new Promise((r) => setTimeout(r, 25));
  return h.calls();
}

test('ramforge-dhcp at boot: a client on every wired NIC, none on lo, a bond or a wireless link', async () => {
  const h = host('boot');
  assert.deepEqual(h.run([]).trim().split('\n'), ['eth0', 'eth1']);
  assert.deepEqual(started(await settled(h, 2)), ['eth0', 'eth1']);
  assert.ok(!h.calls().some((c) => c.endsWith(' down')), 'no link is taken down at boot');
  assert.ok(
    h
      .calls()
      .includes(
        `udhcpc -i eth0 -s /usr/share/udhcpc/default.script -b -t 10 -T 2 -A 10 -O mtu -x hostname:ipa-test -p ${join(h.dir, 'run/udhcpc.eth0.pid')}`,
      ),
  );
});

test('ramforge-dhcp --restart (rescue): only the NICs that have a client get a new one; the old client, its addresses and its DNS servers go', async () => {
  const h = host('restart');
  // eth0 has a client from the provisioning network (a live process), eth1 none (a static link from network_data.json);
  // bond0 one the agent started (network_data.json asked DHCP on the bond).
  const old = spawn('sleep', ['60'], { stdio: 'ignore' });
  const exited = new Promise((r) => old.once('exit', r));
  const oldBond = spawn('sleep', ['60'], { stdio: 'ignore' });
  writeFileSync(join(h.dir, 'run/udhcpc.eth0.pid'), `${old.pid}\n`);
  writeFileSync(join(h.dir, 'run/udhcpc.bond0.pid'), `${oldBond.pid}\n`);
  writeFileSync(join(h.dir, 'etc/resolv.conf.eth0'), 'nameserver 192.0.2.53\n');
  // eth0's lease (the udhcpc script's file); bond0's client never got one.
  writeFileSync(join(h.dir, 'run/udhcpc.eth0.lease'), '10.0.2.15/24\n');
  writeFileSync(join(h.dir, 'etc/resolv.conf.eth1'), 'nameserver 198.51.100.53\n');
  try {
    assert.deepEqual(h.run(['--restart']).trim().split('\n'), ['bond0', 'eth0']);
    await exited;
    assert.equal(old.exitCode ?? old.signalCode, 'SIGTERM', 'the old client was stopped');
    assert.deepEqual(started(await settled(h, 2)), ['bond0', 'eth0']);
    // Only the lease's address goes (a static one from network_data.json on the same link stays): none on bond0.
    assert.ok(h.calls().includes('ip -4 addr del 10.0.2.15/24 dev eth0'), h.calls().join('\n'));
    assert.ok(!h.calls().some((c) => /^ip -4 addr (flush|del) .*bond0/.test(c)), h.calls().join('\n'));
    assert.ok(!existsSync(join(h.dir, 'run/udhcpc.eth0.lease')), 'the lease file is gone with its address');
    // The lease's default route too (it outlives the address while a static one keeps IPv4 up on the link).
    assert.ok(h.calls().includes('ip -4 route del default dev eth0'), h.calls().join('\n'));
    // IPv6 of the provisioning network: its dynamic address and router routes go, the static one stays; the
    // link-local address is added again (DAD, then router solicitations); no link goes down (VLANs on it would too).
    const calls = h.calls();
    for (const n of ['eth0', 'bond0']) {
      for (const c of [
        `ip -6 addr del fec0::5054:ff:fe00:1/64 dev ${n}`,
        `ip -6 route del fec0::/64 dev ${n} metric 256`,
        `ip -6 route del default via fe80::2 dev ${n} metric 1024`,
        `ip -6 addr del fe80::5054:ff:fe00:1/64 dev ${n}`,
        `ip -6 addr add fe80::5054:ff:fe00:1/64 dev ${n}`,
      ])
        assert.ok(calls.includes(c), `${c}:\n${calls.join('\n')}`);
      assert.ok(calls.indexOf(`ip -6 addr add fe80::5054:ff:fe00:1/64 dev ${n}`) < calls.indexOf(`ip link set ${n} up`));
    }
    assert.ok(!calls.some((c) => c.includes('2001:db8:5::1') || c.includes('cafe')), 'the static IPv6 address and route stay');
    assert.ok(!calls.some((c) => c.endsWith(' down')), 'no link goes down');
    assert.ok(!h.calls().some((c) => c.includes('eth1')), h.calls().join('\n'));
    assert.ok(!existsSync(join(h.dir, 'etc/resolv.conf.eth0')), "the provisioning lease's DNS servers are gone");
    assert.ok(existsSync(join(h.dir, 'etc/resolv.conf.eth1')), 'a link without a client is left alone');
  } finally {
    old.kill('SIGKILL');
    oldBond.kill('SIGKILL');
  }
});

test('ramforge-dhcp --restart: a link whose default route network_data.json gave keeps it (the lease added none)', async () => {
  const h = host('restart-static-default');
  const old = spawn('sleep', ['60'], { stdio: 'ignore' });
  writeFileSync(join(h.dir, 'run/udhcpc.eth0.pid'), `${old.pid}\n`);
  writeFileSync(join(h.dir, 'run/udhcpc.eth0.lease'), '10.0.2.15/24\n');
  mkdirSync(join(h.dir, 'run/ramforge'));
  writeFileSync(join(h.dir, 'run/ramforge/static-default-routes'), 'eth0 10.0.2.1\n');
  try {
    assert.deepEqual(h.run(['--restart']).trim().split('\n'), ['eth0']);
    await settled(h, 1);
    assert.ok(h.calls().includes('ip -4 addr del 10.0.2.15/24 dev eth0'), h.calls().join('\n'));
    assert.ok(!h.calls().some((c) => c.startsWith('ip -4 route del')), h.calls().join('\n'));
  } finally {
    old.kill('SIGKILL');
  }
});
