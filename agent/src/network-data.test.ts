/** network_data.json: parse, plan (pure, from sample documents), apply (argv and files read back). */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createMemoryLog } from '../test/support/logs.js';
import { configureNetworkData, parseNetworkData, planNetwork, prefixLength, type NetworkData } from './network-data.js';
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
const runs = (p: ReturnType<typeof plan>) => p.actions.map((a) => ('run' in a ? a.run.join(' ') : `${a.write} <- ${a.value}`));

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
    '/sys/class/net/bond0/bonding/mode <- 802.3ad',
    '/sys/class/net/bond0/bonding/miimon <- 100',
    '/sys/class/net/bond0/bonding/xmit_hash_policy <- layer3+4',
    'ip link set eno1 down',
    '/sys/class/net/bond0/bonding/slaves <- +eno1',
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

test('malformed documents are refused with a reason naming the place', () => {
  const reason = (text: string): string => {
    const r = parseNetworkData(text);
    assert.equal(r.ok, false);
    return (r as { reason: string }).reason;
  };
  assert.match(reason('{"links": ['), /^not valid JSON/);
  assert.match(reason('[]'), /JSON object/);
  assert.match(reason('{"links": {}}'), /^links: expected a list/);
  assert.match(reason('{"links": [{"type": "phy"}]}'), /^links\[0\]\.id: missing/);
  assert.match(reason('{"links": [{"id": "a", "ethernet_mac_address": "zz"}]}'), /^links\[0\]\.ethernet_mac_address: not a MAC/);
  assert.match(reason('{"links": [{"id": "b", "type": "bond", "bond_links": ["x"]}]}'), /^links\[0\]\.bond_links: no link with id "x"/);
  assert.match(
    reason('{"links": [{"id": "b", "type": "bond", "bond_links": ["b"], "bond_mode": "fast"}]}'),
    /bond_mode: unknown bonding mode/,
  );
  assert.match(
    reason('{"links": [{"id": "v", "type": "vlan", "vlan_link": "v", "vlan_id": 5000}]}'),
    /vlan_id: expected a whole number 0-4094/,
  );
  const net = (n: object) => JSON.stringify({ links: [{ id: 'a', ethernet_mac_address: '52:54:00:aa:00:01' }], networks: [n] });
  assert.match(reason(net({ type: 'ipv4', link: 'b', ip_address: '1.2.3.4', netmask: '255.0.0.0' })), /^networks\[0\]\.link: no link/);
  assert.match(reason(net({ type: 'ipv4', link: 'a', ip_address: '1.2.3.400', netmask: '255.0.0.0' })), /ip_address: not an IPv4 address/);
  assert.match(reason(net({ type: 'ipv4', link: 'a', ip_address: '1.2.3.4', netmask: '255.0.255.0' })), /netmask: not a netmask/);
  assert.match(reason(net({ type: 'ipv4', link: 'a', ip_address: '1.2.3.4' })), /netmask: missing/);
  assert.match(reason(net({ type: 'ipv5', link: 'a' })), /type: unknown network type/);
  assert.match(
    reason(net({ type: 'ipv4', link: 'a', ip_address: '1.2.3.4/8', routes: [{ network: '0.0.0.0', gateway: 'x' }] })),
    /routes\[0\]\.gateway: not an IPv4 address/,
  );
});

test('configureNetworkData: applies through the runner, writes sysfs and resolv.conf under the root; failures logged, the rest goes on', async () => {
  const root = join(tmp, 'apply');
  const sysfs = join(root, 'sys/class/net');
  for (const i of HOST) {
    mkdirSync(join(sysfs, i.name), { recursive: true });
    writeFileSync(join(sysfs, i.name, 'address'), `${i.mac}\n`);
  }
  mkdirSync(join(sysfs, 'lo'), { recursive: true });
  writeFileSync(join(sysfs, 'lo/address'), '00:00:00:00:00:00\n');
  writeFileSync(join(sysfs, 'bonding_masters'), '');
  mkdirSync(join(sysfs, 'bond0/bonding'), { recursive: true }); // what the kernel makes on "+bond0"
  mkdirSync(join(root, 'etc'), { recursive: true });
  const calls: string[] = [];
  const run = (async (argv: string[]) => {
    calls.push(argv.join(' '));
    if (argv.join(' ') === 'ip -6 route add default via 2001:db8:1::1 dev bond0.101')
      throw new Error('RTNETLINK answers: Network is unreachable');
    if (argv[0] === 'modprobe') throw new Error('modprobe: module bonding not found');
    return { stdout: '', stderr: '' };
  }) as ProgramRunner;
  const log = createMemoryLog();
  await configureNetworkData(JSON.stringify(BOND_VLAN), { root, run, log, source: 'vmedia network_data.json' });
  assert.equal(readFileSync(join(sysfs, 'bond0/bonding/mode'), 'utf8'), '802.3ad');
  assert.equal(readFileSync(join(sysfs, 'bonding_masters'), 'utf8'), '+bond0');
  assert.equal(readFileSync(join(sysfs, 'bond0/bonding/slaves'), 'utf8'), '+eno2'); // the last write of a plain file
  assert.match(readFileSync(join(root, 'etc/resolv.conf'), 'utf8'), /^nameserver 10\.1\.0\.2$/m);
  assert.ok(calls.includes('ip link add link bond0 name bond0.101 type vlan id 101'));
  assert.ok(calls.includes('ip -4 addr add 10.1.0.5/16 dev bond0.101'));
  assert.ok(log.lines.some((l) => l.startsWith('WARNING') && l.includes('Network is unreachable')));
  assert.ok(!log.lines.some((l) => l.startsWith('WARNING') && l.includes('modprobe')), 'modprobe is optional');
  assert.ok(log.lines.some((l) => l.startsWith('INFO') && l.includes('bond0=bond0') && l.includes('1 step(s) failed')));

  const bad = createMemoryLog();
  const before = calls.length;
  await configureNetworkData('{"links": [{"id": 1}]}', { root, run, log: bad, source: 'vmedia network_data.json' });
  assert.equal(calls.length, before, 'nothing runs for a malformed document');
  assert.ok(bad.lines.some((l) => l.startsWith('ERROR') && l.includes('links[0].id') && l.includes('ignored')));
});
