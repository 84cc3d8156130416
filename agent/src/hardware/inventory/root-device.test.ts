/** Root device hints: ironic-lib / IPA device_hints semantics as a table. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeviceNotFound } from '../../errors.js';
import type { BlockDevice } from '../types.js';
import { findDevicesByHints, getOsInstallDevice, guessRootDisk, matchSpec, parseRootDeviceHints, parseSpec } from './root-device.js';
import { testBlockDevice } from '../../../test/support/block-device.js';

const GIB = 1024 ** 3;
const dev = (o: Partial<BlockDevice>): BlockDevice => testBlockDevice({ name: '/dev/x', size: 0, tran: null, ...o });
const DISKS = [
  dev({
    name: '/dev/sda',
    model: 'Samsung SSD 860',
    size: 500 * GIB,
    serial: 'S3Z1NB0K',
    vendor: 'ATA',
    wwn: '0x5002538e',
    hctl: '0:0:0:0',
    by_path: '/dev/disk/by-path/pci-0000:00:17.0-ata-1',
    tran: 'sata',
  }),
  dev({
    name: '/dev/sdb',
    model: 'ST4000NM0035',
    size: 4000 * GIB,
    rotational: true,
    serial: 'ZC1ABCDE',
    vendor: 'SEAGATE',
    wwn: '0x5000c500',
    wwn_with_extension: '0x5000c500ext',
    wwn_vendor_extension: '0xext',
    hctl: '1:0:0:0',
    tran: 'sas',
  }),
  dev({ name: '/dev/nvme0n1', model: 'Dell Express Flash', size: 10 * GIB, serial: 'NVME123', tran: 'nvme' }),
  dev({ name: '/dev/md0', model: 'RAID', size: 3 * GIB }),
];

const names = (hints: Record<string, unknown>) => findDevicesByHints(DISKS, hints).map((d) => d.name);

describe('findDevicesByHints', () => {
  const table: Array<[string, Record<string, unknown>, string[]]> = [
    ['name exact', { name: '/dev/sdb' }, ['/dev/sdb']],
    ['name is not prefixed with /dev', { name: 'sdb' }, []],
    ['model equality ignores case, spaces quoted', { model: 'samsung ssd 860' }, ['/dev/sda']],
    ['model s== explicit', { model: 's== ST4000NM0035' }, ['/dev/sdb']],
    ['model <in> substring', { model: '<in> flash' }, ['/dev/nvme0n1']],
    ['model <or>', { model: '<or> RAID <or> ST4000NM0035' }, ['/dev/sdb', '/dev/md0']],
    ['serial s!=', { serial: 's!= ZC1ABCDE', tran: 'nvme' }, ['/dev/nvme0n1']],
    ['size plain means ==', { size: 10 }, ['/dev/nvme0n1']],
    ['size as string', { size: '500' }, ['/dev/sda']],
    ['size >=', { size: '>= 500' }, ['/dev/sda', '/dev/sdb']],
    ['size < ', { size: '< 11' }, ['/dev/nvme0n1', '/dev/md0']],
    ["size '=' is >= in specs_matcher", { size: '= 4000' }, ['/dev/sdb']],
    ['size !=', { size: '!= 500' }, ['/dev/sdb', '/dev/nvme0n1', '/dev/md0']],
    ['rotational bool', { rotational: true }, ['/dev/sdb']],
    ['rotational string false', { rotational: 'false' }, ['/dev/sda', '/dev/nvme0n1', '/dev/md0']],
    ['wwn', { wwn: '0x5000C500' }, ['/dev/sdb']],
    ['wwn_with_extension', { wwn_with_extension: '0x5000c500ext' }, ['/dev/sdb']],
    ['wwn_vendor_extension', { wwn_vendor_extension: '0xext' }, ['/dev/sdb']],
    ['vendor', { vendor: 'ata' }, ['/dev/sda']],
    ['hctl', { hctl: '1:0:0:0' }, ['/dev/sdb']],
    ['by_path', { by_path: '/dev/disk/by-path/pci-0000:00:17.0-ata-1' }, ['/dev/sda']],
    ['tran', { tran: 'sas' }, ['/dev/sdb']],
    ['all hints must match', { model: 'RAID', size: 500 }, []],
    ["null attribute reads as Python's 'None'", { serial: 'none' }, ['/dev/md0']],
  ];
  for (const [title, hints, want] of table) it(title, () => assert.deepEqual(names(hints), want));

  it('rejects invalid hints like ironic-lib', () => {
    assert.throws(() => parseRootDeviceHints({ colour: 'red' }), /The hints "colour" are invalid/);
    assert.throws(() => parseRootDeviceHints({ size: 'big' }), /not an integer/);
    assert.throws(() => parseRootDeviceHints({ size: 0 }), /positive integer/);
    assert.throws(() => parseRootDeviceHints({ model: 5 }), /not a string/);
    assert.throws(() => parseRootDeviceHints({ rotational: 'maybe' }), /not a Boolean/);
    assert.throws(() => parseRootDeviceHints({ model: '  ' }), /expression is empty/);
  });

  it('normalizes like ironic-lib', () => {
    assert.deepEqual(parseRootDeviceHints({ model: 'Big Disk', size: 10, rotational: 'yes', serial: '<or> A b <or> c' }), {
      model: 's== big%20disk',
      size: '== 10',
      rotational: true,
      serial: '<or> a%20b <or> c',
    });
  });
});

describe('specs matcher', () => {
  it('parses operators longest first', () => {
    assert.deepEqual(parseSpec('s<= abc'), { op: 's<=', args: ['abc'] });
    assert.deepEqual(parseSpec('<= 4'), { op: '<=', args: ['4'] });
    assert.deepEqual(parseSpec('==4'), { op: '==', args: ['4'] });
    assert.deepEqual(parseSpec('<all-in> a b'), { op: '<all-in>', args: ['a', 'b'] });
    assert.deepEqual(parseSpec('plain'), { op: '', args: ['plain'] });
  });
  it('compares numbers as floats and strings lexically', () => {
    assert.equal(matchSpec(10.5, '> 10'), true);
    assert.equal(matchSpec('abc', 's< abd'), true);
    assert.equal(matchSpec('abc', '<all-in> a c'), true);
  });
});

describe('the install device matches every serial and WWN a disk has (all_serial_and_wwn)', () => {
  const disks = [
    dev({
      name: '/dev/sda',
      size: 100 * GIB,
      serial: 'S1',
      serials: ['S1', 'S1', 'ATA_DISK_S1'],
      wwn: '0x5000',
      wwns: ['0x5000', '0x5000c500'],
    }),
    dev({ name: '/dev/sdb', size: 100 * GIB, serial: null, serials: [null, null, null], wwn: null, wwns: [null, null] }),
  ];
  it("finds a disk by udev's long ID_SERIAL or its udev WWN; RAID physical_disks hints (one value, as IPA) do not", () => {
    assert.equal(getOsInstallDevice(disks, { properties: { root_device: { serial: 'ATA_DISK_S1' } } } as never).name, '/dev/sda');
    assert.equal(getOsInstallDevice(disks, { properties: { root_device: { wwn: '0x5000c500' } } } as never).name, '/dev/sda');
    assert.deepEqual(findDevicesByHints(disks, { serial: 'ATA_DISK_S1' }), []);
  });
  it('a disk with no serial at all matches no serial hint, not even "none" (IPA skips it)', () => {
    assert.throws(() => getOsInstallDevice(disks, { properties: { root_device: { serial: 'none' } } } as never), DeviceNotFound);
  });
});

describe('guessRootDisk / getOsInstallDevice', () => {
  it('takes the smallest disk of at least 4 GiB, ties by name', () => {
    assert.equal(guessRootDisk(DISKS).name, '/dev/nvme0n1');
    const tie = [dev({ name: '/dev/sdc', size: 8 * GIB }), dev({ name: '/dev/sdb', size: 8 * GIB })];
    assert.equal(guessRootDisk(tie).name, '/dev/sdb');
  });
  it('throws DeviceNotFound when nothing fits', () => {
    assert.throws(() => guessRootDisk([dev({ size: GIB })]), DeviceNotFound);
    assert.throws(() => guessRootDisk([]), DeviceNotFound);
    assert.throws(() => getOsInstallDevice(DISKS, { properties: { root_device: { serial: 'nope' } } }), DeviceNotFound);
    assert.throws(
      () => getOsInstallDevice(DISKS, { properties: { root_device: { colour: 'red' } } }),
      (e: unknown) => e instanceof DeviceNotFound && /failed to validate/.test(e.details),
    );
  });
  it('prefers instance_info hints over properties; empty hints mean guess', () => {
    const node = { instance_info: { root_device: { rotational: true } }, properties: { root_device: { tran: 'nvme' } } };
    assert.equal(getOsInstallDevice(DISKS, node).name, '/dev/sdb');
    assert.equal(getOsInstallDevice(DISKS, { instance_info: { root_device: {} }, properties: {} }).name, '/dev/nvme0n1');
  });
});
