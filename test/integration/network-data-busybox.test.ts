/**
 * The `ip` commands planNetwork() emits, run for real with busybox's `ip`
 * (what tinyipa ships) in a fresh user + network namespace on a veth pair
 * whose MAC the document names; the effect is read back with iproute2.
 * Bonds and VLANs are left out here: this host's kernel has neither the
 * bonding nor the 8021q driver (even iproute2 answers "Unknown device type");
 * they are applied for real in the booted ramdisk by agent-vmedia.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { findRoute, parseNetworkData, planNetwork } from '../../agent/src/network-data.js';

const MAC = '52:54:00:aa:00:01';
const RAMFORGE_DHCP = fileURLToPath(new URL('../../builder/src/flavors/tinyipa/rootfs/usr/sbin/ramforge-dhcp', import.meta.url));
const DOC = {
  links: [{ id: 'port-1', type: 'phy', ethernet_mac_address: MAC.toUpperCase(), mtu: 1400 }],
  networks: [
    {
      type: 'ipv4',
      link: 'port-1',
      ip_address: '192.0.2.20',
      netmask: '255.255.255.0',
      routes: [
        { network: '0.0.0.0', netmask: '0.0.0.0', gateway: '192.0.2.1' },
        { network: '198.51.100.0', netmask: '255.255.255.128', gateway: '192.0.2.254' },
      ],
    },
    { type: 'ipv6', link: 'port-1', ip_address: '2001:db8::5/64', routes: [{ network: '::', netmask: '::', gateway: '2001:db8::1' }] },
  ],
};

const sh = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

test('busybox ip accepts every command of a static IPv4 + IPv6 plan, with the effect it should have', () => {
  const parsed = parseNetworkData(JSON.stringify(DOC));
  assert.ok(parsed.ok);
  const plan = planNetwork(parsed.data, [{ name: 'v0', mac: MAC }]);
  const commands = plan.actions.map((a) => {
    assert.ok('run' in a, 'no file writes in this plan but resolv.conf, which has no DNS here');
    assert.equal(a.run[0], 'ip');
    return ['/bin/busybox', ...a.run].map(sh).join(' ');
  });
  const script = [
    'set -e',
    `ip link add v0 address ${MAC} type veth peer name v1`,
    'ip link set v1 up',
    ...commands,
    // IPv6 DAD would hide the address as "tentative"; the read-back does not care.
    'ip -o -4 addr show dev v0',
    'ip -o -6 addr show dev v0 scope global',
    'ip -4 route',
    'ip -6 route show default',
    'ip -o link show v0',
    // The route tables as the agent reads them after a "File exists" (findRoute), from both ip's.
    ...['-4', '-6'].flatMap((f) => [
      `echo '== busybox ${f}'`,
      `/bin/busybox ip ${f} route show`,
      `echo '== iproute2 ${f}'`,
      `ip ${f} route show`,
    ]),
    "echo '== end'",
  ].join('\n');
  const out = execFileSync('unshare', ['-rn', 'sh', '-c', script], { encoding: 'utf8' });
  assert.match(out, /inet 192\.0\.2\.20\/24/);
  assert.match(out, /inet6 2001:db8::5\/64/);
  assert.match(out, /^default via 192\.0\.2\.1 dev v0/m);
  assert.match(out, /^198\.51\.100\.0\/25 via 192\.0\.2\.254 dev v0/m);
  assert.match(out, /^default via 2001:db8::1 dev v0/m);
  assert.match(out, /mtu 1400/);
  assert.match(out, /state UP|,UP/);
  const section = (name: string) =>
    out.slice(out.indexOf(`== ${name}\n`) + name.length + 4, out.indexOf('\n==', out.indexOf(`== ${name}\n`)));
  const routes = plan.actions.flatMap((a) => ('run' in a && a.run[2] === 'route' ? [a.run] : []));
  assert.equal(routes.length, 3);
  for (const argv of routes)
    for (const ip of ['busybox', 'iproute2']) {
      const listing = section(`${ip} ${argv[1]}`);
      assert.ok(findRoute(listing, argv).present, `${ip} lists ${argv.join(' ')}:\n${listing}`);
    }
});

test("tinyipa's ramforge-dhcp --restart (the rescue) with busybox ip: the provisioning network's dynamic IPv6 and RA routes go, static ones stay, routers are solicited again", () => {
  const tmp = mkdtempSync(join(tmpdir(), 'rf-dhcp-v6-'));
  try {
    const bin = join(tmp, 'bin');
    mkdirSync(bin);
    mkdirSync(join(tmp, 'net/v0'), { recursive: true });
    writeFileSync(join(tmp, 'net/v0/device'), '');
    mkdirSync(join(tmp, 'run'));
    // The real ip is busybox's (as in tinyipa); the DHCP client and the rest are stand-ins that record their call.
    symlinkSync('/bin/busybox', join(bin, 'ip'));
    for (const tool of ['udhcpc', 'hostname', 'usleep'])
      writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> ${join(tmp, 'calls')}\n`, { mode: 0o755 });
    const script = [
      'set -e',
      `ip link add v0 address ${MAC} type veth peer name v1`,
      'ip link set v1 up',
      // One router solicitation at link up, not the kernel's endless retries: the count below then rises only
      // by the one the restart's link-local re-add causes.
      'echo 1 > /proc/sys/net/ipv6/conf/v0/router_solicitations',
      'ip link set v0 up',
      // The link-local address first (DAD), as on a NIC that has been up a while.
      'for i in $(seq 50); do ip -6 addr show dev v0 scope link | grep -q "inet6.*scope link" && ! ip -6 addr show dev v0 | grep -q tentative && break; sleep 0.2; done',
      // What the provisioning network left: a SLAAC address and routes from its router (with a lifetime and proto ra,
      // as the kernel makes them from an advertisement; made here with iproute2).
      'ip -6 addr add 2001:db8:dead::1/64 dev v0 valid_lft 600 preferred_lft 600',
      'ip -6 route add 2001:db8:beef::/64 via fe80::2 dev v0 proto ra expires 600',
      'ip -6 route add default via fe80::2 dev v0 proto ra expires 600',
      // What network_data.json configured: stays.
      'ip -6 addr add 2001:db8:5::1/64 dev v0 nodad',
      'ip -6 route add 2001:db8:cafe::/64 via fe80::3 dev v0',
      `sleep 60 & echo $! > ${join(tmp, 'run/udhcpc.v0.pid')}`,
      'echo "rs_before $(awk \'/Icmp6OutRouterSolicits/ {print $2}\' /proc/net/dev_snmp6/v0)"',
      `RAMFORGE_TEST_PATH=${bin} RAMFORGE_SYSFS_NET=${join(tmp, 'net')} RAMFORGE_RUN=${join(tmp, 'run')} RAMFORGE_RESOLV=${join(tmp, 'resolv.conf')} sh ${RAMFORGE_DHCP} --restart`,
      'sleep 3',
      'echo "rs_after $(awk \'/Icmp6OutRouterSolicits/ {print $2}\' /proc/net/dev_snmp6/v0)"',
      "echo '== addresses'",
      'ip -6 -o addr show dev v0',
      "echo '== routes'",
      'ip -6 route show dev v0',
      "echo '== end'",
    ].join('\n');
    const out = execFileSync('unshare', ['-rn', 'sh', '-c', script], { encoding: 'utf8' });
    const addrs = out.slice(out.indexOf('== addresses'), out.indexOf('== routes'));
    const routes = out.slice(out.indexOf('== routes'), out.indexOf('== end'));
    assert.doesNotMatch(addrs, /2001:db8:dead::1/, `the dynamic address is gone:\n${out}`);
    assert.match(addrs, /inet6 2001:db8:5::1\/64/, `the static address stays:\n${out}`);
    assert.match(addrs, /inet6 fe80::/, `the link-local address is back:\n${out}`);
    assert.doesNotMatch(routes, /2001:db8:beef::|^default via fe80::2/m, `the RA routes are gone:\n${out}`);
    assert.match(routes, /^2001:db8:cafe::\/64 via fe80::3/m, `the static route stays:\n${out}`);
    const rs = (k: string) => Number(new RegExp(`^${k} (\\d+)$`, 'm').exec(out)?.[1]);
    assert.ok(rs('rs_after') > rs('rs_before'), `routers solicited again:\n${out}`);
    assert.match(readFileSync(join(tmp, 'calls'), 'utf8'), /^udhcpc -i v0 /m, 'a new DHCP client on v0');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
