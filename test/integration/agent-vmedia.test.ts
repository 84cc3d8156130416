/**
 * Acceptance, one VM boot: the tinyipa ramdisk gets what Ironic 21.4's
 * virtual-media boot gives it, and nothing else. Ironic (image_utils.py
 * prepare_deploy_iso) writes an ISO 9660 image with the volume id
 * VMEDIA_BOOT_ISO carrying, beside kernel and ramdisk:
 *   etc/ironic-python-agent.d/ironic-tls.conf  "[DEFAULT] cafile = /etc/ironic-python-agent/ironic.crt"
 *   etc/ironic-python-agent/ironic.crt         [agent]api_ca_file
 *   openstack/latest/network_data.json         the node's network_data (DHCP-less deploys)
 * and boots it with boot_method=vmedia and the ipa-* parameters on the ISO's
 * kernel command line (the ir-vfd-dev floppy/USB with parameters.txt is only
 * attached with driver_info config_via_removable=True; default False).
 * Here the same files are on a CD-ROM made by xorriso with that volume id;
 * the kernel and initramfs are loaded by qemu directly with the command line
 * Ironic would write (what the ISO's boot loader does is iso.test.ts's).
 *
 * network_data.json: the two NICs in an active-backup bond with a STATIC
 * 10.0.2.50/24 (slirp's DHCP would hand out 10.0.2.15), default route via
 * 10.0.2.2, and VLAN 100 on the bond with 192.168.100.50/24; a third NIC,
 * on a slirp of its own (10.0.3.0/24), with an ipv4_dhcp network; a fourth
 * NIC (10.0.4.0/24) named in links that no network uses. DHCP runs per link:
 * the ramdisk must run a DHCP client on the third NIC (it gets slirp's
 * 10.0.3.15) and the fourth (as networkd's wired default gives it in dib and
 * coreos; 10.0.4.15), none on the bond's members (no 10.0.2.15 anywhere),
 * keep the static default route (the leases' routers do not replace it),
 * build the bond and the VLAN, and the agent must look up
 * and heartbeat over TLS against Ironic through a TLS terminator whose
 * certificate (for 10.0.2.2 only) is signed by a CA that exists only on
 * the virtual media. The real conductor then cleans the node to `available`.
 *
 * Networking: Ironic and the TLS terminator listen on 127.0.0.1; the guest
 * reaches them as 10.0.2.2 through slirp; the conductor and the test reach
 * the guest through hostfwd on 127.0.0.1 to 10.0.2.50 (the static address,
 * so a forward to slirp's DHCP address would find nobody). No host process
 * connects to 10.0.2.2.
 *
 *   bash scripts/test.sh test/integration/agent-vmedia.test.ts
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { parseNetworkData } from '../../agent/src/network-data.js';
import { makeTestCa } from '../../agent/test/support/test-ca.js';
import { sharedIronic, stopSharedIronic, vmIronicSkip, type IronicEnv } from '../support/ironic.js';
import { bootVm, freePort, type Vm } from '../support/qemu.js';
import { sharedBuild, testSshKey } from '../support/shared-build.js';
import { sshUntil } from '../support/ssh.js';

const skip = vmIronicSkip();
const MAC_A = '52:54:00:12:34:71';
const MAC_B = '52:54:00:12:34:72';
const MAC_C = '52:54:00:12:34:73';
const MAC_D = '52:54:00:12:34:74';
const STATIC_IP = '10.0.2.50';
const VLAN_IP = '192.168.100.50';

/** A node's network_data as Ironic passes it on: two ports bonded, a static address, a VLAN on the bond. */
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
    { id: 'vlan100', type: 'vlan', vlan_link: 'bond0', vlan_id: 100, vlan_mac_address: MAC_A },
    { id: 'port-c', type: 'phy', ethernet_mac_address: MAC_C, mtu: 1500 },
    // No network uses it: DHCP, as networkd's wired default gives it.
    { id: 'port-d', type: 'phy', ethernet_mac_address: MAC_D },
  ],
  networks: [
    {
      id: 'provisioning',
      type: 'ipv4',
      link: 'bond0',
      ip_address: STATIC_IP,
      netmask: '255.255.255.0',
      routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: '10.0.2.2' }],
    },
    { id: 'tagged', type: 'ipv4', link: 'vlan100', ip_address: VLAN_IP, netmask: '255.255.255.0', routes: [] },
    { id: 'by-dhcp', type: 'ipv4_dhcp', link: 'port-c' },
  ],
  services: [{ type: 'dns', address: '10.0.2.3' }],
};

let env: IronicEnv | undefined;
let kernel = '';
let initrd = '';
let dir = '';
let proxy: tls.Server | undefined;
let tlsConnections = 0;
let caSha = '';

before(
  async () => {
    if (skip) return;
    dir = mkdtempSync(join(tmpdir(), 'ramforge-vmedia-'));
    env = await sharedIronic();
    const b = await sharedBuild();
    kernel = b.kernel;
    initrd = b.initramfs;
    // The CA exists only here and on the virtual media; the server certificate names 10.0.2.2, the address the guest dials.
    const ca = makeTestCa(dir, ['10.0.2.2']);
    caSha = createHash('sha256').update(ca.caPem).digest('hex');
    const upstream = new URL(env.apiUrl);
    proxy = tls.createServer({ key: ca.key, cert: ca.cert }, (sock) => {
      tlsConnections++;
      const up = net.connect(Number(upstream.port), upstream.hostname);
      sock.pipe(up).pipe(sock);
      sock.on('error', () => up.destroy());
      up.on('error', () => sock.destroy());
    });
    await new Promise<void>((resolve) => proxy!.listen(0, '127.0.0.1', resolve));

    // The virtual media, laid out as Ironic's prepare_deploy_iso does.
    const tree = join(dir, 'iso');
    mkdirSync(join(tree, 'etc/ironic-python-agent.d'), { recursive: true });
    mkdirSync(join(tree, 'etc/ironic-python-agent'), { recursive: true });
    mkdirSync(join(tree, 'openstack/latest'), { recursive: true });
    writeFileSync(join(tree, 'etc/ironic-python-agent.d/ironic-tls.conf'), '[DEFAULT]\ncafile = /etc/ironic-python-agent/ironic.crt\n');
    writeFileSync(join(tree, 'etc/ironic-python-agent/ironic.crt'), ca.caPem);
    writeFileSync(join(tree, 'openstack/latest/network_data.json'), JSON.stringify(NETWORK_DATA));
    execFileSync('xorriso', ['-as', 'mkisofs', '-r', '-V', 'VMEDIA_BOOT_ISO', '-o', join(dir, 'vmedia.iso'), tree], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  },
  { timeout: 30 * 60_000 },
);
after(async () => {
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
  await stopSharedIronic();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('virtual media as Ironic 21.4 writes it: CA from ironic-tls.conf, static bond + VLAN from network_data.json, DHCP only on the ipv4_dhcp NIC and the one without a network; lookup, heartbeats and cleaning over TLS', {
  skip,
  timeout: 600_000,
}, async () => {
  assert.ok(parseNetworkData(JSON.stringify(NETWORK_DATA)).ok, 'the test document is valid network_data.json');
  const ironic = env!;
  let vm: Vm | undefined;
  let uuid: string | undefined;
  try {
    uuid = await ironic.enrollNode({ mac: MAC_A, name: 'vm-vmedia' });
    await ironic.setProvisionState(uuid, 'manage');
    await ironic.waitForProvisionState(uuid, ['manageable'], 60_000);
    await ironic.setProvisionState(uuid, 'provide');
    await ironic.waitForProvisionState(uuid, ['clean wait'], 60_000);

    const agentPort = await freePort();
    const sshPort = await freePort();
    const tlsPort = (proxy!.address() as AddressInfo).port;
    const t0 = Date.now();
    vm = await bootVm({
      kernel,
      initrd,
      append: `console=ttyS0 boot_method=vmedia ipa-api-url=https://10.0.2.2:${tlsPort} ipa-advertise-host=127.0.0.1 ipa-advertise-port=${agentPort} ipa-disk-wait-attempts=1`,
      memoryMiB: 1024,
      mac: MAC_A,
      hostfwd: [
        { hostPort: agentPort, guestPort: 9999, guestAddr: STATIC_IP },
        { hostPort: sshPort, guestPort: 22, guestAddr: STATIC_IP },
      ],
      serialLog: join(dir, 'serial.log'),
      // The bond's second member, on its own slirp (also with a DHCP server, which must not be asked).
      // The virtual media: a CD-ROM beside the direct-booted kernel (no bootindex, which -kernel takes).
      extraArgs: [
        ...['-nic', `user,model=virtio-net-pci,mac=${MAC_B}`],
        // The ipv4_dhcp NIC, on a slirp of another subnet (its lease must not shadow the bond's 10.0.2.0/24).
        ...['-nic', `user,net=10.0.3.0/24,model=virtio-net-pci,mac=${MAC_C}`],
        // The NIC named without a network, on a third subnet.
        ...['-nic', `user,net=10.0.4.0/24,model=virtio-net-pci,mac=${MAC_D}`],
        ...['-drive', `if=none,id=vmedia,media=cdrom,format=raw,readonly=on,file=${join(dir, 'vmedia.iso')}`],
        ...['-device', 'ide-cd,drive=vmedia'],
      ],
    });

    // The conductor records where the agent is on each heartbeat; cleaning then runs through it.
    let agentUrl: string | undefined;
    let heartbeat: string | undefined;
    let node = await ironic.getNode(uuid);
    let vmExited = false;
    void vm.exited().then(() => {
      vmExited = true;
    });
    while (!vmExited && Date.now() - t0 < 300_000 && !['available', 'clean failed'].includes(node.provision_state)) {
      agentUrl ??= node.driver_internal_info?.agent_url as string | undefined;
      heartbeat ??= node.driver_internal_info?.agent_last_heartbeat as string | undefined;
      await new Promise((r) => setTimeout(r, 1000));
      node = await ironic.getNode(uuid);
    }
    console.log(`boot to "available" through cleaning: ${((Date.now() - t0) / 1000).toFixed(1)} s; ${tlsConnections} TLS connections`);
    assert.equal(node.provision_state, 'available', `cleaning ended in ${node.provision_state}: ${node.last_error}`);
    assert.equal(node.last_error, null);
    assert.match(agentUrl ?? '', new RegExp(`^https://127\\.0\\.0\\.1:${agentPort}$`), 'the heartbeat gave the advertised agent URL');
    assert.ok(heartbeat, 'the conductor recorded a heartbeat');
    assert.ok(tlsConnections >= 2, `lookup and heartbeats went through the TLS terminator (${tlsConnections} connections)`);

    const serial = vm.serialText();
    assert.match(serial, /network: from network_data\.json on the virtual media \(the agent configures it/);
    assert.match(serial, /copied \S+etc\/ironic-python-agent\.d from \/dev\/sr0/);
    assert.match(
      serial,
      /network_data\.json: links port-a=eth0, port-b=eth1, port-c=eth2, port-d=eth3, bond0=bond0, vlan100=bond0\.100; static addresses: \S+\/24 on bond0, \S+\/24 on bond0\.100; DHCP started by the agent: eth2 \(udhcpc started in the background\), eth3 \(udhcpc started in the background\)\r?\n/,
    );
    assert.doesNotMatch(serial, /network_data\.json: .* failed/);

    const probe = [
      // Which interfaces a DHCP client runs on (busybox ps prints the arguments).
      'echo "dhcp_on=$(ps | grep "[u]dhcpc " | sed -n "s/.* -i \\([^ ]*\\).*/\\1/p" | sort | tr "\\n" " ")"',
      'ip -4 -o addr show',
      'ip -4 route show',
      'echo "bond_mode=$(cat /sys/class/net/bond0/bonding/mode)"',
      'echo "bond_slaves=$(cat /sys/class/net/bond0/bonding/slaves)"',
      'echo "bond_active=$(cat /sys/class/net/bond0/bonding/active_slave)"',
      'echo "eth0_master=$(basename $(readlink /sys/class/net/eth0/master))"',
      'cat /proc/net/vlan/config',
      'echo "ca=$(sha256sum /etc/ironic-python-agent/ironic.crt)"',
      'cat /etc/ironic-python-agent.d/ironic-tls.conf',
      'cat /etc/resolv.conf',
      'echo "static_defaults=$(cat /run/ramforge/static-default-routes)"',
    ].join('; ');
    const out = await sshUntil({ port: sshPort, key: testSshKey().privateKeyFile }, probe, { timeoutMs: 120_000 });
    console.log(`on the guest:\n${out}`);
    assert.match(out, /^dhcp_on=eth2 eth3 $/m, 'a DHCP client runs on the ipv4_dhcp NIC and the one without a network only');
    assert.match(out, /eth2 +inet 10\.0\.3\.15\/24/, 'the ipv4_dhcp NIC has its lease');
    assert.match(out, /eth3 +inet 10\.0\.4\.15\/24/, 'the NIC without a network has its lease');
    assert.doesNotMatch(out, /eth[01] +inet /, 'the static bond members have no address of their own');
    assert.match(out, new RegExp(`bond0 +inet ${STATIC_IP.replace(/\./g, '\\.')}/24`));
    assert.match(out, new RegExp(`bond0\\.100 +inet ${VLAN_IP.replace(/\./g, '\\.')}/24`));
    assert.doesNotMatch(out, /10\.0\.2\.15/, "no DHCP lease from the bond's slirps");
    assert.match(out, /^default via 10\.0\.2\.2 dev bond0/m);
    assert.doesNotMatch(out, /^default via 10\.0\.[34]\.2/m, "the leases' routers did not displace the static default route");
    assert.match(out, /^static_defaults=bond0 10\.0\.2\.2$/m);
    assert.match(out, /^bond_mode=active-backup 1$/m);
    assert.match(out, /^bond_slaves=eth0 eth1$/m);
    assert.match(out, /^bond_active=eth0$/m);
    assert.match(out, /^eth0_master=bond0$/m);
    assert.match(out, /^bond0\.100 +\| 100 +\| bond0$/m);
    assert.match(out, new RegExp(`^ca=${caSha} `, 'm'));
    assert.match(out, /^cafile = \/etc\/ironic-python-agent\/ironic\.crt$/m);
    assert.match(out, /^nameserver 10\.0\.2\.3$/m);
    assert.doesNotMatch(out, /^nameserver 10\.0\.[34]\.3$/m, "the leases' DNS servers did not replace the document's");
  } catch (e) {
    console.error(ironic.logTail(60));
    if (vm) console.error(`--- serial console (tail)\n${vm.serialText().split('\n').slice(-100).join('\n')}`);
    throw e;
  } finally {
    await vm?.stop();
    if (uuid) await ironic.deleteNode(uuid).catch(() => undefined);
  }
});

// A stand-in for nothing: the vmedia tree is read back from the ISO on the host, so a wrong layout fails here, not in the guest.
test('the virtual media carries the files at the paths Ironic 21.4 writes them', { skip }, () => {
  const list = execFileSync('xorriso', ['-indev', join(dir, 'vmedia.iso'), '-find', '/', '-type', 'f'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  for (const p of ['etc/ironic-python-agent.d/ironic-tls.conf', 'etc/ironic-python-agent/ironic.crt', 'openstack/latest/network_data.json'])
    assert.match(list, new RegExp(`'/${p.replace(/\./g, '\\.')}'`));
  assert.match(
    readFileSync(join(dir, 'vmedia.iso'))
      .subarray(0x8000 + 40, 0x8000 + 72)
      .toString('latin1'),
    /^VMEDIA_BOOT_ISO/,
  );
});
