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
import { test } from 'node:test';
import { findRoute, parseNetworkData, planNetwork } from '../../agent/src/network-data.js';

const MAC = '52:54:00:aa:00:01';
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
