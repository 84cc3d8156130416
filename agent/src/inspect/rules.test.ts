/** Pure rules of inspection: daemon intervals, DHCP wait, mDNS endpoint, legacy keys, collector order. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Inventory, NetworkInterface } from '../hardware/types.js';
import { orderCollectors } from './collectors.js';
import { runDaemonLoop } from './daemon.js';
import { normalizeBootif, waitForDhcp } from './dhcp-wait.js';
import { createMemoryLog } from '../../test/support/logs.js';
import { buildLegacyKeys, legacyEnabled } from './legacy.js';
import { buildServiceEndpoint } from './mdns.js';
import { parseDmidecode } from './dmi-decode.js';

describe('daemon loop', () => {
  it('jitters cumulatively, backs off ×2.7 capped at 4×, recovers under post_interval', async () => {
    const results = [true, false, false, true, true];
    const sleeps: number[] = [];
    const ac = new AbortController();
    let calls = 0;
    await runDaemonLoop(
      async () => {
        if (!results[calls++]) throw new Error('down');
      },
      {
        postInterval: 300,
        signal: ac.signal,
        random: () => 0.5, // multiplier 0.95
        sleep: async (ms) => {
          sleeps.push(Math.round(ms));
          if (sleeps.length === 6) ac.abort();
        },
      },
    );
    // 300×.95=285 ok; 270.75 fail→731.025; ×.95=694.47 fail→1200 (cap); 1140 ok→min(1140,300)=300; 285; 270.75
    assert.deepEqual(sleeps, [285000, 270750, 694474, 1140000, 285000, 270750]);
    assert.equal(calls, 5);
  });
});

describe('DHCP wait', () => {
  const iface = (mac: string, ip: string | null): NetworkInterface => ({
    name: mac,
    mac_address: mac,
    ipv4_address: ip,
    ipv6_address: null,
    has_carrier: true,
    lldp: null,
    vendor: null,
    product: null,
    client_id: null,
    biosdevname: null,
  });
  const clock = () => {
    let t = 0;
    return {
      now: () => t,
      sleep: async (ms: number) => {
        t += ms;
      },
    };
  };

  it('normalizes BOOTIF', () => {
    assert.equal(normalizeBootif('01-AA-bb-cc-dd-ee-ff'), 'aa:bb:cc:dd:ee:ff');
    assert.equal(normalizeBootif('aa:bb:cc:dd:ee:ff'), 'aa:bb:cc:dd:ee:ff');
    assert.equal(normalizeBootif(undefined), undefined);
  });
  it('waits for the PXE NIC only, polling every 2 s', async () => {
    const c = clock();
    let polls = 0;
    const ok = await waitForDhcp({
      timeoutS: 60,
      allInterfaces: false,
      bootif: '01-aa-bb-cc-dd-ee-ff',
      ...c,
      listInterfaces: async () => [iface('aa:bb:cc:dd:ee:ff', ++polls >= 3 ? '10.0.0.2' : null), iface('11:22:33:44:55:66', null)],
    });
    assert.equal(ok, true);
    assert.equal(c.now(), 4000);
  });
  it('gives up after the timeout; all-interfaces waits for every NIC', async () => {
    const c = clock();
    const ok = await waitForDhcp({
      timeoutS: 10,
      allInterfaces: true,
      bootif: undefined,
      ...c,
      listInterfaces: async () => [iface('aa:bb:cc:dd:ee:ff', '10.0.0.2'), iface('11:22:33:44:55:66', null)],
    });
    assert.equal(ok, false);
    assert.equal(c.now(), 12000);
  });
  it('does not wait with a zero timeout', async () => {
    const list = async () => [] as NetworkInterface[];
    assert.equal(await waitForDhcp({ timeoutS: 0, allInterfaces: false, bootif: undefined, listInterfaces: list }), true);
  });
  it('without BOOTIF waits until any NIC has IPv4 or a global IPv6 address (a link-local one is not enough)', async () => {
    let c = clock();
    let polls = 0;
    const ok = await waitForDhcp({
      timeoutS: 60,
      allInterfaces: false,
      bootif: undefined,
      ...c,
      listInterfaces: async () => [iface('aa:bb:cc:dd:ee:ff', null), iface('11:22:33:44:55:66', ++polls >= 2 ? '10.0.0.9' : null)],
    });
    assert.equal(ok, true);
    assert.equal(c.now(), 2000);
    c = clock();
    const v6 = (addr: string) => async () => [{ ...iface('aa:bb:cc:dd:ee:ff', null), ipv6_address: addr }];
    assert.equal(
      await waitForDhcp({ timeoutS: 60, allInterfaces: false, bootif: undefined, ...c, listInterfaces: v6('2001:db8::5') }),
      true,
    );
    assert.equal(c.now(), 0);
    assert.equal(await waitForDhcp({ timeoutS: 10, allInterfaces: false, bootif: undefined, ...c, listInterfaces: v6('fe80::1') }), false);
    assert.equal(c.now(), 12000);
    c = clock();
    assert.equal(await waitForDhcp({ timeoutS: 10, allInterfaces: false, bootif: undefined, ...c, listInterfaces: async () => [] }), false);
    // A BMC's USB NIC (iDRAC, XCC) gets 169.254.x.x at once: not the network the inspector needs.
    c = clock();
    const log = createMemoryLog();
    const bmcOnly = async () => [iface('aa:bb:cc:dd:ee:ff', '169.254.0.2'), iface('11:22:33:44:55:66', null)];
    assert.equal(await waitForDhcp({ timeoutS: 10, allInterfaces: false, bootif: undefined, ...c, listInterfaces: bmcOnly, log }), false);
    assert.deepEqual(
      log.lines.map((l) => l.replace(/^.*?(INFO|WARNING) /, '$1 ')),
      [
        'INFO inspection: waiting up to 10 s for any NIC (no BOOTIF) to get an address before collecting',
        'WARNING inspection: any NIC (no BOOTIF) got no address in 10 s; collecting anyway',
      ],
    );
  });
});

describe('mDNS endpoint', () => {
  it('uses the server name unless it is .local, then the first routable address, IPv4 ones first (zeroconf order)', () => {
    assert.equal(
      buildServiceEndpoint({ server: 'inspector.example.com.', port: 5050, addresses: ['10.0.0.1'], txt: { protocol: 'http' } }).url,
      'http://inspector.example.com:5050',
    );
    assert.equal(
      buildServiceEndpoint({
        server: 'ctl.local.',
        port: 5050,
        addresses: ['127.0.0.1', 'fe80::1', 'fd00::7', '10.0.0.1'],
        txt: { protocol: 'http', path: 'baremetal' },
      }).url,
      'http://10.0.0.1:5050/baremetal',
    );
  });
  it('defaults to http on port 80, https elsewhere; only allowed ipa_ overrides pass', () => {
    assert.equal(buildServiceEndpoint({ server: 'a.local.', port: 80, addresses: ['192.0.2.5'], txt: {} }).url, 'http://192.0.2.5:80');
    // An empty protocol= is no protocol (IPA: `if not protocol`), not a URL starting with "://".
    assert.equal(
      buildServiceEndpoint({ server: 'a.local.', port: 6385, addresses: ['192.0.2.5'], txt: { protocol: '' } }).url,
      'https://192.0.2.5:6385',
    );
    const e = buildServiceEndpoint({
      server: 'a.local.',
      port: 443,
      addresses: ['192.0.2.5'],
      txt: { ipa_ntp_server: '192.0.2.1', ipa_debug: '1', region: 'r1' },
    });
    assert.equal(e.url, 'https://192.0.2.5:443');
    assert.deepEqual(e.overrides, { ntp_server: '192.0.2.1' });
    assert.deepEqual(e.params, { region: 'r1' });
    assert.throws(() => buildServiceEndpoint({ server: 'a.local.', port: 80, addresses: ['127.0.0.1'], txt: {} }));
  });
});

describe('legacy keys', () => {
  const inv = {
    cpu: { count: 8, architecture: 'aarch64' },
    memory: { physical_mb: 16384 },
    bmc_address: '0.0.0.0',
    interfaces: [{ name: 'eth0', mac_address: 'aa:bb:cc:dd:ee:ff', ipv4_address: '10.0.0.5' }],
  } as unknown as Inventory;
  it('derives discoverd-era keys; local_gb is floor(GiB) - 1; no ipmi_address for 0.0.0.0', () => {
    assert.deepEqual(buildLegacyKeys(inv, { size: 500107862016 } as never), {
      cpus: 8,
      cpu_arch: 'aarch64',
      memory_mb: 16384,
      local_gb: 464,
      interfaces: { eth0: { mac: 'aa:bb:cc:dd:ee:ff', ip: '10.0.0.5' } },
    });
  });
  it('is on unless ipa-inspection-legacy is false', () => {
    assert.equal(legacyEnabled({}), true);
    assert.equal(legacyEnabled({ 'ipa-inspection-legacy': '0' }), false);
  });
});

describe('collectors', () => {
  it('runs logs last', () => assert.deepEqual(orderCollectors(['logs', 'default', ' pci-devices ']), ['default', 'pci-devices', 'logs']));
  it('parses dmidecode blocks with lists', () => {
    const d = parseDmidecode(
      '# dmidecode 3.4\n\nHandle 0x0000, DMI type 0, 26 bytes\nBIOS Information\n\tVendor: X\n\tCharacteristics:\n\t\tPCI is supported\n\t\tUEFI is supported\n\tBIOS Revision: 1.2\n\nHandle 0x0400, DMI type 4, 48 bytes\nProcessor Information\n\tVersion: CPU A\n',
    );
    assert.deepEqual(d, {
      bios: {
        Handle: 'Handle 0x0000, DMI type 0, 26 bytes',
        Vendor: 'X',
        Characteristics: ['PCI is supported', 'UEFI is supported'],
        'BIOS Revision': '1.2',
      },
      cpu: [{ Handle: 'Handle 0x0400, DMI type 4, 48 bytes', Version: 'CPU A' }],
      memory: { devices: [] },
    });
  });
  it("keeps each block's Handle line as IPA, but not the memory array's; sums the arrays' slots into a number", () => {
    const d = parseDmidecode(
      [
        'Handle 0x1000, DMI type 16, 23 bytes\nPhysical Memory Array\n\tLocation: System Board Or Motherboard\n\tNumber Of Devices: 12\n',
        'Handle 0x1001, DMI type 16, 23 bytes\nPhysical Memory Array\n\tLocation: System Board Or Motherboard\n\tNumber Of Devices: 12\n',
        'Handle 0x1100, DMI type 17, 84 bytes\nMemory Device\n\tArray Handle: 0x1000\n\tSize: 16 GB\n',
      ].join('\n'),
    );
    assert.deepEqual(d.memory, {
      Location: 'System Board Or Motherboard',
      'Number Of Devices': 24,
      devices: [{ Handle: 'Handle 0x1100, DMI type 17, 84 bytes', 'Array Handle': '0x1000', Size: '16 GB' }],
    });
    // An array without devices: IPA sends no devices key.
    assert.deepEqual(parseDmidecode('Handle 0x1000, DMI type 16, 23 bytes\nPhysical Memory Array\n\tNumber Of Devices: 4\n').memory, {
      'Number Of Devices': 4,
    });
  });
});
