import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoftwareRAIDError } from '../../errors.js';
import { testBlockDevice } from '../../../test/support/block-device.js';
import {
  diskOfPartition,
  mdadmCreateArgv,
  nodeBootMode,
  parseMdadmDetailDevices,
  parseMdadmName,
  partitionTableType,
  placeLogicalDisks,
  planSoftwareRaid,
  raidStartBytes,
  readCapability,
} from './plan.js';
import { validateRaidConfig, type LogicalDisk } from './raid-config.js';
import { rootVolumeName } from './install-device.js';

const GiB = 2 ** 30;
const sw = (o: Partial<LogicalDisk>): LogicalDisk => ({ size_gb: 'MAX', raid_level: '1', controller: 'software', ...o });

/** The error's details, for matching: the conductor shows them in last_error. */
function details(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SoftwareRAIDError, `expected SoftwareRAIDError, got ${String(e)}`);
    assert.equal(e.message, 'Software RAID caused unknown error');
    return e.details;
  }
  assert.fail('no error');
}

test('validation: a RAID-1 over every disk and a RAID-1 + RAID-0 pair pass', () => {
  validateRaidConfig({ logical_disks: [sw({})] }, { diskCount: 2 });
  validateRaidConfig({ logical_disks: [sw({ size_gb: 10 }), sw({ raid_level: '0' })] }, { diskCount: 2 });
  validateRaidConfig({ logical_disks: [sw({ size_gb: 10 }), sw({ raid_level: '6' })] }, { diskCount: 4 });
});

test('validation: each problem is named by its field, all in one error, with the node', () => {
  const d = details(() =>
    validateRaidConfig(
      { logical_disks: [sw({ raid_level: '0' }), sw({ raid_level: '7', size_gb: 'MAX', controller: 'hw' })] },
      { diskCount: 2, nodeUuid: 'n-1' },
    ),
  );
  assert.match(d, /^Could not validate Software RAID config for n-1: /);
  assert.match(d, /logical_disks\[0\]\.raid_level: Software RAID Configuration requires RAID-1 for the first logical disk, got 0/);
  assert.match(d, /logical_disks\[1\]\.controller: .*'controller'='software'/);
  assert.match(d, /logical_disks\[1\]\.raid_level: Software RAID configuration does not support RAID level "7"/);
  assert.match(d, /Software RAID can have only one RAID device with size 'MAX'/);
});

test('validation: too few disks for the level, bad sizes, names, physical_disks, three volumes', () => {
  assert.match(
    details(() => validateRaidConfig({ logical_disks: [sw({ size_gb: 1 }), sw({ raid_level: '5' })] }, { diskCount: 2 })),
    /logical_disks\[1\]\.raid_level: .*RAID level 5 with only 2 block devices found \(needs 3\)/,
  );
  assert.match(
    details(() => validateRaidConfig({ logical_disks: [sw({ size_gb: 1 }), sw({ raid_level: '6' })] }, { diskCount: 3 })),
    /RAID level 6 with only 3 block devices found \(needs 4\)/,
  );
  assert.match(
    details(() => validateRaidConfig({ logical_disks: [sw({})] }, { diskCount: 1 })),
    /RAID level 1 with only 1 block devices/,
  );
  assert.match(
    details(() => validateRaidConfig({ logical_disks: [sw({ size_gb: -3 })] }, { diskCount: 2 })),
    /logical_disks\[0\]\.size_gb: must be a positive integer \(GiB\) or "MAX", got -3/,
  );
  assert.match(
    details(() => validateRaidConfig({ logical_disks: [sw({ size_gb: '10' as never })] }, { diskCount: 2 })),
    /size_gb: .* got "10"/,
  );
  assert.match(
    details(() =>
      validateRaidConfig({ logical_disks: [sw({ size_gb: 1, volume_name: 'a' }), sw({ volume_name: 'a' })] }, { diskCount: 2 }),
    ),
    /logical_disks\[1\]\.volume_name: Duplicate software RAID device name a detected/,
  );
  assert.match(
    details(() => validateRaidConfig({ logical_disks: [sw({})] }, { diskCount: 2, skipVolumeNames: ['keep'] })),
    /logical_disks\[0\]\.volume_name: All logical disks are required to have a volume name/,
  );
  assert.match(
    details(() => validateRaidConfig({ logical_disks: [sw({ physical_disks: [{ name: '/dev/sda' }] })] }, { diskCount: 2 })),
    /logical_disks\[0\]\.physical_disks: .*at least 2 items/,
  );
  assert.match(
    details(() => validateRaidConfig({ logical_disks: [sw({ physical_disks: ['/dev/sda', '/dev/sdb'] as never })] }, { diskCount: 2 })),
    /physical_disks: .*list of device hints \(dictionaries\)/,
  );
  assert.match(
    details(() => validateRaidConfig({ logical_disks: [sw({ size_gb: 1 }), sw({ size_gb: 1 }), sw({})] }, { diskCount: 2 })),
    /requires one or two logical disks, got 3/,
  );
  assert.match(
    details(() =>
      validateRaidConfig({ logical_disks: [sw({ size_gb: 1, is_root_volume: true }), sw({ is_root_volume: true })] }, { diskCount: 2 }),
    ),
    /logical_disks\[1\]\.is_root_volume: .*only one/,
  );
  assert.equal(
    details(() => validateRaidConfig({ logical_disks: [] }, { diskCount: 2 })),
    'RAID config contains no logical disks',
  );
});

const disks = [
  testBlockDevice({ name: '/dev/sda', size: 100 * GiB, serial: 'A' }),
  testBlockDevice({ name: '/dev/sdb', size: 100 * GiB, serial: 'B' }),
  testBlockDevice({ name: '/dev/nvme0n1', size: 50 * GiB, serial: 'C' }),
];

test('physical_disks hints pick distinct disks; no hints spans every disk', () => {
  const { disks: used, logicalDisks } = placeLogicalDisks(disks, [
    sw({ size_gb: 10, physical_disks: [{ serial: 'C' }, { serial: 'A' }] }),
    sw({ raid_level: '0' }),
  ]);
  assert.deepEqual(logicalDisks[0]!.block_devices, ['/dev/nvme0n1', '/dev/sda']);
  assert.deepEqual(logicalDisks[1]!.block_devices, ['/dev/sda', '/dev/sdb', '/dev/nvme0n1']);
  assert.deepEqual(used, ['/dev/nvme0n1', '/dev/sda', '/dev/sdb']);
  assert.match(
    details(() => placeLogicalDisks(disks, [sw({ physical_disks: [{ serial: 'Z' }, { serial: 'A' }] })])),
    /physical_disks\[0\]: No candidates for physical disk \{"serial":"Z"\}/,
  );
  assert.match(
    details(() => placeLogicalDisks(disks, [sw({ physical_disks: [{ size: '>= 60' }, { size: '>= 60' }, { size: '>= 60' }] })])),
    /physical_disks\[2\]: No candidates left/,
  );
});

test('layout: bootloader room first, GiB ends, MAX last, partition names, mdadm argv', () => {
  assert.equal(raidStartBytes('uefi', 'gpt'), 551 * 2 ** 20);
  assert.equal(raidStartBytes('bios', 'gpt'), 8 * 2 ** 20);
  assert.equal(raidStartBytes('bios', 'msdos'), 2 ** 20);
  const { disks: used, logicalDisks } = placeLogicalDisks(disks.slice(0, 2).concat(disks[2]!), [
    sw({ size_gb: 'MAX', volume_name: 'root' }),
    sw({ size_gb: 20, raid_level: '5' }),
  ]);
  const plan = planSoftwareRaid(logicalDisks, used, {
    table: 'gpt',
    bootMode: 'uefi',
    sizes: Object.fromEntries(disks.map((d) => [d.name, d.size])),
  });
  assert.deepEqual(plan.labels[0], ['parted', '/dev/sda', '-s', '--', 'mklabel', 'gpt']);
  // The fixed-size RAID-5 comes first (md0), from 551 MiB to 20 GiB; the MAX RAID-1 follows to the end (md1).
  assert.deepEqual(
    plan.partitions.map((p) => [p.path, p.start, p.end]),
    [
      ['/dev/sda1', '551MiB', '20GiB'],
      ['/dev/sdb1', '551MiB', '20GiB'],
      ['/dev/nvme0n1p1', '551MiB', '20GiB'],
      ['/dev/sda2', '20GiB', '-1'],
      ['/dev/sdb2', '20GiB', '-1'],
      ['/dev/nvme0n1p2', '20GiB', '-1'],
    ],
  );
  assert.deepEqual(plan.partitions[0]!.argv, ['parted', '/dev/sda', '-s', '-a', 'optimal', '--', 'mkpart', 'primary', '551MiB', '20GiB']);
  assert.deepEqual(plan.arrays[0]!.argv, [
    'mdadm',
    '--create',
    '/dev/md0',
    '--force',
    '--run',
    '--metadata=1',
    '--level',
    '5',
    '--name',
    'md0',
    '--raid-devices',
    '3',
    '/dev/sda1',
    '/dev/sdb1',
    '/dev/nvme0n1p1',
  ]);
  assert.deepEqual(plan.arrays[1]!.argv.slice(0, 12), [
    'mdadm',
    '--create',
    '/dev/md1',
    '--force',
    '--run',
    '--metadata=1',
    '--level',
    '1',
    '--name',
    'root',
    '--raid-devices',
    '3',
  ]);
  assert.deepEqual(mdadmCreateArgv('/dev/md3', '1+0', 'x', ['/dev/a1', '/dev/b1']).slice(6, 8), ['--level', '10']);
});

test('layout: two fixed sizes stack (first ends at size_gb, next size_gb later); too big is refused by field', () => {
  const { disks: used, logicalDisks } = placeLogicalDisks(disks.slice(0, 2), [sw({ size_gb: 10 }), sw({ size_gb: 30, raid_level: '0' })]);
  const sizes = { '/dev/sda': 100 * GiB, '/dev/sdb': 100 * GiB };
  const plan = planSoftwareRaid(logicalDisks, used, { table: 'msdos', bootMode: 'bios', sizes });
  assert.deepEqual(
    plan.partitions.map((p) => `${p.path} ${p.start} ${p.end}`),
    ['/dev/sda1 1MiB 10GiB', '/dev/sdb1 1MiB 10GiB', '/dev/sda2 10GiB 40GiB', '/dev/sdb2 10GiB 40GiB'],
  );
  assert.throws(
    () => planSoftwareRaid(logicalDisks, used, { table: 'msdos', bootMode: 'bios', sizes: { ...sizes, '/dev/sdb': 30 * GiB } }),
    (e: unknown) => e instanceof SoftwareRAIDError && /logical_disks\[1\]\.size_gb: 30 GiB does not fit on \/dev\/sdb/.test(e.details),
  );
  const full = placeLogicalDisks(disks.slice(0, 2), [sw({ size_gb: 100 }), sw({ raid_level: '0' })]);
  assert.match(
    details(() => planSoftwareRaid(full.logicalDisks, full.disks, { table: 'gpt', bootMode: 'bios', sizes })),
    /logical_disks\[0\]\.size_gb: 100 GiB does not fit/,
  );
});

test('layout: a volume whose /dev/md<i> is taken (a kept array) gets the lowest free name; its default volume name stays md<i>', () => {
  const { disks: used, logicalDisks } = placeLogicalDisks(disks.slice(0, 2), [
    sw({ size_gb: 10 }),
    sw({ size_gb: 10 }),
    sw({ raid_level: '0' }),
  ]);
  const sizes = { '/dev/sda': 100 * GiB, '/dev/sdb': 100 * GiB };
  const plain = planSoftwareRaid(logicalDisks, used, { table: 'msdos', bootMode: 'bios', sizes });
  assert.deepEqual(
    plain.arrays.map((a) => a.md),
    ['/dev/md0', '/dev/md1', '/dev/md2'],
  );
  const plan = planSoftwareRaid(logicalDisks, used, { table: 'msdos', bootMode: 'bios', sizes, usedMd: ['/dev/md1', '/dev/md127'] });
  assert.deepEqual(
    plan.arrays.map((a) => `${a.md} ${a.name} ${a.argv[2]}`),
    ['/dev/md0 md0 /dev/md0', '/dev/md2 md1 /dev/md2', '/dev/md3 md2 /dev/md3'],
  );
});

test('partition table and boot mode follow the node as IPA reads them', () => {
  assert.equal(partitionTableType({}, 'uefi'), 'gpt');
  assert.equal(partitionTableType({ properties: { capabilities: 'disk_label:gpt,boot_mode:bios' } }, 'bios'), 'gpt');
  assert.equal(
    partitionTableType(
      { instance_info: { capabilities: { disk_label: 'msdos' } }, properties: { capabilities: 'disk_label:gpt' } },
      'bios',
    ),
    'msdos',
  );
  assert.equal(partitionTableType({}, 'bios'), 'msdos');
  assert.equal(nodeBootMode({ properties: { capabilities: 'boot_mode:bios' } }, 'uefi'), 'bios');
  assert.equal(
    nodeBootMode({ instance_info: { deploy_boot_mode: 'uefi' }, properties: { capabilities: 'boot_mode:bios' } }, 'bios'),
    'uefi',
  );
  assert.equal(
    nodeBootMode({ instance_info: { capabilities: '{"secure_boot": "true"}' }, properties: { capabilities: 'secure_boot:true' } }, 'bios'),
    'uefi',
  );
  assert.equal(nodeBootMode({ properties: { capabilities: 'boot_mode:weird' } }, 'bios'), 'bios');
});

test('mdadm output parsing and device names', () => {
  const detail = `/dev/md0:
           Version : 1.2
     Creation Time : Sat Dec  5 00:40:00 2026
        Raid Level : raid1
              Name : ramforge:root  (local to host ramforge)
            Events : 17

    Number   Major   Minor   RaidDevice State
       0     253        1        0      active sync   /dev/vda1
       1     253       17        1      active sync   /dev/vdb1
`;
  assert.deepEqual(parseMdadmDetailDevices(detail), ['/dev/vda1', '/dev/vdb1']);
  assert.equal(parseMdadmName(detail), 'root');
  assert.equal(parseMdadmName('     Name : esp\n'), 'esp');
  assert.equal(diskOfPartition('/dev/vda1'), '/dev/vda');
  assert.equal(diskOfPartition('/dev/nvme0n1p12'), '/dev/nvme0n1');
  assert.equal(diskOfPartition('/dev/loop3p1'), '/dev/loop3');
  assert.equal(rootVolumeName({ logical_disks: [sw({ size_gb: 'MAX' }), sw({ size_gb: 5, raid_level: '0' })] }), 'md1');
  assert.equal(
    rootVolumeName({
      logical_disks: [sw({ size_gb: 5, volume_name: 'a' }), sw({ is_root_volume: true, volume_name: 'b', raid_level: '0' })],
    }),
    'b',
  );
  // Never a volume marked is_root_volume: false, as IPA leaves those out of the install device.
  assert.equal(
    rootVolumeName({
      logical_disks: [sw({ size_gb: 5, volume_name: 'data', is_root_volume: false }), sw({ volume_name: 'os', raid_level: '0' })],
    }),
    'os',
  );
  assert.equal(rootVolumeName({ logical_disks: [sw({ volume_name: 'data', is_root_volume: false })] }), null);
});

test('readCapability: a dict, a JSON text (Nova stores instance_info capabilities so), or k:v pairs, as IPA parse_capabilities', () => {
  assert.equal(readCapability({ capabilities: { disk_label: 'gpt' } }, 'disk_label'), 'gpt');
  assert.equal(readCapability({ capabilities: '{"disk_label": "gpt", "boot_mode": "uefi"}' }, 'boot_mode'), 'uefi');
  assert.equal(readCapability({ capabilities: 'boot_mode:bios,disk_label:gpt' }, 'disk_label'), 'gpt');
  assert.equal(readCapability({ capabilities: '{not json' }, 'disk_label'), undefined);
  assert.equal(readCapability({}, 'disk_label'), undefined);
});
