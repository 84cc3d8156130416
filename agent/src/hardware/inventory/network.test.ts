/** readAddresses: `ip -j addr` where `ip` can print JSON; Node's own view, without starting it, where `ip` is busybox's. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ExecError, type ProgramRunner } from '../../util/exec.js';
import { createMemoryLog } from '../../../test/support/logs.js';
import { createHostAccess } from './host-access.js';
import { collectInventory } from './index.js';
import {
  bringUpVlanInterfaces,
  collectInterfaces,
  IP_ADDR_ARGV,
  vlanIdsFromLldp,
  ipIsBusybox,
  isVlanName,
  listInterfaceNames,
  listNetworkInterfaces,
  lshwSpeedMbps,
  readAddresses,
} from './network.js';

const IP_JSON = JSON.stringify([
  { ifname: 'eth0', address: '52:54:00:12:34:56', permaddr: '52:54:00:aa:bb:cc', addr_info: [{ family: 'inet', local: '10.0.2.15' }] },
]);

describe('readAddresses and the ip on PATH', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-ip-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  // busybox's applets are links to the busybox binary; iproute2's ip is a file of its own.
  const busybox = join(dir, 'busybox-bin');
  mkdirSync(busybox);
  writeFileSync(join(busybox, 'busybox'), '#!/bin/sh\n', { mode: 0o755 });
  symlinkSync(join(busybox, 'busybox'), join(busybox, 'ip'));
  const iproute2 = join(dir, 'iproute2-bin');
  mkdirSync(iproute2);
  writeFileSync(join(iproute2, 'ip'), '#!/bin/sh\n', { mode: 0o755 });
  const missing = join(dir, 'missing');

  const recorder = () => {
    const calls: string[][] = [];
    const run: ProgramRunner = async (argv) => {
      calls.push(argv);
      return { stdout: IP_JSON, stderr: '', code: 0 };
    };
    return { calls, run };
  };
  const withPath = async <T>(p: string, fn: () => Promise<T>): Promise<T> => {
    const saved = process.env.PATH;
    process.env.PATH = p;
    try {
      return await fn();
    } finally {
      process.env.PATH = saved;
    }
  };

  it('takes the first ip on PATH: busybox only when it resolves to a file named busybox', async () => {
    const host = createHostAccess();
    assert.equal(await ipIsBusybox(host, `${missing}:${busybox}:${iproute2}`), true);
    assert.equal(await ipIsBusybox(host, `${iproute2}:${busybox}`), false);
    assert.equal(await ipIsBusybox(host, `relative:${missing}`), false);
    // A fixture tree replays what was recorded, whatever the test host has.
    assert.equal(await ipIsBusybox(createHostAccess({ root: dir }), busybox), false);
  });

  it("does not start busybox's ip, which has no -j, and reads Node's view instead", async () => {
    const { calls, run } = recorder();
    const addrs = await withPath(busybox, () => readAddresses(createHostAccess({ run })));
    assert.deepEqual(calls, []);
    // Node's view has no permanent MAC: nothing came from the recorder's JSON.
    assert.ok([...addrs.values()].every((l) => l.perm === null));
  });

  it('reads ip -j addr, with the permanent MAC, where ip is not busybox', async () => {
    const { calls, run } = recorder();
    const addrs = await withPath(iproute2, () => readAddresses(createHostAccess({ run })));
    assert.deepEqual(calls, [IP_ADDR_ARGV]);
    assert.deepEqual(addrs.get('eth0'), { mac: '52:54:00:12:34:56', perm: '52:54:00:aa:bb:cc', v4: '10.0.2.15', v6: null });
  });
});

describe('VLAN interfaces', () => {
  it('names IPA counts as VLANs: <parent>.<digits>, nothing else with a dot', () => {
    assert.deepEqual(['eth0.100', 'bond0.7', 'eth0.', 'br.ex', 'eth0.abc', 'eth0.100.200', 'eth0', '.5'].map(isVlanName), [
      true,
      true,
      false,
      false,
      false,
      false,
      false,
      true,
    ]);
  });

  it('lists a VLAN without device/, but not a bridge or a QinQ link with a dot; no biosdevname for the VLAN', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ramforge-vlan-'));
    after(() => rmSync(root, { recursive: true, force: true }));
    const net = join(root, 'sys/class/net');
    const dev = (name: string, mac: string, physical: boolean) => {
      mkdirSync(join(net, name), { recursive: true });
      writeFileSync(join(net, name, 'address'), `${mac}\n`);
      if (physical) writeFileSync(join(net, name, 'device'), '');
    };
    dev('eth0', '52:54:00:00:00:01', true);
    dev('eth0.100', '52:54:00:00:00:01', false);
    dev('br.ex', '52:54:00:00:00:02', false);
    dev('eth0.100.200', '52:54:00:00:00:01', false);
    mkdirSync(join(root, '.commands'), { recursive: true });
    writeFileSync(join(root, '.commands', 'biosdevname_-i_eth0.out'), 'em1\n');
    writeFileSync(join(root, '.commands', 'biosdevname_-i_eth0.100.out'), 'em1.100\n');
    const host = createHostAccess({ root });
    assert.deepEqual(await listInterfaceNames(host), ['eth0', 'eth0.100']);
    const ifaces = await collectInterfaces(host);
    assert.deepEqual(
      ifaces.map((i) => [i.name, i.biosdevname]),
      [
        ['eth0', 'em1'],
        ['eth0.100', null],
      ],
    );
  });
});

describe('InfiniBand ports of Mellanox NICs (IPA hardware_managers/mlnx.py)', () => {
  it("report the GUID's MAC and Mellanox's client-id; another vendor's IPoIB address stays as it is", async () => {
    const root = mkdtempSync(join(tmpdir(), 'ramforge-ib-'));
    after(() => rmSync(root, { recursive: true, force: true }));
    const ib = 'a0:00:00:27:fe:80:00:00:00:00:00:00:7c:fe:90:03:00:29:26:52';
    for (const [name, vendor] of [
      ['ib0', '0x15b3'],
      ['ib1', '0x8086'],
    ] as const) {
      mkdirSync(join(root, 'sys/class/net', name, 'device'), { recursive: true });
      writeFileSync(join(root, 'sys/class/net', name, 'address'), `${ib}\n`);
      writeFileSync(join(root, 'sys/class/net', name, 'device', 'vendor'), `${vendor}\n`);
    }
    const ifaces = await collectInterfaces(createHostAccess({ root }));
    assert.deepEqual(
      ifaces.map((i) => [i.name, i.mac_address, i.client_id]),
      [
        ['ib0', '7c:fe:90:29:26:52', 'ff:00:00:00:00:00:02:00:00:02:c9:00:7c:fe:90:03:00:29:26:52'],
        ['ib1', ib, null],
      ],
    );
  });
});

describe('ipa-enable-vlan-interfaces (IPA netutils.bring_up_vlan_interfaces)', () => {
  const root = mkdtempSync(join(tmpdir(), 'ramforge-vlans-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const net = join(root, 'sys/class/net');
  for (const [name, mac] of [
    ['eth0', '52:54:00:00:00:01'],
    ['eth1', '52:54:00:00:00:02'],
  ] as const) {
    mkdirSync(join(net, name, 'device'), { recursive: true });
    writeFileSync(join(net, name, 'address'), `${mac}\n`);
  }
  /** Records every program; `ip link add` makes the VLAN appear in sysfs as the kernel would, `fail` makes it exit 1. */
  const recorder = (fail = false) => {
    const calls: string[] = [];
    const run: ProgramRunner = async (argv) => {
      calls.push(argv.join(' '));
      if (argv[0] === 'ip' && argv[2] === 'add') {
        if (fail) throw new Error('exit code 1: RTNETLINK answers: Operation not supported');
        const [parent, name] = [argv[4]!, argv[6]!];
        mkdirSync(join(net, name), { recursive: true });
        writeFileSync(join(net, name, 'address'), readFileSync(join(net, parent, 'address')));
      }
      if (argv[0] !== 'ip' || argv[1] !== 'link') throw new Error(`spawn ${argv[0]} ENOENT`);
      return { stdout: '', stderr: '', code: 0 };
    };
    return { calls, host: createHostAccess({ root, run }) };
  };

  it('creates "<interface>.<id>" and "<MAC>.<id>", raises them and lists them with the parent MAC; leaves an existing one alone', async () => {
    const r = recorder();
    const l = createMemoryLog();
    const ifaces = await collectInterfaces(r.host, undefined, undefined, {
      enableVlanInterfaces: ['eth0.100', '52:54:00:00:00:02.200', 'eth9.5'],
      collectLldp: false,
      log: l,
    });
    assert.deepEqual(
      ifaces.map((i) => [i.name, i.mac_address]),
      [
        ['eth0', '52:54:00:00:00:01'],
        ['eth1', '52:54:00:00:00:02'],
        ['eth0.100', '52:54:00:00:00:01'],
        ['eth1.200', '52:54:00:00:00:02'],
      ],
    );
    assert.deepEqual(
      r.calls.filter((c) => c.startsWith('ip link')),
      [
        'ip link add link eth0 name eth0.100 type vlan id 100',
        'ip link set dev eth0.100 up',
        'ip link add link eth1 name eth1.200 type vlan id 200',
        'ip link set dev eth1.200 up',
      ],
    );
    assert.deepEqual(
      r.calls.filter((c) => c.startsWith('modprobe')),
      ['modprobe 8021q'],
      'the driver is asked for once',
    );
    assert.match(l.lines.join('\n'), /eth9\.5: interface eth9 does not exist/);
    // The next inventory finds them in sysfs and creates nothing.
    const again = recorder();
    const second = await collectInterfaces(again.host, undefined, undefined, {
      enableVlanInterfaces: ['eth0.100'],
      collectLldp: false,
      log: createMemoryLog(),
    });
    assert.deepEqual(
      again.calls.filter((c) => c.startsWith('ip link')),
      [],
    );
    assert.ok(second.some((i) => i.name === 'eth0.100'));
    for (const n of ['eth0.100', 'eth1.200']) rmSync(join(net, n), { recursive: true });
  });

  it('"all" or an interface: the VLANs LLDP announced (802.1 VLAN Name TLVs), only with LLDP on', async () => {
    const base = await collectInterfaces(createHostAccess({ root }));
    // 127 = organisationally specific; 0080c2 03 = IEEE 802.1 VLAN Name; VLAN 100 (0x0064) and 300 (0x012c), then the name.
    const withLldp = base.map((i) =>
      i.name === 'eth0'
        ? {
            ...i,
            lldp: [
              [127, '0080c2030064046e617431'],
              [127, '0080c203012c00'],
            ] as Array<[number, string]>,
          }
        : i,
    );
    assert.deepEqual(vlanIdsFromLldp(withLldp[0]!.lldp), [100, 300]);
    const r = recorder();
    assert.deepEqual(
      await bringUpVlanInterfaces(r.host, withLldp, { enableVlanInterfaces: ['all'], collectLldp: true, log: createMemoryLog() }),
      ['eth0.100', 'eth0.300'],
    );
    const off = recorder();
    const l = createMemoryLog();
    assert.deepEqual(await bringUpVlanInterfaces(off.host, withLldp, { enableVlanInterfaces: ['eth0'], collectLldp: false, log: l }), []);
    assert.match(l.lines.join('\n'), /eth0 names no VLAN and LLDP is off: set ipa-collect-lldp=1/);
    for (const n of ['eth0.100', 'eth0.300']) rmSync(join(net, n), { recursive: true });
  });

  it('list_network_interfaces captures LLDP only when a VLAN comes from it (then before the lookup, as IPA); the capture is kept', async () => {
    // An LLDP frame announcing VLAN 100 (802.1 VLAN Name TLV), as `tcpdump -xx` lists it.
    const frame = Buffer.from('0180c200000e020000aabbcc88cc' + 'fe0b0080c2030064046e617431' + '0000', 'hex');
    const rows: string[] = [];
    for (let o = 0; o < frame.length; o += 16) {
      const hex = frame.subarray(o, o + 16).toString('hex');
      rows.push(`\t0x${o.toString(16).padStart(4, '0')}:  ${hex.match(/.{1,4}/g)!.join(' ')}`);
    }
    const listing = `00:00:00.000000 LLDP, length 27\n${rows.join('\n')}\n`;
    let captures = 0;
    let eth3Down = true;
    const r = recorder();
    const host = {
      ...r.host,
      hasCommand: async (n: string) => n === 'tcpdump' || r.host.hasCommand(n),
      run: (async (argv, o) => {
        if (argv[0] !== 'tcpdump') return r.host.run(argv, o);
        captures++;
        if (argv[2] === 'eth3' && eth3Down) throw new ExecError(argv, 1, '', 'tcpdump: eth3: That device is not up\n');
        return { stdout: argv[2] === 'eth0' ? listing : '', stderr: '', code: 0 };
      }) as ProgramRunner,
    };
    const o = { collectLldp: true, lldpTimeout: 1, lldpCache: {}, log: createMemoryLog() };
    const withId = await listNetworkInterfaces(host, { ...o, enableVlanInterfaces: ['eth0.100'] });
    assert.equal(captures, 0, 'a VLAN with its id needs no LLDP');
    assert.ok(withId.some((i) => i.name === 'eth0.100'));
    rmSync(join(net, 'eth0.100'), { recursive: true });
    const fromLldp = await listNetworkInterfaces(host, { ...o, enableVlanInterfaces: ['all'] });
    assert.ok(fromLldp.some((i) => i.name === 'eth0.100'));
    assert.ok(r.calls.includes('ip link add link eth0 name eth0.100 type vlan id 100'), r.calls.join('\n'));
    const n = captures;
    assert.equal(n, 2, 'eth0 and eth1');
    // The VLAN made since is captured once (silent: LLDP comes untagged), then kept like the others.
    await listNetworkInterfaces(host, { ...o, enableVlanInterfaces: ['all'] });
    assert.equal(captures, n + 1, 'eth0.100, once');
    await listNetworkInterfaces(host, { ...o, enableVlanInterfaces: ['all'] });
    assert.equal(captures, n + 1, 'nothing captured again');
    // A NIC that shows later (its driver loaded after the first listing) is captured then, alone.
    mkdirSync(join(net, 'eth2', 'device'), { recursive: true });
    writeFileSync(join(net, 'eth2', 'address'), '52:54:00:00:00:03\n');
    await listNetworkInterfaces(host, { ...o, enableVlanInterfaces: ['all'] });
    assert.equal(captures, n + 2);
    await listNetworkInterfaces(host, { ...o, enableVlanInterfaces: ['all'] });
    assert.equal(captures, n + 2, 'a silent late NIC is not captured again');
    // One whose capture failed (still down) is tried again at the next listing, until a capture runs.
    mkdirSync(join(net, 'eth3', 'device'), { recursive: true });
    writeFileSync(join(net, 'eth3', 'address'), '52:54:00:00:00:04\n');
    await listNetworkInterfaces(host, { ...o, enableVlanInterfaces: ['all'] });
    await listNetworkInterfaces(host, { ...o, enableVlanInterfaces: ['all'] });
    assert.equal(captures, n + 4, 'the failed capture, then again');
    eth3Down = false;
    await listNetworkInterfaces(host, { ...o, enableVlanInterfaces: ['all'] });
    await listNetworkInterfaces(host, { ...o, enableVlanInterfaces: ['all'] });
    assert.equal(captures, n + 5, 'captured once it is up, then kept');
    for (const d of ['eth0.100', 'eth2', 'eth3']) rmSync(join(net, d), { recursive: true });
  });

  it('a VLAN the kernel refuses is a warning; the inventory goes on', async () => {
    const r = recorder(true);
    const l = createMemoryLog();
    const ifaces = await collectInterfaces(r.host, undefined, undefined, {
      enableVlanInterfaces: ['eth0.100'],
      collectLldp: false,
      log: l,
    });
    assert.deepEqual(
      ifaces.map((i) => i.name),
      ['eth0', 'eth1'],
    );
    assert.match(l.lines.join('\n'), /could not add VLAN interface eth0\.100: .*Operation not supported/);
  });
});

describe('speed_mbps', () => {
  const root = mkdtempSync(join(tmpdir(), 'ramforge-speed-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const net = join(root, 'sys/class/net');
  for (const [name, physical] of [
    ['eth0', true],
    ['eth0.100', false],
  ] as const) {
    mkdirSync(join(net, name), { recursive: true });
    writeFileSync(join(net, name, 'address'), '52:54:00:00:00:01\n');
    // The link runs at 1 Gbit/s on a 10 Gbit/s NIC.
    writeFileSync(join(net, name, 'speed'), '1000\n');
    if (physical) writeFileSync(join(net, name, 'device'), '');
  }
  const lshw = {
    id: 'host',
    children: [
      {
        id: 'core',
        class: 'bus',
        children: [
          { id: 'network', class: 'network', logicalname: 'eth0', capacity: 10_000_000_000, speed: 1_000_000_000, units: 'bit/s' },
        ],
      },
    ],
  };
  const speeds = async (tree?: typeof lshw) =>
    (await collectInterfaces(createHostAccess({ root }), undefined, tree && Promise.resolve(tree))).map((i) => [i.name, i.speed_mbps]);

  it("with lshw, IPA's figure: the NIC's capacity (else its speed), and null for a name lshw does not know (a VLAN)", async () => {
    assert.deepEqual(await speeds(lshw), [
      ['eth0', 10000],
      ['eth0.100', null],
    ]);
    const noCapacity = structuredClone(lshw);
    delete (noCapacity.children[0]!.children[0] as { capacity?: number }).capacity;
    assert.deepEqual((await speeds(noCapacity))[0], ['eth0', 1000]);
    assert.equal(lshwSpeedMbps(lshw, 'eth9'), undefined);
  });

  it('without lshw (no flavor ships it), the current link speed from sysfs', async () => {
    assert.deepEqual(await speeds(), [
      ['eth0', 1000],
      ['eth0.100', 1000],
    ]);
  });

  it('the inventory passes its lshw run to the interfaces', async () => {
    mkdirSync(join(root, '.commands'), { recursive: true });
    writeFileSync(join(root, '.commands', 'lshw_-quiet_-json.out'), JSON.stringify(lshw));
    try {
      const inv = await collectInventory({ root });
      assert.deepEqual(
        inv.interfaces.map((i) => [i.name, i.speed_mbps]),
        [
          ['eth0', 10000],
          ['eth0.100', null],
        ],
      );
    } finally {
      rmSync(join(root, '.commands'), { recursive: true, force: true });
    }
  });
});
