/** Parsers of tool outputs: lsblk, udev, lshw, dmidecode, ipmitool, ip. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readLanField } from './bmc.js';
import { readLan6Addresses } from './bmc-lan6.js';
import { collectCpu, parseKeyValues } from './cpu.js';
import type { HostAccess } from './host-access.js';
import { parseLsblk, parseUdevData } from './disks.js';
import { parseLshw } from './lshw.js';
import { readPhysicalFromDmidecode, readPhysicalFromLshw } from './memory.js';
import { parseIpAddr } from './network.js';
import { parseDmidecodeSystem } from './system-vendor.js';

describe('lsblk', () => {
  it('flattens md/mpath children once and accepts string values', () => {
    const rows = parseLsblk(
      JSON.stringify({
        blockdevices: [
          { kname: 'sda', size: '100', rota: '1', type: 'disk', children: [{ kname: 'md0', size: 90, rota: false, type: 'raid1' }] },
          { kname: 'sdb', size: 100, rota: true, type: 'disk', children: [{ kname: 'md0', size: 90, rota: false, type: 'raid1' }] },
        ],
      }),
    );
    assert.deepEqual(
      rows.map((r) => [r.kname, r.size, r.rota, r.type]),
      [
        ['sda', 100, true, 'disk'],
        ['md0', 90, false, 'raid1'],
        ['sdb', 100, true, 'disk'],
      ],
    );
  });
});

describe('udev database', () => {
  it('reads E: properties and S: links in order', () => {
    const r = parseUdevData('S:disk/by-path/a\nS:disk/by-id/b\nI:1\nE:ID_SERIAL=X_Y\nE:ID_WWN=0x1=2\nG:systemd\n');
    assert.deepEqual(r, { env: { ID_SERIAL: 'X_Y', ID_WWN: '0x1=2' }, links: ['disk/by-path/a', 'disk/by-id/b'] });
  });
});

describe('lshw and dmidecode memory', () => {
  it('sums banks, else the memory node, as MiB', () => {
    const lshw = parseLshw(
      JSON.stringify([
        {
          id: 'h',
          children: [
            {
              id: 'core',
              children: [
                {
                  id: 'memory:0',
                  size: 999,
                  children: [
                    { id: 'bank:0', size: 8 * 2 ** 30 },
                    { id: 'bank:1', size: 8 * 2 ** 30 },
                  ],
                },
                { id: 'memory:1', size: 4 * 2 ** 30 },
                { id: 'memory-controller', size: 1 },
              ],
            },
          ],
        },
      ]),
    );
    assert.equal(readPhysicalFromLshw(lshw), 20480);
    assert.equal(readPhysicalFromLshw(undefined), null);
  });
  it('adds DIMM sizes in MB and GB, ignores empty slots', () => {
    assert.equal(readPhysicalFromDmidecode('\tSize: 16 GB\n\tSize: No Module Installed\n\tSize: 8192 MB\n'), 24576);
    assert.equal(readPhysicalFromDmidecode('nothing'), null);
  });
  it('reads BIOS and System sections of dmidecode', () => {
    const f = parseDmidecodeSystem(
      'Handle 0x0000, DMI type 0, 24 bytes\nBIOS Information\n\tVendor: SeaBIOS\n\tVersion: 1.16\n\tRelease Date: 04/01/2014\n\nHandle 0x0100, DMI type 1, 27 bytes\nSystem Information\n\tManufacturer: QEMU\n\tProduct Name: Standard PC\n\tSerial Number: Not Specified\n',
    );
    assert.deepEqual(f, {
      product_name: 'Standard PC',
      serial_number: 'Not Specified',
      manufacturer: 'QEMU',
      fw_vendor: 'SeaBIOS',
      fw_version: '1.16',
      fw_date: '04/01/2014',
    });
  });
});

describe('ipmitool', () => {
  it('reads "IP Address" but not "IP Address Source"', () => {
    const out = 'IP Address Source       : DHCP Address\nIP Address              : 10.1.2.3\nMAC Address             : aa:bb:cc:dd:ee:ff\n';
    assert.equal(readLanField(out, 'IP Address'), '10.1.2.3');
    assert.equal(readLanField(out, 'MAC Address'), 'aa:bb:cc:dd:ee:ff');
  });
  it('keeps active DHCPv6/SLAAC dynamic addresses and active static ones that are enabled', () => {
    const dyn =
      'IPv6 Dynamic Address 0:\n    Source/Type:    DHCPv6\n    Address:        ::/0\n    Status:         active\nIPv6 Dynamic Address 1:\n    Source/Type:    static\n    Address:        fd00::9/64\n    Status:         active\nIPv6 Dynamic Address 2:\n    Source/Type:    SLAAC\n    Address:        fd00::5/64\n    Status:         active\n';
    assert.deepEqual(readLan6Addresses(dyn, true), ['fd00::5']);
    const stat =
      'IPv6 Static Address 0:\n    Enabled:        no\n    Address:        fd00::7/64\n    Status:         active\nIPv6 Static Address 1:\n    Enabled:        yes\n    Address:        fd00::8/64\n    Status:         active\nIPv6 Static Address 2:\n    Enabled:        yes\n    Address:        fd00::6/64\n    Status:         disabled\n';
    assert.deepEqual(readLan6Addresses(stat, false), ['fd00::8']);
    assert.deepEqual(readLan6Addresses('not: [yaml', true), []);
  });
});

describe('lscpu', () => {
  it('lower-cases keys, indented (util-linux 2.38) lines work, a repeated key keeps its last value (IPA)', () => {
    const m = parseKeyValues('CPU(s):   4\n  Model name:  X\nNUMA node0 CPU(s): 0-3\n  Model name:  Cortex-A72\n');
    assert.equal(m.get('cpu(s)'), '4');
    assert.equal(m.get('numa node0 cpu(s)'), '0-3');
    assert.equal(m.get('model name'), 'Cortex-A72');
  });
});

describe('ip -j addr', () => {
  it('takes permaddr, the first inet/inet6, zone on link-local', () => {
    const m = parseIpAddr(
      JSON.stringify([
        {
          ifname: 'eth0',
          address: '02:00:00:00:00:01',
          permaddr: '52:54:00:00:00:01',
          addr_info: [
            { family: 'inet6', local: 'fe80::1', scope: 'link' },
            { family: 'inet', local: '10.0.0.2', scope: 'global' },
            { family: 'inet', local: '10.0.0.3' },
          ],
        },
      ]),
    );
    assert.deepEqual(m.get('eth0'), { mac: '02:00:00:00:00:01', perm: '52:54:00:00:00:01', v4: '10.0.0.2', v6: 'fe80::1%eth0' });
  });
});

describe('collectCpu', () => {
  const host = (files: Record<string, string>): HostAccess =>
    ({
      root: '/',
      replay: true,
      readText: async (p: string) => files[p],
      run: async () => {
        throw new Error('lscpu: not found');
      },
    }) as unknown as HostAccess;
  it('without lscpu or "physical id" (a busybox ramdisk in a VM): socket_count 0, as IPA reports it; model and frequency null', async () => {
    const cpu = await collectCpu(
      host({ '/proc/cpuinfo': 'processor\t: 0\nflags\t\t: fpu sse2\n\nprocessor\t: 1\nflags\t\t: fpu sse2\n\n' }),
    );
    assert.deepEqual([cpu.count, cpu.socket_count, cpu.model_name, cpu.frequency, cpu.flags], [2, 0, null, null, ['fpu', 'sse2']]);
  });
});
