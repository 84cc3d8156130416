/** network_data.json: parse, plan (pure, from sample documents), apply (argv and files read back). */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createMemoryLog } from '../test/support/logs.js';
import {
  configureNetworkData,
  findRoute,
  listInterfaces,
  parseNetworkData,
  planNetwork,
  prefixLength,
  STATIC_DEFAULTS,
  udhcpcArgv,
  udhcpcStopArgv,
  writeRetryingDown,
  type NetworkData,
} from './network-data.js';
import type { ProgramRunner } from './util/exec.js';

const tmp = mkdtempSync(join(tmpdir(), 'rf-netdata-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const HOST = [
  { name: 'eno1', mac: '52:54:00:aa:00:01' },
  { name: 'eno2', mac: '52:54:00:aa:00:02' },
  { name: 'eno3', mac: '52:54:00:aa:00:03' },
];
const PATHS = { sysfs: '/sys/class/net', resolvConf: '/etc/resolv.conf' };

/** One static IPv4 NIC with a default route and DNS, as Neutron writes it. */
const STATIC_V4 = {
  links: [{ id: 'tap-1', type: 'phy', ethernet_mac_address: '52:54:00:AA:00:01', mtu: 9000 }],
  networks: [
    {
      id: 'network0',
      type: 'ipv4',
      link: 'tap-1',
      ip_address: '192.0.2.10',
      netmask: '255.255.255.0',
      routes: [
        { network: '0.0.0.0', netmask: '0.0.0.0', gateway: '192.0.2.1' },
        { network: '198.51.100.0', netmask: '255.255.255.128', gateway: '192.0.2.254' },
      ],
      network_id: 'da5bb487-5193-4a65-a3df-4a0055a8c0d7',
    },
  ],
  services: [{ type: 'dns', address: '192.0.2.53' }],
};

/** Two NICs bonded (802.3ad), a VLAN on the bond with IPv4 and IPv6, the third NIC by DHCP. */
const BOND_VLAN = {
  links: [
    { id: 'nic0', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:01' },
    { id: 'nic1', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:02' },
    {
      id: 'bond0',
      type: 'bond',
      bond_links: ['nic0', 'nic1'],
      bond_mode: '802.3ad',
      bond_miimon: 100,
      bond_xmit_hash_policy: 'layer3+4',
      ethernet_mac_address: '52:54:00:aa:00:01',
      mtu: 9000,
    },
    { id: 'vlan101', type: 'vlan', vlan_link: 'bond0', vlan_id: 101, vlan_mac_address: '52:54:00:aa:00:01' },
    { id: 'nic2', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:03' },
  ],
  networks: [
    {
      id: 'n4',
      type: 'ipv4',
      link: 'vlan101',
      ip_address: '10.1.0.5',
      netmask: '255.255.0.0',
      routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: '10.1.0.1' }],
      services: [{ type: 'dns', address: '10.1.0.2' }],
      dns_search: ['example.org'],
    },
    {
      id: 'n6',
      type: 'ipv6',
      link: 'vlan101',
      ip_address: '2001:db8:1::5',
      netmask: 'ffff:ffff:ffff:ffff::',
      routes: [{ network: '::', netmask: '::', gateway: '2001:db8:1::1' }],
    },
    { id: 'n-dhcp', type: 'ipv4_dhcp', link: 'nic2' },
  ],
  services: [{ type: 'dns', address: '2001:db8::53' }],
};

function plan(doc: unknown) {
  const p = parseNetworkData(JSON.stringify(doc));
  assert.ok(p.ok, p.ok ? '' : p.reason);
  return planNetwork(p.data as NetworkData, HOST, PATHS);
}
const runs = (p: ReturnType<typeof plan>) =>
  p.actions.map((a) =>
    'run' in a
      ? a.run[3] === 'ramforge-dhcp-stop'
        ? `stop udhcpc on ${a.run[4]}`
        : a.run.join(' ')
      : 'write' in a
        ? `${a.write} <- ${a.value}`
        : `dhcp ${a.dhcp} v${a.families.join('+')}`,
  );

test('prefixLength: dotted, IPv6 and numeric masks; holes refused', () => {
  assert.equal(prefixLength('255.255.255.0', 4), 24);
  assert.equal(prefixLength('0.0.0.0', 4), 0);
  assert.equal(prefixLength('255.255.255.255', 4), 32);
  assert.equal(prefixLength('ffff:ffff:ffff:ffff::', 6), 64);
  assert.equal(prefixLength('::', 6), 0);
  assert.equal(prefixLength('64', 6), 64);
  assert.equal(prefixLength('255.0.255.0', 4), undefined);
  assert.equal(prefixLength('33', 4), undefined);
});

test('plan: a static IPv4 NIC matched by MAC (any case), MTU, routes, DNS', () => {
  const p = plan(STATIC_V4);
  assert.deepEqual(p.devices, { 'tap-1': 'eno1' });
  assert.deepEqual(p.warnings, []);
  assert.deepEqual(runs(p), [
    'ip link set eno1 mtu 9000',
    'ip link set eno1 up',
    'ip -4 addr add 192.0.2.10/24 dev eno1',
    'ip -4 route add default via 192.0.2.1 dev eno1',
    'ip -4 route add 198.51.100.0/25 via 192.0.2.254 dev eno1',
    '/etc/resolv.conf <- # written by the ramforge agent from network_data.json\nnameserver 192.0.2.53\n',
  ]);
});

test('plan: bond through sysfs (mode before members, members down), VLAN on the bond, IPv4 + IPv6, DHCP link only up', () => {
  const p = plan(BOND_VLAN);
  assert.deepEqual(p.devices, { nic0: 'eno1', nic1: 'eno2', bond0: 'bond0', vlan101: 'bond0.101', nic2: 'eno3' });
  assert.deepEqual(runs(p), [
    'modprobe bonding max_bonds=0',
    '/sys/class/net/bonding_masters <- +bond0',
    'ip link set bond0 down',
    '/sys/class/net/bond0/bonding/mode <- 802.3ad',
    '/sys/class/net/bond0/bonding/miimon <- 100',
    '/sys/class/net/bond0/bonding/xmit_hash_policy <- layer3+4',
    'stop udhcpc on eno1',
    'ip link set eno1 down',
    '/sys/class/net/bond0/bonding/slaves <- +eno1',
    'stop udhcpc on eno2',
    'ip link set eno2 down',
    '/sys/class/net/bond0/bonding/slaves <- +eno2',
    'ip link set bond0 address 52:54:00:aa:00:01',
    'ip link set eno1 up',
    'ip link set eno2 up',
    'ip link set eno3 up',
    'ip link set bond0 mtu 9000',
    'ip link set bond0 up',
    'modprobe 8021q',
    'ip link add link bond0 name bond0.101 type vlan id 101',
    'ip link set bond0.101 up',
    'ip -4 addr add 10.1.0.5/16 dev bond0.101',
    'ip -4 route add default via 10.1.0.1 dev bond0.101',
    'ip -6 addr add 2001:db8:1::5/64 dev bond0.101',
    'ip -6 route add default via 2001:db8:1::1 dev bond0.101',
    '/etc/resolv.conf <- # written by the ramforge agent from network_data.json\nsearch example.org\nnameserver 2001:db8::53\nnameserver 10.1.0.2\n',
  ]);
  // No form busybox ip lacks: no "type bond", no -j, no "dev" after "link set".
  assert.ok(!runs(p).some((r) => /type bond|-j |link set dev/.test(r)));
});

test('plan: a link whose MAC is not on the host is skipped with a warning, with what sits on it', () => {
  const doc = structuredClone(BOND_VLAN);
  doc.links[0]!.ethernet_mac_address = '52:54:00:ff:ff:ff';
  doc.links[1]!.ethernet_mac_address = '52:54:00:ff:ff:fe';
  const p = plan(doc);
  assert.equal(p.devices.bond0, undefined);
  assert.equal(p.devices.vlan101, undefined);
  assert.equal(p.devices.nic2, 'eno3');
  assert.ok(p.warnings.some((w) => w.includes('52:54:00:ff:ff:ff')));
  assert.ok(p.warnings.some((w) => w.startsWith('bond bond0')));
  assert.ok(!runs(p).some((r) => r.includes('bond0')));
});

test('IPv6 with a /prefix in ip_address', () => {
  const p = plan({
    links: [{ id: 'l', type: 'ethernet', ethernet_mac_address: '52:54:00:aa:00:02' }],
    networks: [{ type: 'ipv6', link: 'l', ip_address: '2001:db8::7/56' }],
  });
  assert.ok(runs(p).includes('ip -6 addr add 2001:db8::7/56 dev eno2'));
});

test('a document that is not an object with a list of links is refused with the reason', () => {
  const reason = (text: string): string => {
    const r = parseNetworkData(text);
    assert.equal(r.ok, false);
    return (r as { reason: string }).reason;
  };
  assert.match(reason('{"links": ['), /^not valid JSON/);
  assert.match(reason('[]'), /JSON object/);
  assert.match(reason('{"links": {}}'), /^links: expected a list/);
});

test('a bad link, network, route or DNS entry is skipped with a warning naming the place; the rest is kept', () => {
  const warned = (doc: object) => {
    const r = parseNetworkData(JSON.stringify(doc));
    assert.ok(r.ok, r.ok ? '' : r.reason);
    return r;
  };
  const A = { id: 'a', ethernet_mac_address: '52:54:00:aa:00:01' };
  const NET = { id: 'good', type: 'ipv4', link: 'a', ip_address: '192.0.2.10', netmask: '255.255.255.0' };
  const links = (...bad: object[]) => warned({ links: [A, ...bad], networks: [NET] });
  const cases: Array<[object, RegExp]> = [
    [{ type: 'phy' }, /^links\[1\]\.id: missing; this link is skipped/],
    [{ id: 'm', ethernet_mac_address: 'zz' }, /^links\[1\]\.ethernet_mac_address: not a MAC/],
    [{ id: 'b', type: 'bond', bond_links: ['x'] }, /^links\[1\]\.bond_links: none of the bond's links is usable/],
    [{ id: 'b', type: 'bond', bond_links: ['a'], bond_mode: 'fast' }, /bond_mode: unknown bonding mode "fast"/],
    [{ id: 'v', type: 'vlan', vlan_link: 'a', vlan_id: 5000 }, /vlan_id: expected a whole number 0-4094/],
    [{ id: 'v', type: 'vlan', vlan_link: 'nope', vlan_id: 5 }, /vlan_link: no \(usable\) link with id "nope"/],
    [{ id: 'a' }, /the id "a" is used twice/],
  ];
  for (const [bad, re] of cases) {
    const r = links(bad);
    assert.deepEqual(
      r.data.links.map((l) => l.id),
      ['a'],
      JSON.stringify(bad),
    );
    assert.equal(r.data.networks.length, 1);
    assert.ok(
      r.warnings.some((w) => re.test(w)),
      `${JSON.stringify(bad)}: ${r.warnings.join(' | ')}`,
    );
  }
  // What sits on a skipped link goes with it: a VLAN on a bond with no usable member, a network on either.
  const chain = warned({
    links: [A, { id: 'b', type: 'bond', bond_links: ['gone'] }, { id: 'v', type: 'vlan', vlan_link: 'b', vlan_id: 7 }],
    networks: [NET, { type: 'ipv4_dhcp', link: 'v' }],
  });
  assert.deepEqual(
    chain.data.links.map((l) => l.id),
    ['a'],
  );
  assert.deepEqual(
    chain.data.networks.map((n) => n.id),
    ['good'],
  );
  assert.ok(chain.warnings.some((w) => /^networks\[1\]\.link: no \(usable\) link with id "v"; this network is skipped/.test(w)));
  // A bond keeps its usable members.
  const partial = warned({ links: [A, { id: 'b', type: 'bond', bond_links: ['a', 'gone'] }], networks: [] });
  assert.deepEqual(partial.data.links[1]!.bondLinks, ['a']);

  const nets = (...bad: object[]) => warned({ links: [A], networks: [NET, ...bad], services: [{ type: 'dns', address: 'x' }] });
  const ncases: Array<[object, RegExp]> = [
    [{ type: 'ipv4', link: 'b', ip_address: '1.2.3.4', netmask: '255.0.0.0' }, /^networks\[1\]\.link: no \(usable\) link/],
    [{ type: 'ipv4', link: 'a', ip_address: '1.2.3.400', netmask: '255.0.0.0' }, /ip_address: not an IPv4 address/],
    [{ type: 'ipv4', link: 'a', ip_address: '10.0.2.010', netmask: '255.0.0.0' }, /ip_address: not an IPv4 address/],
    [{ type: 'ipv4', link: 'a', ip_address: '1.2.3.4', netmask: '255.0.255.0' }, /netmask: not a netmask/],
    [{ type: 'ipv5', link: 'a' }, /type: unknown network type/],
  ];
  for (const [bad, re] of ncases) {
    const r = nets(bad);
    assert.deepEqual(
      r.data.networks.map((n) => n.id),
      ['good'],
      JSON.stringify(bad),
    );
    assert.ok(
      r.warnings.some((w) => re.test(w) && w.endsWith('this network is skipped')),
      `${JSON.stringify(bad)}: ${r.warnings.join(' | ')}`,
    );
    assert.ok(r.warnings.some((w) => /^services\[0\]\.address: not an IP address/.test(w)));
    assert.deepEqual(r.data.dns, []);
  }
  // A bad route: only that route goes.
  const r = nets({
    type: 'ipv4',
    link: 'a',
    ip_address: '1.2.3.4/8',
    routes: [
      { network: '0.0.0.0', gateway: 'x' },
      { network: '0.0.0.0', gateway: '1.0.0.1' },
    ],
  });
  assert.deepEqual(r.data.networks[1]!.routes, [{ dest: 'default', gateway: '1.0.0.1' }]);
  assert.ok(r.warnings.some((w) => /^networks\[1\]\.routes\[0\]\.gateway: not an IPv4 address.*this route is skipped/.test(w)));
});

test("Ironic's schema: bond_mode 802.1ad is the kernel's 802.3ad; embedded-IPv4 IPv6 addresses; no ip_address or netmask", () => {
  const r = parseNetworkData(
    JSON.stringify({
      links: [
        { id: 'p1', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:01' },
        { id: 'p2', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:02' },
        { id: 'bond0', type: 'bond', ethernet_mac_address: '52:54:00:aa:00:01', bond_mode: '802.1ad', bond_links: ['p1', 'p2'] },
      ],
      networks: [
        { id: 'v6', type: 'ipv6', link: 'bond0', ip_address: '2001:db8:3:4::192.168.81.99', netmask: 'ffff:ffff:ffff:ffff::' },
        { id: 'v4', type: 'ipv4', link: 'bond0', ip_address: '192.0.2.7' },
        { id: 'bare', type: 'ipv4', link: 'bond0' },
        { id: 'mapped', type: 'ipv6', link: 'bond0', ip_address: '::ffff:192.0.2.9/128' },
      ],
    }),
  );
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.equal(r.data.links[2]!.bondMode, '802.3ad');
  assert.deepEqual(
    r.data.networks.map((n) => n.cidr),
    ['2001:db8:3:4::192.168.81.99/64', '192.0.2.7/32', undefined, '::ffff:192.0.2.9/128'],
  );
  assert.ok(r.warnings.some((w) => w.startsWith('networks[1]: no netmask')));
  assert.ok(r.warnings.some((w) => w.startsWith('networks[2]: an ipv4 network without ip_address')));
  const p = planNetwork(r.data, HOST, PATHS);
  assert.ok(runs(p as ReturnType<typeof plan>).includes('/sys/class/net/bond0/bonding/mode <- 802.3ad'));
  assert.ok(runs(p as ReturnType<typeof plan>).includes('ip -6 addr add 2001:db8:3:4::192.168.81.99/64 dev bond0'));
  assert.equal(prefixLength('ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.0', 6), 120);
  assert.equal(prefixLength('::1.2.3.400', 6), undefined);
});

test('MACs with "-" (as the schema allows); a route without a netmask is skipped unless it is the default; one VLAN id on two long-named parents gets two devices', () => {
  const long = [
    { name: 'enp129s0f0np0', mac: '52:54:00:aa:00:01' },
    { name: 'enp129s0f1np1', mac: '52:54:00:aa:00:02' },
  ];
  const r = parseNetworkData(
    JSON.stringify({
      links: [
        { id: 'a', type: 'phy', ethernet_mac_address: '52-54-00-AA-00-01' },
        { id: 'b', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:02' },
        { id: 'va', type: 'vlan', vlan_link: 'a', vlan_id: 100 },
        { id: 'vb', type: 'vlan', vlan_link: 'b', vlan_id: 100 },
      ],
      networks: [
        {
          id: 'n-a',
          type: 'ipv4',
          link: 'va',
          ip_address: '10.1.0.5',
          netmask: '255.255.255.0',
          routes: [
            { network: '172.16.0.0', gateway: '10.1.0.1' },
            { network: '0.0.0.0', gateway: '10.1.0.1' },
          ],
        },
        { id: 'n-b', type: 'ipv4', link: 'vb', ip_address: '10.2.0.5', netmask: '255.255.255.0' },
      ],
    }),
  );
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.equal(r.data.links[0]!.mac, '52:54:00:aa:00:01');
  assert.ok(
    r.warnings.some((w) =>
      /networks\[0\]\.routes\[0\]\.netmask: missing, and network 172\.16\.0\.0 is not the default route's; this route is skipped/.test(w),
    ),
    r.warnings.join('\n'),
  );
  const p = planNetwork(r.data, long, PATHS);
  assert.deepEqual(p.devices, { a: 'enp129s0f0np0', b: 'enp129s0f1np1', va: 'vlan100', vb: 'vlan100-1' });
  const cmds = runs(p as ReturnType<typeof plan>);
  assert.ok(cmds.includes('ip link add link enp129s0f1np1 name vlan100-1 type vlan id 100'), cmds.join('\n'));
  assert.ok(cmds.includes('ip -4 addr add 10.2.0.5/24 dev vlan100-1'));
  assert.ok(cmds.includes('ip -4 route add default via 10.1.0.1 dev vlan100'));
  assert.ok(!cmds.some((c) => c.includes('172.16.0.0')));
});

test("Nova/metalsmith's ipv6_dhcpv6-stateful/-stateless on a NIC: no address invented, left to the kernel and the ramdisk", () => {
  const p = plan({
    links: [{ id: 'p0', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:01' }],
    networks: [
      { id: 'n4', type: 'ipv4', link: 'p0', ip_address: '192.0.2.10', netmask: '255.255.255.0' },
      { id: 'a', type: 'ipv6_dhcpv6-stateful', link: 'p0' },
      { id: 'b', type: 'ipv6_dhcpv6-stateless', link: 'p0' },
    ],
  });
  assert.deepEqual(runs(p), ['ip link set eno1 up', 'ip -4 addr add 192.0.2.10/24 dev eno1']);
  assert.deepEqual(p.leftToRamdisk, { eno1: ['ipv6_dhcpv6-stateful', 'ipv6_dhcpv6-stateless'] });
});

test('configureNetworkData: applies through the runner, writes sysfs and resolv.conf under the root; failures logged, the rest goes on', async () => {
  const root = join(tmp, 'apply');
  const sysfs = join(root, 'sys/class/net');
  for (const i of HOST) {
    mkdirSync(join(sysfs, i.name, 'device'), { recursive: true });
    writeFileSync(join(sysfs, i.name, 'address'), `${i.mac}\n`);
  }
  mkdirSync(join(sysfs, 'lo'), { recursive: true });
  writeFileSync(join(sysfs, 'lo/address'), '00:00:00:00:00:00\n');
  writeFileSync(join(sysfs, 'bonding_masters'), '');
  mkdirSync(join(root, 'etc'), { recursive: true });
  const calls: string[] = [];
  const run = (async (argv: string[]) => {
    calls.push(argv.join(' '));
    if (argv.join(' ') === 'ip -6 route add default via 2001:db8:1::1 dev bond0.101')
      throw new Error('RTNETLINK answers: Network is unreachable');
    // What the kernel makes on "+bond0" (a plain file here), made early enough for the writes.
    if (argv[0] === 'modprobe') {
      mkdirSync(join(sysfs, 'bond0/bonding'), { recursive: true });
      throw new Error('modprobe: module bonding not found');
    }
    return { stdout: '', stderr: '' };
  }) as ProgramRunner;
  const log = createMemoryLog();
  await configureNetworkData(JSON.stringify(BOND_VLAN), { root, run, log, source: 'vmedia network_data.json', dhcp: 'udhcpc' });
  assert.equal(readFileSync(join(sysfs, 'bond0/bonding/mode'), 'utf8'), '802.3ad');
  assert.equal(readFileSync(join(sysfs, 'bonding_masters'), 'utf8'), '+bond0');
  assert.equal(readFileSync(join(sysfs, 'bond0/bonding/slaves'), 'utf8'), '+eno2'); // the last write of a plain file
  assert.match(readFileSync(join(root, 'etc/resolv.conf'), 'utf8'), /^nameserver 10\.1\.0\.2$/m);
  assert.ok(calls.includes('ip link add link bond0 name bond0.101 type vlan id 101'));
  assert.ok(calls.includes('ip -4 addr add 10.1.0.5/16 dev bond0.101'));
  assert.ok(log.lines.some((l) => l.startsWith('WARNING') && l.includes('Network is unreachable')));
  assert.ok(!log.lines.some((l) => l.startsWith('WARNING') && l.includes('modprobe')), 'modprobe is optional');
  assert.ok(log.lines.some((l) => l.startsWith('INFO') && l.includes('bond0=bond0') && l.includes('1 step(s) failed')));
  assert.ok(
    log.lines.some(
      (l) => l.startsWith('INFO') && l.includes('10.1.0.5/16 on bond0.101') && l.includes('DHCP started by the agent: eno3 (udhcpc'),
    ),
  );
  // tinyipa: udhcpc on the ipv4_dhcp NIC only, after its link is up; not on the bond's members.
  assert.deepEqual(
    calls.filter((c) => / ramforge-dhcp \S+$/.test(c)).map((c) => c.split(' ').at(-1)),
    ['eno3'],
  );
  assert.ok(calls.indexOf('ip link set eno3 up') < calls.findIndex((c) => c.endsWith(' ramforge-dhcp eno3')));

  const bad = createMemoryLog();
  const before = calls.length;
  await configureNetworkData('{"links": {}}', { root, run, log: bad, source: 'vmedia network_data.json' });
  assert.equal(calls.length, before, 'nothing runs for a malformed document (no ramforge-dhcp under this root)');
  assert.ok(bad.lines.some((l) => l.startsWith('ERROR') && l.includes('links: expected a list') && l.includes('ignored')));
});

/** A bond and a VLAN on it, both asking for DHCP; a NIC with DHCP of its own (the ramdisk's client covers it). */
const DHCP_VIRTUAL = {
  links: [
    { id: 'p1', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:01' },
    { id: 'p2', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:02' },
    { id: 'bond0', type: 'bond', ethernet_mac_address: '52:54:00:aa:00:01', bond_mode: '802.1ad', bond_links: ['p1', 'p2'] },
    { id: 'v7', type: 'vlan', vlan_link: 'bond0', vlan_id: 7 },
    { id: 'p3', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:03' },
  ],
  networks: [
    { id: 'a', type: 'ipv4_dhcp', link: 'bond0' },
    { id: 'b', type: 'ipv6_dhcp', link: 'bond0' },
    { id: 'c', type: 'ipv4_dhcp', link: 'v7' },
    { id: 'd', type: 'ipv4_dhcp', link: 'p3' },
  ],
};

test('plan: DHCP on a bond or VLAN is an action of its own (no ramdisk client runs there); on a NIC it is left to the ramdisk', () => {
  const p = plan(DHCP_VIRTUAL);
  assert.deepEqual(
    runs(p).filter((r) => r.startsWith('dhcp')),
    ['dhcp bond0 v4+6', 'dhcp bond0.7 v4'],
  );
  assert.deepEqual(p.leftToRamdisk, { eno3: ['ipv4_dhcp'] });
});

/** Per link, as glean does: a static NIC, a DHCP NIC, an IPv6-SLAAC-only NIC, a NIC the document does not name, and one in a bond it does not name. */
const PER_LINK = {
  links: [
    { id: 'static', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:01' },
    { id: 'dhcp', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:02' },
    { id: 'slaac', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:03' },
  ],
  networks: [
    { id: 's', type: 'ipv4', link: 'static', ip_address: '192.0.2.10/24' },
    { id: 'd', type: 'ipv4_dhcp', link: 'dhcp' },
    { id: 'd6', type: 'ipv6_dhcp', link: 'dhcp' },
    { id: 'a', type: 'ipv6_slaac', link: 'slaac' },
  ],
};
const PER_LINK_HOST = [
  { name: 'eno1', mac: '52:54:00:aa:00:01' },
  { name: 'eno2', mac: '52:54:00:aa:00:02' },
  { name: 'eno3', mac: '52:54:00:aa:00:03' },
  { name: 'eno4', mac: '52:54:00:aa:00:04' },
  { name: 'eno5', mac: '52:54:00:aa:00:05', master: 'bond9' },
];

test('plan: DHCPv4 per NIC: exactly the links with an ipv4_dhcp network and the NICs the document does not name (not a static, SLAAC-only or bonded one)', () => {
  const p = parseNetworkData(JSON.stringify(PER_LINK));
  assert.ok(p.ok);
  const got = planNetwork(p.data, PER_LINK_HOST, PATHS);
  assert.deepEqual(got.nicDhcp, ['eno2', 'eno4']);
  assert.ok(!got.actions.some((a) => 'dhcp' in a), 'no DHCP action for a NIC (that is nicDhcp)');
  assert.deepEqual(got.leftToRamdisk, { eno2: ['ipv4_dhcp', 'ipv6_dhcp'], eno3: ['ipv6_slaac'] });
  // networkd (dib, coreos) does the same: eno2 stays with its wired default (DHCP=yes), the SLAAC-only eno3 gets a
  // file without DHCPv4, eno4 (not named) none.
  const units = unitsOf(got);
  assert.deepEqual(Object.keys(units), ['10-ramforge-eno1.network', '10-ramforge-eno3.network']);
  assert.match(units['10-ramforge-eno3.network']!, /^# .*: SLAAC on eno3$/m);
  assert.match(units['10-ramforge-eno3.network']!, /^DHCP=no\nLinkLocalAddressing=yes\nIPv6AcceptRA=yes$/m);
  const dhcp6 = parseNetworkData(
    JSON.stringify({ links: [PER_LINK.links[2]], networks: [{ id: 'v6', type: 'ipv6_dhcp', link: 'slaac' }] }),
  );
  assert.ok(dhcp6.ok);
  assert.match(unitsOf(planNetwork(dhcp6.data, PER_LINK_HOST, PATHS))['10-ramforge-eno3.network'] ?? '', /^DHCP=ipv6$/m);
  // On a bond (which networkd's wired default does not match), SLAAC stays with the kernel: no file.
  const bondSlaac = parseNetworkData(
    JSON.stringify({
      links: [...PER_LINK.links.slice(0, 2), { id: 'b', type: 'bond', bond_links: ['static', 'dhcp'], bond_mode: 'active-backup' }],
      networks: [{ id: 'v6', type: 'ipv6_slaac', link: 'b' }],
    }),
  );
  assert.ok(bondSlaac.ok);
  const bondUnits = unitsOf(planNetwork(bondSlaac.data, PER_LINK_HOST, PATHS));
  assert.ok(!Object.keys(bondUnits).some((f) => f.includes('bond')), Object.keys(bondUnits).join(', '));
  // Bond members named by the document get none; the ipv4_dhcp NIC beside them does.
  assert.deepEqual(plan(DHCP_VIRTUAL).nicDhcp, ['eno3']);
  // A fully static document naming every NIC: no DHCP anywhere.
  assert.deepEqual(plan(STATIC_V4).nicDhcp, ['eno2', 'eno3'], 'STATIC_V4 names eno1 only: the other two are not named');
  const all = parseNetworkData(
    JSON.stringify({
      links: HOST.map((h, i) => ({ id: `l${i}`, type: 'phy', ethernet_mac_address: h.mac })),
      networks: HOST.map((_, i) => ({ type: 'ipv4', link: `l${i}`, ip_address: `192.0.2.${i + 1}/24` })),
    }),
  );
  assert.ok(all.ok);
  assert.deepEqual(planNetwork(all.data, HOST, PATHS).nicDhcp, []);
});

test('configureNetworkData (tinyipa): udhcpc only on the DHCP link and the unnamed NIC, after their links are up; the static link keeps its address; networkd: no udhcpc', async () => {
  const { root } = fakeRoot('per-link', PER_LINK_HOST);
  const calls: string[][] = [];
  const run = (async (argv: string[]) => {
    calls.push(argv);
    return { stdout: argv[0] === 'sh' ? 'started\n' : '', stderr: '', code: 0 };
  }) as ProgramRunner;
  const log = createMemoryLog();
  const r = await configureNetworkData(JSON.stringify(PER_LINK), { root, run, log, source: 'nd', dhcp: 'udhcpc' });
  const started = calls.filter((c) => c[0] === 'sh' && c[3] === 'ramforge-dhcp');
  assert.deepEqual(
    started.map((c) => c[4]),
    ['eno2', 'eno4'],
  );
  assert.deepEqual(started[0], udhcpcArgv('eno2'));
  const at = (s: string): number => calls.findIndex((c) => c.join(' ') === s);
  assert.ok(at('ip link set eno2 up') >= 0 && at('ip link set eno2 up') < calls.indexOf(started[0]!));
  assert.ok(at('ip -4 addr add 192.0.2.10/24 dev eno1') >= 0);
  assert.deepEqual(r.addresses, ['192.0.2.10/24 on eno1']);
  assert.deepEqual(r.dhcpStarted, ['eno2 (udhcpc started in the background)', 'eno4 (udhcpc started in the background)']);
  assert.equal(r.fallback, false);
  const info = log.lines.find((l) => l.startsWith('INFO') && l.includes(': links '))!;
  assert.match(info, /DHCP started by the agent: eno2 \(udhcpc started in the background\), eno4/);
  assert.match(info, /left to the ramdisk's DHCP client \/ the kernel's SLAAC: eno2 \(ipv6_dhcp\), eno3 \(ipv6_slaac\)/);

  // networkd (dib, coreos) runs DHCP on every wired link itself: the agent starts no udhcpc on a NIC.
  const nd: string[][] = [];
  const ndRun = (async (argv: string[]) => {
    nd.push(argv);
    return { stdout: '', stderr: '', code: 0 };
  }) as ProgramRunner;
  const { root: root2 } = fakeRoot('per-link-networkd', PER_LINK_HOST);
  const r2 = await configureNetworkData(JSON.stringify(PER_LINK), {
    root: root2,
    run: ndRun,
    log: createMemoryLog(),
    source: 'nd',
    dhcp: 'networkd',
  });
  assert.ok(!nd.some((c) => c[0] === 'sh' && c[3] === 'ramforge-dhcp'));
  assert.deepEqual(r2.dhcpStarted, []);
});

/**
 * Links without networks: eno1 named in `links` only; eno2 only as the parent of a VLAN (whose network is static);
 * eno3 and eno4 bonded, the bond without a network either. networkd's wired default gives eno1 and eno2 DHCP in
 * dib/coreos (the agent writes no file for them); tinyipa must do the same with udhcpc; no DHCP on the members.
 */
const NO_NETWORK = {
  links: [
    { id: 'bare', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:01' },
    { id: 'parent', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:02' },
    { id: 'v5', type: 'vlan', vlan_link: 'parent', vlan_id: 5 },
    { id: 'm1', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:03' },
    { id: 'm2', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:04' },
    { id: 'bond0', type: 'bond', bond_links: ['m1', 'm2'], bond_mode: 'active-backup' },
  ],
  networks: [{ id: 'tagged', type: 'ipv4', link: 'v5', ip_address: '192.0.2.5/24' }],
};
const NO_NETWORK_HOST = [1, 2, 3, 4].map((i) => ({ name: `eno${i}`, mac: `52:54:00:aa:00:0${i}` }));

test('plan: a NIC named in links that no network uses gets DHCPv4 as networkd gives it (no file of the agent for it), a bond member none', () => {
  const p = parseNetworkData(JSON.stringify(NO_NETWORK));
  assert.ok(p.ok);
  const got = planNetwork(p.data, NO_NETWORK_HOST, PATHS);
  assert.deepEqual(got.nicDhcp, ['eno1', 'eno2']);
  // networkd: no file for eno1 or eno2, so its wired default (DHCP=yes on Type=ether) is what they get there.
  assert.deepEqual(
    got.networkd.map((u) => u.dev),
    ['eno3', 'eno4', 'eno2.5'],
  );
  assert.ok(got.networkd.filter((u) => u.dev.startsWith('eno3') || u.dev.startsWith('eno4')).every((u) => u.unmanaged));
});

test('configureNetworkData (tinyipa): udhcpc starts on a NIC named in links without a network, after its link is up; none on the bond members', async () => {
  const { root } = fakeRoot('no-network', NO_NETWORK_HOST);
  const calls: string[][] = [];
  const run = (async (argv: string[]) => {
    calls.push(argv);
    if (argv[0] === 'modprobe') mkdirSync(join(root, 'sys/class/net/bond0/bonding'), { recursive: true });
    return { stdout: argv[0] === 'sh' ? 'started\n' : '', stderr: '', code: 0 };
  }) as ProgramRunner;
  const r = await configureNetworkData(JSON.stringify(NO_NETWORK), { root, run, log: createMemoryLog(), source: 'nd', dhcp: 'udhcpc' });
  const started = calls.filter((c) => c[0] === 'sh' && c[3] === 'ramforge-dhcp');
  assert.deepEqual(started, [udhcpcArgv('eno1'), udhcpcArgv('eno2')]);
  const at = (s: string): number => calls.findIndex((c) => c.join(' ') === s);
  assert.ok(at('ip link set eno1 up') >= 0 && at('ip link set eno1 up') < calls.indexOf(started[0]!));
  assert.deepEqual(r.dhcpStarted, ['eno1 (udhcpc started in the background)', 'eno2 (udhcpc started in the background)']);
  assert.deepEqual(r.addresses, ['192.0.2.5/24 on eno2.5']);
});

test('configureNetworkData (tinyipa): the static IPv4 default routes it configured are listed for the udhcpc script before any client starts; networkd: no list', async () => {
  const doc = {
    links: [
      { id: 's1', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:01' },
      { id: 's2', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:02' },
      { id: 'd', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:03' },
    ],
    networks: [
      // A static address and default route on the link that has a DHCP network too.
      {
        type: 'ipv4',
        link: 'd',
        ip_address: '192.0.2.10/24',
        routes: [
          { network: '0.0.0.0', netmask: '0.0.0.0', gateway: '192.0.2.1' },
          { network: '198.51.100.0', netmask: '255.255.255.0', gateway: '192.0.2.254' },
        ],
      },
      { type: 'ipv4_dhcp', link: 'd' },
      // There already (a restarted agent): listed too.
      {
        type: 'ipv4',
        link: 's1',
        ip_address: '203.0.113.10/24',
        routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: '203.0.113.1' }],
      },
      // Refused by the kernel: not listed, so DHCP may give that link its default route.
      { type: 'ipv4', link: 's2', ip_address: '10.9.0.10/24', routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: '10.8.0.1' }] },
      { type: 'ipv6', link: 's2', ip_address: '2001:db8::10/64', routes: [{ network: '::', netmask: '::', gateway: '2001:db8::1' }] },
    ],
  };
  const { root } = fakeRoot('static-defaults', HOST);
  const list = join(root, STATIC_DEFAULTS);
  const seen: Array<string | undefined> = [];
  const run = (async (argv: string[]) => {
    const line = argv.join(' ');
    if (argv[0] === 'sh' && argv[3] === 'ramforge-dhcp') seen.push(existsSync(list) ? readFileSync(list, 'utf8') : undefined);
    if (line === 'ip -4 route add default via 203.0.113.1 dev eno1') throw new Error('RTNETLINK answers: File exists');
    if (line === 'ip -4 route add default via 10.8.0.1 dev eno2') throw new Error('RTNETLINK answers: Network is unreachable');
    // The kernel's table, which shows the "File exists" route is that very one (busybox's format).
    if (line === 'ip -4 route show')
      return { stdout: 'default via 203.0.113.1 dev eno1 \n203.0.113.0/24 dev eno1 scope link  src 203.0.113.10 \n', stderr: '', code: 0 };
    return { stdout: argv[0] === 'sh' ? 'started\n' : '', stderr: '', code: 0 };
  }) as ProgramRunner;
  const r = await configureNetworkData(JSON.stringify(doc), { root, run, log: createMemoryLog(), source: 'nd', dhcp: 'udhcpc' });
  assert.deepEqual(r.dhcpStarted, ['eno3 (udhcpc started in the background)']);
  assert.equal(r.failed, 1, 'the refused route');
  const want = 'eno3 192.0.2.1\neno1 203.0.113.1\n';
  assert.equal(readFileSync(list, 'utf8'), want);
  assert.deepEqual(seen, [want], 'the list is there when udhcpc starts');

  // A later run with no static default route: no stale list.
  const noDefault = { ...doc, networks: [{ type: 'ipv4', link: 's1', ip_address: '203.0.113.10/24' }] };
  await configureNetworkData(JSON.stringify(noDefault), { root, run, log: createMemoryLog(), source: 'nd', dhcp: 'udhcpc' });
  assert.ok(!existsSync(list));

  // networkd (dib, coreos) keeps its own routes: no list.
  const { root: root2 } = fakeRoot('static-defaults-networkd', HOST);
  const ok = (async () => ({ stdout: '', stderr: '', code: 0 })) as ProgramRunner;
  await configureNetworkData(JSON.stringify(doc), { root: root2, run: ok, log: createMemoryLog(), source: 'nd', dhcp: 'networkd' });
  assert.ok(!existsSync(join(root2, STATIC_DEFAULTS)));
});

function fakeRoot(name: string, ifaces: Array<{ name: string; mac: string; physical?: boolean; perm?: string; master?: string }>) {
  const root = join(tmp, name);
  const sysfs = join(root, 'sys/class/net');
  mkdirSync(sysfs, { recursive: true });
  writeFileSync(join(sysfs, 'bonding_masters'), '');
  for (const i of ifaces) {
    mkdirSync(join(sysfs, i.name), { recursive: true });
    writeFileSync(join(sysfs, i.name, 'address'), `${i.mac}\n`);
    if (i.physical !== false) mkdirSync(join(sysfs, i.name, 'device'));
    if (i.perm) {
      mkdirSync(join(sysfs, i.name, 'bonding_slave'));
      writeFileSync(join(sysfs, i.name, 'bonding_slave/perm_hwaddr'), `${i.perm}\n`);
    }
    if (i.master) symlinkSync(`../${i.master}`, join(sysfs, i.name, 'master'));
  }
  mkdirSync(join(root, 'etc'), { recursive: true });
  return { root, sysfs };
}

test('configureNetworkData: DHCP on a bond/VLAN through networkd (a .network file per device, networkctl reload), logged as started', async () => {
  const { root } = fakeRoot('networkd', [
    { name: 'eno1', mac: '52:54:00:aa:00:01' },
    { name: 'eno2', mac: '52:54:00:aa:00:02' },
    { name: 'eno3', mac: '52:54:00:aa:00:03' },
  ]);
  const calls: string[] = [];
  const run = (async (argv: string[]) => {
    calls.push(argv.join(' '));
    return { stdout: '', stderr: '', code: 0 };
  }) as ProgramRunner;
  const log = createMemoryLog();
  const r = await configureNetworkData(JSON.stringify(DHCP_VIRTUAL), { root, run, log, source: 'nd', dhcp: 'networkd' });
  const unit = readFileSync(join(root, 'run/systemd/network/10-ramforge-bond0.network'), 'utf8');
  assert.match(unit, /^\[Match\]\nName=bond0\n/m);
  assert.match(unit, /^DHCP=yes$/m);
  assert.match(readFileSync(join(root, 'run/systemd/network/10-ramforge-bond0.7.network'), 'utf8'), /^DHCP=ipv4$/m);
  // networkd loads the files before the agent touches a link (the members' Unmanaged=yes must be in force first).
  assert.equal(calls[0], 'networkctl reload');
  assert.equal(calls.filter((c) => c.startsWith('networkctl')).length, 1);
  for (const m of ['eno1', 'eno2'])
    assert.match(readFileSync(join(root, `run/systemd/network/10-ramforge-${m}.network`), 'utf8'), /^\[Link\]\nUnmanaged=yes$/m);
  assert.ok(!existsSync(join(root, 'run/systemd/network/10-ramforge-eno3.network')), "eno3's DHCP stays with 80-ramforge-wired.network");
  assert.equal(r.dhcpStarted.length, 2);
  assert.equal(r.fallback, false);
  const info = log.lines.find((l) => l.startsWith('INFO') && l.includes(': links '))!;
  assert.match(
    info,
    /DHCP started by the agent: bond0 \(DHCPv4 \+ DHCPv6, networkd: .*10-ramforge-bond0\.network\), bond0\.7 \(DHCPv4, networkd/,
  );
  assert.match(info, /left to the ramdisk's DHCP client.*eno3 \(ipv4_dhcp\)/);
});

/** The files networkd reads, by name, from a plan. */
const unitsOf = (p: ReturnType<typeof plan>) => Object.fromEntries(p.networkd.map((u) => [`10-ramforge-${u.dev}.network`, u.content]));

test('networkd files: bond members and static-only links unmanaged, DHCP links managed with their static addresses and routes', () => {
  const units = unitsOf(plan(BOND_VLAN));
  assert.deepEqual(Object.keys(units).sort(), ['10-ramforge-bond0.101.network', '10-ramforge-eno1.network', '10-ramforge-eno2.network']);
  assert.equal(
    units['10-ramforge-eno1.network'],
    [
      '# written by the ramforge agent from network_data.json: a member of bond0, enslaved by the agent; networkd leaves it alone',
      '[Match]',
      'Name=eno1',
      '',
      '[Link]',
      'Unmanaged=yes',
      '',
    ].join('\n'),
  );
  // The VLAN: static IPv4 and IPv6 only, so networkd keeps out of it too (the agent's ip commands set it).
  assert.match(units['10-ramforge-bond0.101.network']!, /^Name=bond0\.101\n\n\[Link\]\nUnmanaged=yes\n$/m);
  assert.match(units['10-ramforge-bond0.101.network']!, /static addresses 10\.1\.0\.5\/16, 2001:db8:1::5\/64/);

  // A static NIC (no bond): unmanaged, so a networkd restart (the rescue hand-over's) neither flushes nor re-DHCPs it.
  const nic = unitsOf(plan(STATIC_V4));
  assert.deepEqual(Object.keys(nic), ['10-ramforge-eno1.network']);
  assert.match(nic['10-ramforge-eno1.network']!, /^\[Match\]\nName=eno1\n\n\[Link\]\nUnmanaged=yes\n$/m);

  // DHCP that the agent starts on a bond, plus a static address and routes there: networkd owns the bond and
  // carries the static part too, so its reload or restart keeps it.
  const mixed = structuredClone(DHCP_VIRTUAL) as { networks: unknown[] };
  mixed.networks.push({
    id: 's',
    type: 'ipv4',
    link: 'bond0',
    ip_address: '192.0.2.7',
    netmask: '255.255.255.0',
    routes: [
      { network: '0.0.0.0', netmask: '0.0.0.0', gateway: '192.0.2.1' },
      { network: '198.51.100.0', netmask: '255.255.255.0', gateway: '192.0.2.254' },
    ],
  });
  const m = unitsOf(plan(mixed));
  assert.deepEqual(Object.keys(m).sort(), [
    '10-ramforge-bond0.7.network',
    '10-ramforge-bond0.network',
    '10-ramforge-eno1.network',
    '10-ramforge-eno2.network',
  ]);
  assert.equal(
    m['10-ramforge-bond0.network'],
    [
      '# written by the ramforge agent from network_data.json: DHCP and static addresses on bond0',
      '[Match]',
      'Name=bond0',
      '',
      '[Network]',
      'DHCP=yes',
      'LinkLocalAddressing=yes',
      'IPv6AcceptRA=yes',
      'KeepConfiguration=static',
      'Address=192.0.2.7/24',
      '',
      '[Route]',
      'Gateway=192.0.2.1',
      '',
      '[Route]',
      'Destination=198.51.100.0/24',
      'Gateway=192.0.2.254',
      '',
      '[DHCPv4]',
      'ClientIdentifier=mac',
      'UseDomains=yes',
      '',
    ].join('\n'),
  );
  assert.match(m['10-ramforge-bond0.7.network']!, /^DHCP=ipv4$/m);
  assert.doesNotMatch(m['10-ramforge-bond0.7.network']!, /^Address=/m);
  assert.ok(!('10-ramforge-eno3.network' in m), "a NIC with DHCP only stays with the ramdisk's 80-ramforge-wired.network");

  // A NIC with a static and a DHCP network: managed by networkd with both.
  const both = unitsOf(
    plan({
      links: [{ id: 'p', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:02' }],
      networks: [
        { id: 'a', type: 'ipv4_dhcp', link: 'p' },
        { id: 'b', type: 'ipv6', link: 'p', ip_address: '2001:db8::9/64' },
      ],
    }),
  );
  assert.match(both['10-ramforge-eno2.network']!, /^DHCP=ipv4\n[\s\S]*^Address=2001:db8::9\/64$/m);
});

test('configureNetworkData with networkd: files written and loaded before any ip command; systemctl restart without D-Bus; waits for unmanaged; unchanged files not reloaded', async () => {
  const { root, sysfs } = fakeRoot('networkd-static', [
    { name: 'eno1', mac: '52:54:00:aa:00:01' },
    { name: 'eno2', mac: '52:54:00:aa:00:02' },
  ]);
  writeFileSync(join(sysfs, 'eno1/ifindex'), '2\n');
  writeFileSync(join(sysfs, 'eno2/ifindex'), '3\n');
  const links = join(root, 'run/systemd/netif/links');
  mkdirSync(links, { recursive: true });
  writeFileSync(join(links, '2'), 'ADMIN_STATE=configuring\n');
  const doc = {
    links: [
      { id: 'a', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:01' },
      { id: 'b', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:02' },
    ],
    networks: [
      { id: 'n', type: 'ipv4', link: 'a', ip_address: '10.0.2.50', netmask: '255.255.255.0', routes: [] },
      { id: 'm', type: 'ipv4', link: 'b', ip_address: '10.0.3.50', netmask: '255.255.255.0', routes: [] },
    ],
  };
  const calls: string[] = [];
  const unitsAtReload: string[] = [];
  const run = (async (argv: string[]) => {
    calls.push(argv.join(' '));
    // No D-Bus daemon: networkctl reload fails as it does in the dib image.
    if (argv[0] === 'networkctl') throw new Error('Failed to connect to bus: No such file or directory');
    if (argv[0] === 'systemctl') {
      unitsAtReload.push(...['eno1', 'eno2'].filter((d) => existsSync(join(root, `run/systemd/network/10-ramforge-${d}.network`))));
      // The new networkd: eno1 unmanaged at once, eno2 a little later.
      writeFileSync(join(links, '2'), 'ADMIN_STATE=unmanaged\nOPER_STATE=carrier\n');
      setTimeout(() => writeFileSync(join(links, '3'), 'ADMIN_STATE=unmanaged\n'), 300);
    }
    if (argv[0] === 'ip' && argv[2] === 'addr' && argv[3] === 'add') {
      const dev = argv[6]!;
      const idx = dev === 'eno1' ? '2' : '3';
      assert.match(readFileSync(join(links, idx), 'utf8'), /ADMIN_STATE=unmanaged/, `networkd let go of ${dev} before its address was set`);
    }
    return { stdout: '', stderr: '', code: 0 };
  }) as ProgramRunner;
  const log = createMemoryLog();
  const r = await configureNetworkData(JSON.stringify(doc), { root, run, log, source: 'nd', dhcp: 'networkd' });
  assert.deepEqual(calls.slice(0, 2), ['networkctl reload', 'systemctl try-restart systemd-networkd.service']);
  // Then what networkd's DHCP left on the links it let go of (a lease it took at boot) goes, before the agent's own steps.
  assert.deepEqual(calls.slice(2, 10), [
    'ip -4 addr flush dev eno1 scope global dynamic',
    'ip -6 addr flush dev eno1 scope global dynamic',
    'ip -4 route flush dev eno1 proto dhcp',
    'ip -6 route flush dev eno1 proto ra',
    'ip -4 addr flush dev eno2 scope global dynamic',
    'ip -6 addr flush dev eno2 scope global dynamic',
    'ip -4 route flush dev eno2 proto dhcp',
    'ip -6 route flush dev eno2 proto ra',
  ]);
  assert.ok(calls.slice(10).every((c) => !c.includes('flush')));
  assert.deepEqual(unitsAtReload, ['eno1', 'eno2'], 'both files were there when networkd restarted');
  assert.deepEqual(r.addresses, ['10.0.2.50/24 on eno1', '10.0.3.50/24 on eno2']);
  assert.equal(r.failed, 0);
  assert.ok(log.lines.some((l) => l.includes("networkd loaded the agent's files for eno1, eno2 (systemctl try-restart")));
  assert.ok(!log.lines.some((l) => l.startsWith('WARNING')), log.lines.join('\n'));

  // A restarted agent: the same files, no second reload or restart (it would re-DHCP the other links).
  calls.length = 0;
  await configureNetworkData(JSON.stringify(doc), { root, run, log: createMemoryLog(), source: 'nd', dhcp: 'networkd' });
  assert.ok(!calls.some((c) => c.startsWith('networkctl') || c.startsWith('systemctl')), calls.join('\n'));

  // No way works (not even the request to the host: /run/ramforge cannot be made): logged, counted, and the
  // agent still configures the links.
  rmSync(join(root, 'run/systemd/network'), { recursive: true });
  writeFileSync(join(root, 'run/ramforge'), 'not a directory\n');
  calls.length = 0;
  const failing = (async (argv: string[]) => {
    calls.push(argv.join(' '));
    if (argv[0] === 'networkctl' || argv[0] === 'systemctl') throw new Error(`${argv[0]}: failed`);
    return { stdout: '', stderr: '', code: 0 };
  }) as ProgramRunner;
  const log2 = createMemoryLog();
  const r2 = await configureNetworkData(JSON.stringify(doc), { root, run: failing, log: log2, source: 'nd', dhcp: 'networkd' });
  assert.equal(r2.failed, 1);
  assert.deepEqual(r2.addresses, ['10.0.2.50/24 on eno1', '10.0.3.50/24 on eno2']);
  assert.ok(log2.lines.some((l) => l.startsWith('WARNING') && l.includes('networkd did not load')));
});

test('coreos: networkd found by its runtime directory (no networkctl in the container); with neither networkctl nor systemctl the host is asked through /run/ramforge/networkd-reload', async () => {
  const { root, sysfs } = fakeRoot('networkd-container', [
    { name: 'eno1', mac: '52:54:00:aa:00:01' },
    { name: 'eno2', mac: '52:54:00:aa:00:02' },
  ]);
  writeFileSync(join(sysfs, 'eno1/ifindex'), '2\n');
  writeFileSync(join(sysfs, 'eno2/ifindex'), '3\n');
  // The host's /run, bound into the chroot: networkd's state files are there, its programs are not.
  const links = join(root, 'run/systemd/netif/links');
  mkdirSync(links, { recursive: true });
  for (const i of ['2', '3']) writeFileSync(join(links, i), 'ADMIN_STATE=configured\n');
  const request = join(root, 'run/ramforge/networkd-reload');
  // The host's ramforge-networkd-reload.path: on the request, networkd restarts with the agent's files.
  const host = setInterval(() => {
    if (!existsSync(request)) return;
    const loaded = ['eno1', 'eno2'].every((d) => existsSync(join(root, `run/systemd/network/10-ramforge-${d}.network`)));
    if (loaded) for (const i of ['2', '3']) writeFileSync(join(links, i), 'ADMIN_STATE=unmanaged\n');
  }, 50);
  const calls: string[] = [];
  const run = (async (argv: string[]) => {
    calls.push(argv.join(' '));
    if (argv[0] === 'networkctl' || argv[0] === 'systemctl') throw Object.assign(new Error(`spawn ${argv[0]} ENOENT`), { code: 'ENOENT' });
    if (argv[0] === 'ip' && argv[3] === 'add')
      assert.match(
        readFileSync(join(links, '2'), 'utf8'),
        /ADMIN_STATE=unmanaged/,
        'the host had loaded the files before the first address',
      );
    return { stdout: '', stderr: '', code: 0 };
  }) as ProgramRunner;
  const log = createMemoryLog();
  try {
    const doc = {
      links: [
        { id: 'a', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:01' },
        { id: 'b', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:02' },
        { id: 'bond0', type: 'bond', bond_links: ['a', 'b'], bond_mode: 'active-backup' },
      ],
      networks: [
        { id: 'n', type: 'ipv4', link: 'bond0', ip_address: '10.0.2.50', netmask: '255.255.255.0', routes: [] },
        { id: 'd', type: 'ipv4_dhcp', link: 'bond0' },
      ],
    };
    // No dhcp option: the agent decides (no networkctl under this root; networkd's runtime directory is there).
    const r = await configureNetworkData(JSON.stringify(doc), { root, run, log, source: 'nd' });
    assert.ok(existsSync(request), 'the request for the host was written');
    assert.match(readFileSync(request, 'utf8'), / eno1 eno2 bond0\n$/);
    assert.match(
      readFileSync(join(root, 'run/systemd/network/10-ramforge-bond0.network'), 'utf8'),
      /^DHCP=ipv4\n[\s\S]*^Address=10\.0\.2\.50\/24$/m,
    );
    assert.ok(!calls.some((c) => / ramforge-dhcp bond0$/.test(c)), 'no udhcpc (the container has none)');
    assert.deepEqual(r.dhcpStarted, [`bond0 (DHCPv4, networkd: ${join(root, 'run/systemd/network/10-ramforge-bond0.network')})`]);
    assert.ok(log.lines.some((l) => l.includes("networkd asked to load the agent's files for eno1, eno2, bond0 (asked the host through")));
    // (This fake sysfs makes no bond, so only those writes fail.)
    assert.ok(!log.lines.some((l) => l.startsWith('WARNING') && !l.includes('/bonding/')), log.lines.join('\n'));
  } finally {
    clearInterval(host);
  }
});

test('configureNetworkData: DHCP on a bond/VLAN through udhcpc in the background (tinyipa), as ramforge-dhcp starts it', async () => {
  const { root } = fakeRoot('udhcpc', [
    { name: 'eno1', mac: '52:54:00:aa:00:01' },
    { name: 'eno2', mac: '52:54:00:aa:00:02' },
  ]);
  const calls: string[][] = [];
  const run = (async (argv: string[]) => {
    calls.push(argv);
    return { stdout: argv[0] === 'sh' ? 'started\n' : '', stderr: '', code: 0 };
  }) as ProgramRunner;
  const log = createMemoryLog();
  const r = await configureNetworkData(JSON.stringify(DHCP_VIRTUAL), { root, run, log, source: 'nd', dhcp: 'udhcpc' });
  const sh = calls.filter((c) => c[0] === 'sh' && c[3] === 'ramforge-dhcp');
  assert.deepEqual(
    calls.filter((c) => c[3] === 'ramforge-dhcp-stop').map((c) => c[4]),
    ['eno1', 'eno2'],
    "rcS's udhcpc on the members is stopped before they are enslaved",
  );
  assert.deepEqual(
    sh.map((c) => c.at(-1)),
    ['bond0', 'bond0.7'],
  );
  assert.match(
    sh[0]![2]!,
    /udhcpc -i "\$1" -s \/usr\/share\/udhcpc\/default\.script -b -t 10 -T 2 -A 10 -O mtu .* -p "\$pidfile" >\/dev\/null 2>&1 &/,
  );
  assert.deepEqual(r.dhcpStarted, ['bond0 (udhcpc started in the background)', 'bond0.7 (udhcpc started in the background)']);
  assert.ok(log.lines.some((l) => l.startsWith('WARNING') && l.includes('bond0: no DHCPv6 client')));
  assert.ok(!calls.some((c) => c[0] === 'networkctl'));
});

test('udhcpcArgv: the shell script starts udhcpc detached with the device and returns at once', () => {
  const bin = join(tmp, 'fakebin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, 'udhcpc'),
    `#!/bin/sh\necho "$@" > ${join(tmp, 'udhcpc.args.part')}\nmv ${join(tmp, 'udhcpc.args.part')} ${join(tmp, 'udhcpc.args')}\nsleep 5\n`,
    { mode: 0o755 },
  );
  const argv = udhcpcArgv('bond0.7');
  const t0 = Date.now();
  const out = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
  assert.equal(out.trim(), 'started');
  assert.ok(Date.now() - t0 < 3000, 'returns without waiting for udhcpc');
  // The fake renames its file into place, so the file is whole once it exists (a loaded host may take seconds to run it).
  for (let i = 0; i < 400 && !existsSync(join(tmp, 'udhcpc.args')); i++) execFileSync('sleep', ['0.05']);
  assert.match(
    readFileSync(join(tmp, 'udhcpc.args'), 'utf8'),
    /^-i bond0\.7 -s \/usr\/share\/udhcpc\/default\.script .*-p \/run\/udhcpc\.bond0\.7\.pid$/m,
  );
});

test('configureNetworkData: no static address could be applied and no DHCP network → tinyipa ramforge-dhcp once, not again on a restart', async () => {
  const { root } = fakeRoot('fallback', [{ name: 'eno1', mac: '52:54:00:aa:00:01' }]);
  mkdirSync(join(root, 'usr/sbin'), { recursive: true });
  mkdirSync(join(root, 'run'), { recursive: true });
  writeFileSync(join(root, 'usr/sbin/ramforge-dhcp'), '#!/bin/sh\n', { mode: 0o755 });
  const calls: string[] = [];
  const run = (async (argv: string[]) => {
    calls.push(argv.join(' '));
    if (argv[2] === 'addr') throw new Error('ip: RTNETLINK answers: Permission denied');
    return { stdout: argv[0] === '/usr/sbin/ramforge-dhcp' ? 'eno1\n' : '', stderr: '', code: 0 };
  }) as ProgramRunner;
  const doc = {
    links: [
      { id: 'here', ethernet_mac_address: '52:54:00:aa:00:01' },
      { id: 'gone', ethernet_mac_address: '52:54:00:ff:00:01' },
    ],
    networks: [
      { type: 'ipv4', link: 'here', ip_address: '192.0.2.5/24' },
      { type: 'ipv4', link: 'gone', ip_address: '192.0.2.6/24' },
    ],
  };
  const log = createMemoryLog();
  const r = await configureNetworkData(JSON.stringify(doc), { root, run, log, source: 'nd', dhcp: 'udhcpc' });
  assert.equal(r.fallback, true);
  assert.equal(calls.filter((c) => c === '/usr/sbin/ramforge-dhcp').length, 1);
  assert.ok(log.lines.some((l) => l.startsWith('WARNING') && l.includes('DHCP started on every wired interface') && l.includes('eno1')));
  // A restarted agent: the fallback's clients keep their leases.
  await configureNetworkData(JSON.stringify(doc), { root, run, log: createMemoryLog(), source: 'nd', dhcp: 'udhcpc' });
  assert.equal(calls.filter((c) => c === '/usr/sbin/ramforge-dhcp').length, 1);
  // An unusable document falls back too; a document whose static address applies does not.
  rmSync(join(root, 'run/ramforge-network-fallback'));
  assert.equal((await configureNetworkData('{"links": 1}', { root, run, log: createMemoryLog(), source: 'nd' })).fallback, true);
  rmSync(join(root, 'run/ramforge-network-fallback'));
  const ok = (async (argv: string[]) => {
    calls.push(argv.join(' '));
    return { stdout: '', stderr: '', code: 0 };
  }) as ProgramRunner;
  assert.equal(
    (await configureNetworkData(JSON.stringify(doc), { root, run: ok, log: createMemoryLog(), source: 'nd', dhcp: 'udhcpc' })).fallback,
    false,
  );
  assert.equal(calls.filter((c) => c === '/usr/sbin/ramforge-dhcp').length, 2);
});

test('a second run: MACs match physical interfaces only (permanent MAC of bond members); existing bond/VLAN reused, members not flapped, existing addresses fine', async () => {
  // After the first run: bond0 carries eno1's MAC and so does eno2 (bonding changed it), bond0.101 its parent's.
  const { root, sysfs } = fakeRoot('rerun', [
    { name: 'bond0', mac: '52:54:00:aa:00:01', physical: false },
    { name: 'bond0.101', mac: '52:54:00:aa:00:01', physical: false },
    { name: 'eno1', mac: '52:54:00:aa:00:01', perm: '52:54:00:aa:00:01', master: 'bond0' },
    { name: 'eno2', mac: '52:54:00:aa:00:01', perm: '52:54:00:aa:00:02', master: 'bond0' },
    { name: 'eno3', mac: '52:54:00:aa:00:03' },
  ]);
  const host = await listInterfaces(sysfs);
  assert.deepEqual(host.physical, [
    { name: 'eno1', mac: '52:54:00:aa:00:01', master: 'bond0' },
    { name: 'eno2', mac: '52:54:00:aa:00:02', master: 'bond0' },
    { name: 'eno3', mac: '52:54:00:aa:00:03' },
  ]);
  assert.deepEqual(host.all, ['bond0', 'bond0.101', 'eno1', 'eno2', 'eno3']);
  const calls: string[] = [];
  const run = (async (argv: string[]) => {
    calls.push(argv.join(' '));
    if (argv[3] === 'show') {
      const table =
        argv[1] === '-4' ? 'default via 10.1.0.1 dev bond0.101 \n' : 'default via 2001:db8:1::1 dev bond0.101 metric 1024 pref medium\n';
      return { stdout: table, stderr: '', code: 0 };
    }
    if (argv[2] === 'addr' || argv[2] === 'route') throw new Error('ip: RTNETLINK answers: File exists');
    return { stdout: '', stderr: '', code: 0 };
  }) as ProgramRunner;
  const log = createMemoryLog();
  const r = await configureNetworkData(JSON.stringify(BOND_VLAN), { root, run, log, source: 'nd', dhcp: 'udhcpc' });
  assert.deepEqual(calls, [
    'ip link set bond0 address 52:54:00:aa:00:01',
    'ip link set eno1 up',
    'ip link set eno2 up',
    'ip link set eno3 up',
    'ip link set bond0 mtu 9000',
    'ip link set bond0 up',
    'ip link set bond0.101 up',
    'ip -4 addr add 10.1.0.5/16 dev bond0.101',
    'ip -4 route add default via 10.1.0.1 dev bond0.101',
    'ip -4 route show',
    'ip -6 addr add 2001:db8:1::5/64 dev bond0.101',
    'ip -6 route add default via 2001:db8:1::1 dev bond0.101',
    'ip -6 route show',
    // The ipv4_dhcp NIC: udhcpcArgv, which leaves a client of an earlier start running.
    udhcpcArgv('eno3').join(' '),
  ]);
  assert.equal(r.failed, 0);
  assert.deepEqual(r.addresses, ['10.1.0.5/16 on bond0.101', '2001:db8:1::5/64 on bond0.101']);
  assert.ok(!log.lines.some((l) => l.startsWith('WARNING')), log.lines.join('\n'));
  assert.equal(readFileSync(join(sysfs, 'bonding_masters'), 'utf8'), '', 'the bond is not made again');

  // A VLAN on a NIC, second start: eth0.100 carries eth0's MAC but is not physical.
  const p = parseNetworkData(
    JSON.stringify({
      links: [
        { id: 'p0', type: 'phy', ethernet_mac_address: '52:54:00:00:00:01' },
        { id: 'v100', type: 'vlan', vlan_link: 'p0', vlan_id: 100, vlan_mac_address: '52:54:00:00:00:01' },
      ],
      networks: [],
    }),
  );
  assert.ok(p.ok);
  const again = planNetwork(p.data, [{ name: 'eth0', mac: '52:54:00:00:00:01' }], PATHS, ['eth0', 'eth0.100']);
  assert.deepEqual(again.devices, { p0: 'eth0', v100: 'eth0.100' });
  assert.ok(!runs(again as ReturnType<typeof plan>).some((c) => c.includes('link add')));
});

test('udhcpcArgv: no udhcpc on PATH is a failure, not "started"', () => {
  const argv = udhcpcArgv('bond0');
  assert.throws(
    () => execFileSync('/bin/sh', argv.slice(1), { encoding: 'utf8', stdio: 'pipe', env: { PATH: join(tmp, 'empty') } }),
    /udhcpc: not found/,
  );
});

test('udhcpcStopArgv: kills the client of the pid file and flushes its IPv4 addresses; nothing without a pid file', async () => {
  const argv = udhcpcStopArgv('eno1');
  assert.equal(argv[0], 'sh');
  const bin = join(tmp, 'stopbin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'ip'), `#!/bin/sh\necho "ip $*" >> ${join(tmp, 'stop.log')}\n`, { mode: 0o755 });
  const env = { PATH: `${bin}:${process.env.PATH}` };
  const script = argv[2]!.replaceAll('/run/', `${tmp}/`);
  // No pid file: nothing runs.
  execFileSync('/bin/sh', ['-c', script, 'x', 'eno9'], { env });
  assert.ok(!existsSync(join(tmp, 'stop.log')));
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const exited = new Promise((r) => child.on('exit', r));
  writeFileSync(join(tmp, 'udhcpc.eno1.pid'), `${child.pid}\n`);
  execFileSync('/bin/sh', ['-c', script, 'x', 'eno1'], { env });
  await exited;
  assert.equal(readFileSync(join(tmp, 'stop.log'), 'utf8'), 'ip -4 addr flush dev eno1\n');
  assert.ok(!existsSync(join(tmp, 'udhcpc.eno1.pid')));
});

test('findRoute: the route "File exists" stood for, in busybox and iproute2 listings; another one to the same destination named', () => {
  const add = (dest: string, gw: string, dev: string) => [
    'ip',
    dest.includes(':') ? '-6' : '-4',
    'route',
    'add',
    dest,
    'via',
    gw,
    'dev',
    dev,
  ];
  const busybox = 'default via 10.0.2.2 dev eth0 \n10.0.2.0/24 dev eth0 scope link  src 10.0.2.15 \n198.51.100.5 via 10.0.2.9 dev eth0 \n';
  assert.deepEqual(findRoute(busybox, add('default', '10.0.2.2', 'eth0')), { present: true, sameDest: [] });
  assert.deepEqual(
    findRoute(busybox, add('198.51.100.5/32', '10.0.2.9', 'eth0')),
    { present: true, sameDest: [] },
    'a host route prints without /32',
  );
  assert.deepEqual(findRoute(busybox, add('default', '192.0.2.1', 'eth1')), {
    present: false,
    sameDest: ['default via 10.0.2.2 dev eth0'],
  });
  assert.deepEqual(findRoute(busybox, add('203.0.113.0/24', '10.0.2.9', 'eth0')), { present: false, sameDest: [] });
  const iproute2 = [
    'default via 2001:db8:0:0::1 dev eno1 proto static metric 1024 pref medium',
    'unicast 2001:db8:5::/64 via fe80::1 dev eno2 proto static metric 1024 pref medium',
    '',
  ].join('\n');
  assert.ok(findRoute(iproute2, add('::/0', '2001:db8::1', 'eno1')).present, 'IPv6 compared in its short form');
  assert.ok(findRoute(iproute2, add('2001:0db8:0005::/64', 'FE80::1', 'eno2')).present);
  assert.deepEqual(findRoute(iproute2, add('::/0', '2001:db8::1', 'eno2')).sameDest, [
    'default via 2001:db8:0:0::1 dev eno1 proto static metric 1024 pref medium',
  ]);
  // The same gateway and device at another metric (udhcpc's lease route) is not the route `ip route add` makes.
  const dhcp = 'default via 10.0.2.2 dev eth0 metric 1 \n';
  assert.deepEqual(findRoute(dhcp, add('default', '10.0.2.2', 'eth0')), {
    present: false,
    sameDest: ['default via 10.0.2.2 dev eth0 metric 1'],
  });
  // A blackhole default is named, not taken for the route.
  assert.deepEqual(findRoute('blackhole default \n', add('default', '10.0.2.2', 'eth0')), {
    present: false,
    sameDest: ['blackhole default'],
  });
  // Multipath: the next hops under the route line.
  const multi =
    'default proto static metric 1024 pref medium\n\tnexthop via 2001:db8::1 dev eno1 weight 1\n\tnexthop via 2001:db8::2 dev eno2 weight 1\n';
  assert.ok(findRoute(multi, add('::/0', '2001:db8::2', 'eno2')).present);
  assert.deepEqual(findRoute(multi, add('::/0', '2001:db8::3', 'eno2')).sameDest, [
    'default proto static metric 1024 pref medium nexthop via 2001:db8::1 dev eno1 weight 1 nexthop via 2001:db8::2 dev eno2 weight 1',
  ]);
});

test('applyNetworkPlan: a route refused with "File exists" because another link has one there is a failure, named, and not listed for udhcpc', async () => {
  const doc = {
    links: [
      { id: 'a', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:01' },
      { id: 'b', type: 'phy', ethernet_mac_address: '52:54:00:aa:00:02' },
    ],
    networks: [
      { type: 'ipv4', link: 'a', ip_address: '192.0.2.10/24', routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: '192.0.2.1' }] },
      {
        type: 'ipv4',
        link: 'b',
        ip_address: '198.51.100.10/24',
        routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: '198.51.100.1' }],
      },
    ],
  };
  const { root } = fakeRoot('route-conflict', HOST);
  const run = (async (argv: string[]) => {
    const line = argv.join(' ');
    if (line === 'ip -4 route add default via 198.51.100.1 dev eno2') throw new Error('RTNETLINK answers: File exists');
    if (line === 'ip -4 route show') return { stdout: 'default via 192.0.2.1 dev eno1 \n', stderr: '', code: 0 };
    return { stdout: argv[0] === 'sh' ? 'started\n' : '', stderr: '', code: 0 };
  }) as ProgramRunner;
  const log = createMemoryLog();
  const r = await configureNetworkData(JSON.stringify(doc), { root, run, log, source: 'nd', dhcp: 'udhcpc' });
  assert.equal(r.failed, 1);
  assert.ok(
    log.lines.some((l) =>
      l.includes(
        'ip -4 route add default via 198.51.100.1 dev eno2: not added: a route to default exists already (the kernel has default via 192.0.2.1 dev eno1 instead)',
      ),
    ),
    log.lines.join('\n'),
  );
  assert.equal(readFileSync(join(root, STATIC_DEFAULTS), 'utf8'), 'eno1 192.0.2.1\n', 'only the default route that is there');
});

test('a bond option write that finds the bond up (EBUSY: networkd brought it up) sets it down and writes again; other errors are not retried', async () => {
  const calls: string[] = [];
  const run = (async (argv: string[]) => {
    calls.push(argv.join(' '));
    return { stdout: '', stderr: '', code: 0 };
  }) as ProgramRunner;
  let busy = 2;
  const write = async (path: string, value: string): Promise<void> => {
    calls.push(`${path} <- ${value}`);
    if (busy-- > 0) throw Object.assign(new Error('EBUSY: resource busy or locked, write'), { code: 'EBUSY' });
  };
  await writeRetryingDown({ write: '/sys/class/net/bond1/bonding/mode', value: 'active-backup', downOnBusy: 'bond1' }, run, write);
  assert.deepEqual(calls, [
    '/sys/class/net/bond1/bonding/mode <- active-backup',
    'ip link set bond1 down',
    '/sys/class/net/bond1/bonding/mode <- active-backup',
    'ip link set bond1 down',
    '/sys/class/net/bond1/bonding/mode <- active-backup',
  ]);
  calls.length = 0;
  const denied = async (): Promise<void> => {
    throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
  };
  await assert.rejects(writeRetryingDown({ write: '/x', value: 'y', downOnBusy: 'bond1' }, run, denied), /EACCES/);
  assert.deepEqual(calls, []);
  // Without downOnBusy (any other write): EBUSY is not retried.
  busy = 1;
  await assert.rejects(writeRetryingDown({ write: '/x', value: 'y' }, run, write), /EBUSY/);
});
