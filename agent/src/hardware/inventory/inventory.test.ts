/** Every field of every fixture tree against its expected JSON, plus the facts each fixture exists to pin. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collectDmi } from '../../inspect/dmi-decode.js';
import { collectNumaTopology, collectPciDevices } from '../../inspect/sysfs-collectors.js';
import { collectInventory, createHostAccess, getOsInstallDevice, listBlockDevices } from './index.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures');
// Expected files write the fixtures directory as <FIXTURES>, so they hold wherever the repo is checked out.
const expected = async (fx: string, what: string): Promise<unknown> =>
  JSON.parse((await readFile(path.join(FIXTURES, fx, `expected-${what}.json`), 'utf8')).replaceAll('<FIXTURES>', FIXTURES));

for (const fx of ['host-vm', 'server-r640', 'qemu-q35']) {
  describe(`fixture ${fx}`, () => {
    const root = path.join(FIXTURES, fx);
    it('inventory matches expected-inventory.json field by field', async () => {
      const inv = await collectInventory({ root });
      assert.deepStrictEqual(JSON.parse(JSON.stringify(inv)), await expected(fx, 'inventory'));
    });
    it('pci-devices, numa-topology and dmi-decode match', async () => {
      const host = createHostAccess({ root });
      assert.deepStrictEqual(await collectPciDevices(host), await expected(fx, 'pci-devices'));
      assert.deepStrictEqual((await collectNumaTopology(host)) ?? null, await expected(fx, 'numa-topology'));
      const dmi = await collectDmi(host).catch((e: Error) => ({ error: e.message }));
      assert.deepStrictEqual(JSON.parse(JSON.stringify(dmi)), await expected(fx, 'dmi'));
    });
  });
}

describe('server-r640 facts', () => {
  const root = path.join(FIXTURES, 'server-r640');
  it('drops the fa: virtual function, keeps the VLAN, uses the permanent MAC', async () => {
    const inv = await collectInventory({ root, bootif: '01-24-6e-96-11-22-30' });
    assert.deepEqual(
      inv.interfaces.map((i) => i.name),
      ['eno1', 'eno1.100', 'eno2'],
    );
    assert.equal(inv.interfaces[2]!.mac_address, '24:6e:96:11:22:32');
    assert.equal(inv.interfaces[0]!.ipv6_address, 'fe80::266e:96ff:fe11:2230%eno1');
    assert.equal(inv.boot.pxe_interface, '01-24-6e-96-11-22-30');
    assert.equal(inv.boot.current_boot_mode, 'uefi');
  });
  it('falls back to udev for the serial, dmidecode for DIMMs, sysfs dmi for the vendor', async () => {
    const inv = await collectInventory({ root });
    assert.equal(inv.disks[0]!.serial, 'S47MNA0M123456');
    assert.equal(inv.memory.physical_mb, 12 * 16384);
    assert.equal(inv.system_vendor.serial_number, '7XYZ123');
    assert.equal(
      inv.disks.some((d) => d.name === '/dev/sr0' || d.name === '/dev/loop0'),
      false,
    );
  });
  it('reads BMC IPv4, SLAAC IPv6 and MAC, or nothing when skipped', async () => {
    const inv = await collectInventory({ root });
    assert.deepEqual([inv.bmc_address, inv.bmc_v6address, inv.bmc_mac], ['10.10.0.5', 'fd00:10::d294:66ff:feaa:bbcc', 'd0:94:66:aa:bb:cc']);
    const skipped = await collectInventory({ root, skipBmc: true });
    assert.deepEqual([skipped.bmc_address, skipped.bmc_v6address, 'bmc_mac' in skipped], [null, null, false]);
  });
  it('keeps uuid/partuuid off the wire but on listBlockDevices; honours skip_block_devices', async () => {
    const inv = await collectInventory({ root });
    assert.equal('uuid' in inv.disks[0]!, false);
    const all = await listBlockDevices({ root });
    assert.equal('uuid' in all[0]!, true);
    const kept = await listBlockDevices({ root, skipBlockDevices: [{ name: '/dev/sda' }, { rotational: true }, { volume_name: 'x' }] });
    assert.deepEqual(
      kept.map((d) => d.name),
      ['/dev/nvme0n1'],
    );
    // An entry naming a RAID volume skips no disk, even with device hints beside it (IPA ignores the entry).
    const withVolume = await listBlockDevices({ root, skipBlockDevices: [{ volume_name: 'x', name: '/dev/sda' }] });
    assert.deepEqual(
      withVolume.map((d) => d.name),
      all.map((d) => d.name),
    );
  });
  it('guesses the smallest disk >= 4 GiB and follows root device hints', async () => {
    const disks = await listBlockDevices({ root });
    assert.equal(getOsInstallDevice(disks).name, '/dev/sda');
    assert.equal(getOsInstallDevice(disks, { properties: { root_device: { tran: 'nvme' } } }).name, '/dev/nvme0n1');
    assert.equal(
      getOsInstallDevice(disks, { instance_info: { root_device: { size: '>= 1000' } }, properties: { root_device: { name: '/dev/sda' } } })
        .name,
      '/dev/sdb',
    );
  });
});

describe('qemu-q35 facts', () => {
  const root = path.join(FIXTURES, 'qemu-q35');
  it('lshw array form, string lsblk values, virtio PCI parent, 2 GiB disk not chosen', async () => {
    const inv = await collectInventory({ root });
    assert.equal(inv.memory.physical_mb, 2048);
    assert.equal(inv.system_vendor.firmware?.vendor, 'SeaBIOS');
    assert.equal(inv.interfaces[0]!.pci_address, '0000:01:00.0');
    assert.equal(inv.disks[1]!.size, 2147483648);
    assert.equal(getOsInstallDevice(inv.disks).name, '/dev/vda');
    assert.equal(inv.cpu.frequency, '2394.454');
  });
});
