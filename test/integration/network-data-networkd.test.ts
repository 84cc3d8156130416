/**
 * The dib ramdisk, and the coreos one (the agent chrooted, the host's
 * systemd-networkd: the agent writes its files into the host's
 * /run/systemd/network and asks the host to load them through
 * /run/ramforge/networkd-reload), each with DHCP on every wired link, on a
 * DHCP-less node, one VM boot each: virtual media with a network_data.json that
 * bonds two NICs (active-backup) with a static 10.0.2.50/24 and gives a
 * third NIC a static 10.0.3.60/24, a fourth an IPv6 SLAAC network only
 * (no DHCPv4 there, as glean gives none), and bonds the fifth and sixth
 * (bond1) with DHCP, which networkd runs there. Checked on the guest over SSH
 * (hostfwd to the bond's static address, so the login itself proves it): the
 * agent's 10-ramforge-<dev>.network files, networkd's own state for the NICs
 * and bonds (ADMIN_STATE=unmanaged: no DHCP on the bonds' members or the
 * static links, no flush; bond1 managed, with its lease), and that the
 * addresses and the bonds survive a restart of systemd-networkd and then the
 * rescue hand-over (ramforge-rescue.service on /etc/.rescued), which restarts
 * networkd after flushing the links networkd manages (bond1 among them: an
 * address planted there as a provisioning lease is gone, its lease back).
 *
 * Networking: the guest may use slirp's 10.0.2.2 (its default route); the
 * agent's ipa-api-url is the guest's own 127.0.0.1:9 (nothing listens; the
 * lookup fails and is retried, which is all this test needs of it); the test
 * reaches the guest through hostfwd on 127.0.0.1. No host process connects
 * to 10.0.2.2.
 *
 *   TMPDIR=/tmp bash scripts/test.sh test/integration/network-data-networkd.test.ts
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseNetworkData } from '../../agent/src/network-data.js';
import { coreosSharedBuild } from '../support/coreos-build.js';
import { dibSharedBuild } from '../support/dib-build.js';
import { bootVm, freePort, type Vm } from '../support/qemu.js';
import { testSshKey } from '../support/shared-build.js';
import { sshUntil } from '../support/ssh.js';

const MAC_A = '52:54:00:12:34:81';
const MAC_B = '52:54:00:12:34:82';
const MAC_C = '52:54:00:12:34:83';
const MAC_D = '52:54:00:12:34:84';
const MAC_E = '52:54:00:12:34:85';
const MAC_F = '52:54:00:12:34:86';
const BOND_IP = '10.0.2.50';
const NIC_IP = '10.0.3.60';
/** What slirp's DHCP server leases to bond1 (whose MAC is MAC_E, the slirp on 10.0.5.0/24). */
const BOND1_LEASE = '10.0.5.15';

const NETWORK_DATA = {
  links: [
    { id: 'port-a', type: 'phy', ethernet_mac_address: MAC_A, mtu: 1500 },
    { id: 'port-b', type: 'phy', ethernet_mac_address: MAC_B, mtu: 1500 },
    {
      id: 'bond0',
      type: 'bond',
      bond_links: ['port-a', 'port-b'],
      bond_mode: 'active-backup',
      bond_miimon: 100,
      ethernet_mac_address: MAC_A,
    },
    { id: 'port-c', type: 'phy', ethernet_mac_address: MAC_C },
    { id: 'port-d', type: 'phy', ethernet_mac_address: MAC_D },
    { id: 'port-e', type: 'phy', ethernet_mac_address: MAC_E },
    { id: 'port-f', type: 'phy', ethernet_mac_address: MAC_F },
    {
      id: 'bond1',
      type: 'bond',
      bond_links: ['port-e', 'port-f'],
      bond_mode: 'active-backup',
      bond_miimon: 100,
      ethernet_mac_address: MAC_E,
    },
  ],
  networks: [
    {
      id: 'prov',
      type: 'ipv4',
      link: 'bond0',
      ip_address: BOND_IP,
      netmask: '255.255.255.0',
      routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: '10.0.2.2' }],
    },
    { id: 'other', type: 'ipv4', link: 'port-c', ip_address: NIC_IP, netmask: '255.255.255.0', routes: [] },
    { id: 'v6', type: 'ipv6_slaac', link: 'port-d' },
    { id: 'dhcp-bond', type: 'ipv4_dhcp', link: 'bond1' },
  ],
  services: [],
};

const top = mkdtempSync(join(tmpdir(), 'ramforge-nd-networkd-'));
after(() => rmSync(top, { recursive: true, force: true }));

/** What the guest says about its links: per MAC (per name for a bond) the name, master, networkd's ADMIN_STATE and lease; IPv4 addresses; the agent's files. */
const PROBE = [
  // bond1's lease (after a networkd restart or the hand-over, networkd asks for it again).
  `for i in $(seq 30); do ip -4 -o addr show dev bond1 | grep -q ' ${BOND1_LEASE}/' && break; sleep 1; done`,
  'for d in /sys/class/net/*; do',
  '  [ -e "$d/device" ] || continue',
  '  n=${d##*/}',
  '  mac=$(cat "$d/bonding_slave/perm_hwaddr" 2>/dev/null || cat "$d/address")',
  '  m=$(basename "$(readlink "$d/master" 2>/dev/null)" 2>/dev/null)',
  '  st=$(sed -n "s/^ADMIN_STATE=//p" "/run/systemd/netif/links/$(cat "$d/ifindex")" 2>/dev/null)',
  '  echo "link $mac $n master=${m:-none} admin=${st:-none} lease=$([ -e "/run/systemd/netif/leases/$(cat "$d/ifindex")" ] && echo yes || echo no)"',
  'done',
  'for d in /sys/class/net/*; do',
  '  [ -e "$d/bonding" ] || continue',
  '  st=$(sed -n "s/^ADMIN_STATE=//p" "/run/systemd/netif/links/$(cat "$d/ifindex")" 2>/dev/null)',
  '  echo "bond ${d##*/} admin=${st:-none} lease=$([ -e "/run/systemd/netif/leases/$(cat "$d/ifindex")" ] && echo yes || echo no)"',
  'done',
  'ip -4 -o addr show scope global | awk \'{print "addr", $2, $4}\'',
  'ip -4 route show default | sed "s/^/route /"',
  'for f in /run/systemd/network/10-ramforge-*.network; do echo "file $f"; sed "s/^/  /" "$f"; done',
].join('\n');

interface Probe {
  links: Map<string, { name: string; master: string; admin: string; lease: string }>;
  bonds: Map<string, { admin: string; lease: string }>;
  addrs: string[];
  raw: string;
}

function parseProbe(out: string): Probe {
  const links = new Map<string, { name: string; master: string; admin: string; lease: string }>();
  const bonds = new Map<string, { admin: string; lease: string }>();
  const addrs: string[] = [];
  for (const line of out.split('\n')) {
    const l = /^link (\S+) (\S+) master=(\S+) admin=(\S+) lease=(\S+)$/.exec(line);
    if (l) links.set(l[1]!, { name: l[2]!, master: l[3]!, admin: l[4]!, lease: l[5]! });
    const b = /^bond (\S+) admin=(\S+) lease=(\S+)$/.exec(line);
    if (b) bonds.set(b[1]!, { admin: b[2]!, lease: b[3]! });
    const a = /^addr (\S+) (\S+)$/.exec(line);
    if (a) addrs.push(`${a[2]} on ${a[1]}`);
  }
  return { links, bonds, addrs, raw: out };
}

function checkStatic(p: Probe, when: string): void {
  const a = p.links.get(MAC_A);
  const b = p.links.get(MAC_B);
  const c = p.links.get(MAC_C);
  assert.ok(a && b && c, `${when}: the three NICs are there:\n${p.raw}`);
  assert.equal(a.master, 'bond0', `${when}: ${a.name} is in bond0`);
  assert.equal(b.master, 'bond0', `${when}: ${b.name} is in bond0`);
  const e = p.links.get(MAC_E);
  const f = p.links.get(MAC_F);
  assert.ok(e && f, `${when}: the DHCP bond's NICs are there:\n${p.raw}`);
  assert.equal(e.master, 'bond1', `${when}: ${e.name} is in bond1`);
  assert.equal(f.master, 'bond1', `${when}: ${f.name} is in bond1`);
  for (const l of [a, b, c, e, f]) {
    assert.equal(l.admin, 'unmanaged', `${when}: networkd reports ${l.name} unmanaged:\n${p.raw}`);
    assert.equal(l.lease, 'no', `${when}: networkd holds no DHCP lease on ${l.name}`);
  }
  assert.ok(p.addrs.includes(`${BOND_IP}/24 on bond0`), `${when}: bond0 keeps ${BOND_IP}/24:\n${p.raw}`);
  assert.ok(p.addrs.includes(`${NIC_IP}/24 on ${c.name}`), `${when}: ${c.name} keeps ${NIC_IP}/24:\n${p.raw}`);
  // The SLAAC-only NIC: networkd manages it (router advertisements), without DHCPv4 (no lease, no address below).
  const d = p.links.get(MAC_D);
  assert.ok(d, `${when}: the fourth NIC is there:\n${p.raw}`);
  assert.notEqual(d.admin, 'unmanaged', `${when}: networkd manages ${d.name}`);
  assert.equal(d.lease, 'no', `${when}: networkd holds no DHCPv4 lease on ${d.name} (SLAAC only):\n${p.raw}`);
  // bond1: networkd's, with its DHCP lease (the one DHCP lease on the node).
  assert.equal(p.bonds.get('bond0')?.admin, 'unmanaged', `${when}: networkd reports the static bond0 unmanaged:\n${p.raw}`);
  const bond1 = p.bonds.get('bond1');
  assert.ok(bond1 && bond1.admin !== 'unmanaged', `${when}: networkd manages bond1:\n${p.raw}`);
  assert.equal(bond1.lease, 'yes', `${when}: networkd holds a DHCP lease on bond1:\n${p.raw}`);
  assert.ok(p.addrs.includes(`${BOND1_LEASE}/24 on bond1`), `${when}: bond1 has its lease ${BOND1_LEASE}/24:\n${p.raw}`);
  assert.deepEqual(
    p.addrs.filter((x) => !x.endsWith(' on bond0') && !x.endsWith(` on ${c.name}`) && x !== `${BOND1_LEASE}/24 on bond1`),
    [],
    `${when}: no other IPv4 address (no DHCP lease but bond1's):\n${p.raw}`,
  );
  assert.match(p.raw, /^route default via 10\.0\.2\.2 dev bond0/m, `${when}: the default route stays`);
}

/** What differs between the flavors: where the build comes from, who logs in, where the agent's root is. */
interface Flavor {
  label: string;
  build: () => Promise<{ kernel: string; initramfs: string }>;
  memoryMiB: number;
  /** The login (root on dib; core, with sudo, on coreos). */
  user: string;
  /** Prefix for what needs root. */
  sudo: string;
  /** The agent's /etc as the host sees it (coreos: its chroot). */
  agentEtc: string;
}

const FLAVORS: Flavor[] = [
  { label: 'dib', build: () => dibSharedBuild(), memoryMiB: 1024, user: 'root', sudo: '', agentEtc: '/etc' },
  {
    label: 'coreos',
    build: () => coreosSharedBuild(),
    memoryMiB: 1536,
    user: 'core',
    sudo: 'sudo -n ',
    agentEtc: '/opt/ironic-python-agent/etc',
  },
];

for (const f of FLAVORS)
  test(`${f.label} with network_data.json: networkd leaves the bond members and static NICs alone; the addresses survive a networkd restart and the rescue hand-over`, {
    timeout: 60 * 60_000,
  }, async () => {
    assert.ok(parseNetworkData(JSON.stringify(NETWORK_DATA)).ok);
    const b = await f.build();
    const dir = mkdtempSync(join(top, `${f.label}-`));
    const tree = join(dir, 'iso');
    mkdirSync(join(tree, 'openstack/latest'), { recursive: true });
    writeFileSync(join(tree, 'openstack/latest/network_data.json'), JSON.stringify(NETWORK_DATA));
    execFileSync('xorriso', ['-as', 'mkisofs', '-r', '-V', 'VMEDIA_BOOT_ISO', '-o', join(dir, 'vmedia.iso'), tree], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const sshPort = await freePort();
    const login = { port: sshPort, key: testSshKey().privateKeyFile, user: f.user };
    let vm: Vm | undefined;
    try {
      vm = await bootVm({
        kernel: b.kernel,
        initrd: b.initramfs,
        append: 'console=ttyS0,115200 boot_method=vmedia ipa-api-url=http://127.0.0.1:9 ramforge-rescue-dhcp-delay=0',
        memoryMiB: f.memoryMiB,
        mac: MAC_A,
        hostfwd: [{ hostPort: sshPort, guestPort: 22, guestAddr: BOND_IP }],
        serialLog: join(dir, 'serial.log'),
        extraArgs: [
          // The bond's second member on its own slirp, and a third NIC on another subnet; both slirps have a
          // DHCP server, which networkd must not ask.
          ...['-nic', `user,model=virtio-net-pci,mac=${MAC_B}`],
          ...['-nic', `user,model=virtio-net-pci,mac=${MAC_C},net=10.0.3.0/24`],
          // The SLAAC-only NIC, on a slirp with a DHCPv4 server too (and IPv6 router advertisements).
          ...['-nic', `user,model=virtio-net-pci,mac=${MAC_D},net=10.0.4.0/24`],
          // The DHCP bond's members: the active one's slirp answers bond1's DHCP; the backup is on a slirp of its own.
          ...['-nic', `user,model=virtio-net-pci,mac=${MAC_E},net=10.0.5.0/24`],
          ...['-nic', `user,model=virtio-net-pci,mac=${MAC_F},net=10.0.6.0/24`],
          ...['-drive', `if=none,id=vmedia,media=cdrom,format=raw,readonly=on,file=${join(dir, 'vmedia.iso')}`],
          ...['-device', 'ide-cd,drive=vmedia'],
        ],
      });
      const t0 = Date.now();
      // The login goes to the bond's static address: it works once the agent has configured it.
      await sshUntil(login, `ip -4 -o addr show dev bond0 | grep -q ' ${BOND_IP}/24'`, { timeoutMs: 600_000, pauseMs: 3000 });
      console.log(`ssh to ${BOND_IP} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      // The agent's log from the journal (the serial console lags far behind under TCG).
      const agentLog = await sshUntil(
        login,
        `${f.sudo}journalctl -b -u ironic-python-agent.service --no-pager -o cat | grep -q 'network_data.json: links' && ${f.sudo}journalctl -b -u ironic-python-agent.service --no-pager -o cat`,
        { timeoutMs: 60_000 },
      );
      // coreos: the chrooted agent has neither networkctl nor systemctl and asks the host, whose path unit loads them.
      const loaded = /network_data\.json: networkd (?:loaded|asked to load) the agent's files for ([^(]+) \(/.exec(agentLog);
      assert.ok(loaded, `the agent had networkd load its files:\n${agentLog}`);
      assert.equal(loaded[1]!.split(', ').length, 8, 'a file for each of the six NICs and the two bonds');
      const links = /network_data\.json: links ([^;]*); static addresses: 10\.0\.2\.50\/24 on bond0, 10\.0\.3\.60\/24 on \S+(?:;|$)/m.exec(
        agentLog,
      );
      assert.ok(links, `the agent logged the links and the static addresses:\n${agentLog}`);
      assert.deepEqual(
        links[1]!
          .split(', ')
          .map((l) => l.replace(/=(?!bond).*/, '='))
          .sort(),
        ['bond0=bond0', 'bond1=bond1', 'port-a=', 'port-b=', 'port-c=', 'port-d=', 'port-e=', 'port-f='],
      );
      assert.doesNotMatch(agentLog, /WARNING agent: network_data\.json/, "no step of the agent's network configuration warned");

      // Give networkd time to have done whatever it would do (a DHCP client gives up its first DISCOVERs in seconds).
      await new Promise((r) => setTimeout(r, 10_000));
      const boot = parseProbe(await sshUntil(login, PROBE, { timeoutMs: 60_000 }));
      console.log(`after boot:\n${boot.raw}`);
      checkStatic(boot, 'after boot');
      const nicA = boot.links.get(MAC_A)!.name;
      assert.match(
        boot.raw,
        new RegExp(`^file /run/systemd/network/10-ramforge-${nicA}\\.network\\n(  .*\\n)*  \\[Link\\]\\n  Unmanaged=yes$`, 'm'),
      );
      // networkd runs DHCP on every NIC from the start of the boot, before the agent has read the virtual media: on
      // these slirps (each with a DHCP server) it took leases then, which the agent removed (checkStatic: no other
      // address). From the restart that loaded the agent's files on, it asks for none.
      const journal = await sshUntil(login, `${f.sudo}journalctl -b -u systemd-networkd --no-pager -o cat`, { timeoutMs: 60_000 });
      // (The first start may be missing from `-u`: PID 1 logs it before journald runs. The agent's restart is there.)
      const stopped = journal.lastIndexOf('Stopping systemd-networkd.service');
      assert.ok(stopped >= 0, `the agent restarted networkd:\n${journal}`);
      const sinceAgent = journal.slice(stopped);
      for (const mac of [MAC_A, MAC_B, MAC_C, MAC_E, MAC_F]) {
        const name = boot.links.get(mac)!.name;
        assert.doesNotMatch(
          sinceAgent,
          new RegExp(`^${name}: (DHCPv4 address|Configuring with)`, 'm'),
          `networkd leaves ${name} alone:\n${sinceAgent}`,
        );
      }
      const nicD = boot.links.get(MAC_D)!.name;
      assert.doesNotMatch(sinceAgent, new RegExp(`^${nicD}: DHCPv4 address`, 'm'), `no DHCPv4 on ${nicD}:\n${sinceAgent}`);
      assert.match(
        boot.raw,
        new RegExp(`^file /run/systemd/network/10-ramforge-${nicD}\\.network\\n(  .*\\n)*  DHCP=no$`, 'm'),
        `the SLAAC-only NIC's file asks for no DHCP:\n${boot.raw}`,
      );

      // A restart of networkd (what the rescue hand-over does; `networkctl reload` needs D-Bus, which the image lacks).
      await sshUntil(login, `${f.sudo}systemctl restart systemd-networkd.service && sleep 10`, { timeoutMs: 120_000 });
      const restarted = parseProbe(await sshUntil(login, PROBE, { timeoutMs: 60_000 }));
      checkStatic(restarted, 'after a networkd restart');

      // What the provisioning network would leave on the SLAAC-only NIC and on the DHCP bond: dynamic addresses
      // (the hand-over flushes them).
      await sshUntil(
        login,
        `${f.sudo}ip -6 addr add 2001:db8:dead::1/64 dev ${nicD} valid_lft 600 preferred_lft 600 && ` +
          `${f.sudo}ip -4 addr add 10.0.5.99/24 dev bond1 valid_lft 600 preferred_lft 600`,
        { timeoutMs: 60_000 },
      );
      // The rescue hand-over, as after finalize_rescue: the agent stopped, the password hash and the marker written.
      await sshUntil(
        login,
        [
          `${f.sudo}systemctl stop ironic-python-agent.service`,
          `printf '%s' '$5$ramforge$0123456789abcdefghijklmnopqrstuvwxyzABCDE' | ${f.sudo}tee ${f.agentEtc}/ipa-rescue-config/ipa-rescue-password >/dev/null`,
          `${f.sudo}touch ${f.agentEtc}/.rescued`,
        ].join(' && '),
        { timeoutMs: 60_000 },
      );
      const handover = await sshUntil(
        login,
        `${f.sudo}journalctl -b -u ramforge-rescue.service --no-pager -o cat | grep -q 'ramforge-rescue: done' && ${f.sudo}journalctl -b -u ramforge-rescue.service --no-pager -o cat`,
        { timeoutMs: 180_000, pauseMs: 3000 },
      );
      console.log(`the hand-over:\n${handover}`);
      // networkd's: the DHCP bond (flushed, its lease awaited) and the SLAAC-only NIC (flushed, and configured again by
      // its file: still no DHCPv4, so no lease awaited).
      assert.match(handover, /ramforge-rescue: DHCP restarted on: bond1\s*$/m);
      assert.match(
        handover,
        new RegExp(`ramforge-rescue: restarted without DHCPv4 \\(their \\.network file asks none\\): ${nicD}\\s*$`, 'm'),
      );
      const kept =
        /ramforge-rescue: left as they are \(not managed by networkd: configured by the agent from network_data\.json\): ([^\r\n]*)/.exec(
          handover,
        );
      assert.ok(kept, 'the hand-over says which links it left alone');
      assert.deepEqual(
        kept[1]!.trim().split(/\s+/).sort(),
        ['bond0', ...[MAC_A, MAC_B, MAC_C, MAC_E, MAC_F].map((m) => boot.links.get(m)!.name)].sort(),
      );
      await new Promise((r) => setTimeout(r, 5000));
      // The login still goes to the bond's static address.
      const rescued = parseProbe(await sshUntil(login, PROBE, { timeoutMs: 120_000 }));
      console.log(`after the rescue hand-over:\n${rescued.raw}`);
      checkStatic(rescued, 'after the rescue hand-over');
      // The hand-over flushed the SLAAC-only NIC's IPv6 (qemu's user network advertises fec0::/64); the restarted
      // networkd solicited the router again and has the address back.
      const v6 = await sshUntil(login, `ip -6 -o addr show dev ${nicD} | grep 'inet6 fec0:'`, { timeoutMs: 60_000, pauseMs: 2000 });
      console.log(`${nicD} after the hand-over: ${v6.trim()}`);
      const all = await sshUntil(login, `ip -6 -o addr show dev ${nicD}`, { timeoutMs: 60_000 });
      assert.doesNotMatch(all, /2001:db8:dead::1/, `the planted dynamic address went with the hand-over:\n${all}`);
      assert.ok(
        !rescued.addrs.some((a) => a.startsWith('10.0.5.99/')),
        `the address planted on bond1 went with the hand-over:\n${rescued.raw}`,
      );
    } catch (e) {
      process.stderr.write(`serial log:\n${vm?.serialText().slice(-12000) ?? ''}\n`);
      throw e;
    } finally {
      await vm?.stop();
    }
  });
