import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoftwareRAIDError } from '../../errors.js';
import { ExecError, type ProgramRunner } from '../../util/exec.js';
import { createMemoryLog } from '../../../test/support/logs.js';
import { testBlockDevice } from '../../../test/support/block-device.js';
import { createSoftwareRaid, deleteSoftwareRaid, filterRaidSkipList, type RaidContext } from './software-raid.js';
import { chooseRaidInstallDevice } from './install-device.js';
import { getHolderDisks } from './md-devices.js';

const GiB = 2 ** 30;

/** A fake system: md arrays as lsblk lists them, `mdadm --detail` texts, devices carrying superblocks; every argv recorded. */
function fakeSystem(
  o: { arrays?: string[]; detail?: Record<string, string>; superblocks?: string[]; partitions?: Record<string, string[]> } = {},
) {
  const calls: string[] = [];
  let arrays = [...(o.arrays ?? [])];
  const run: ProgramRunner = async (argv) => {
    const line = argv.join(' ');
    calls.push(line);
    const ok = (stdout = '') => ({ stdout, stderr: '', code: 0 });
    const fail = () => {
      throw new ExecError(argv, 1, '', 'mdadm: No md superblock detected');
    };
    if (line === 'lsblk -J -l -p -a -o NAME,TYPE')
      return ok(JSON.stringify({ blockdevices: arrays.map((name) => ({ name, type: 'raid1' })) }));
    if (argv[0] === 'lsblk' && argv[1] === '-lnpo') {
      const dev = argv[3]!;
      return ok((o.partitions?.[dev] ?? []).map((p) => `${p} part`).join('\n'));
    }
    if (argv[0] === 'mdadm' && argv[1] === '--detail') {
      const d = o.detail?.[argv[2]!];
      return d !== undefined && arrays.includes(argv[2]!) ? ok(d) : fail();
    }
    if (argv[0] === 'mdadm' && argv[1] === '--examine')
      return o.superblocks?.includes(argv[2]!) ? ok('/dev/x:\n Magic : a92b4efc') : fail();
    if (argv[0] === 'mdadm' && argv[1] === '--stop') arrays = arrays.filter((a) => a !== argv[2]);
    if (argv[0] === 'mdadm' && argv[1] === '--create') {
      arrays.push(argv[2]!);
      (o.detail ??= {})[argv[2]!] = `${argv[2]}:\n     Name : h:${argv[argv.indexOf('--name') + 1]}\n${argv
        .slice(12)
        .map((d) => `   0 0 0 0 active sync ${d}`)
        .join('\n')}\n`;
    }
    return ok();
  };
  return { run, calls, arrays: () => arrays };
}

const disks = [testBlockDevice({ name: '/dev/vda', size: 8 * GiB }), testBlockDevice({ name: '/dev/vdb', size: 8 * GiB })];
const ctx = (run: ProgramRunner, extra: Partial<RaidContext> = {}): RaidContext => ({
  run,
  log: createMemoryLog(),
  listDisks: async () => disks,
  ramdiskBootMode: 'bios',
  // The metadata wipe itself (wipefs, both GPT areas, sgdisk) is destroy-metadata's, tested with the disk steps: recorded here.
  wipeDisk: async (d) => void (await run(['destroy-disk-metadata', d])),
  ...extra,
});
const raid1 = { logical_disks: [{ size_gb: 'MAX', raid_level: '1', controller: 'software' }] };

test('create: msdos labels, one partition per disk from 1 MiB, mdadm --create metadata 1.2 on both, in that order', async () => {
  const sys = fakeSystem();
  const r = await createSoftwareRaid(raid1, { uuid: 'n1' }, ctx(sys.run));
  assert.deepEqual(r.config, raid1);
  const cmds = sys.calls.filter((c) => /^(parted|mdadm --create)/.test(c));
  assert.deepEqual(cmds, [
    'parted /dev/vda -s -- mklabel msdos',
    'parted /dev/vdb -s -- mklabel msdos',
    'parted /dev/vda -s -a optimal -- mkpart primary 1MiB -1',
    'parted /dev/vdb -s -a optimal -- mkpart primary 1MiB -1',
    'mdadm --create /dev/md0 --force --run --metadata=1 --level 1 --name md0 --raid-devices 2 /dev/vda1 /dev/vdb1',
  ]);
  // No member missing after the create: nothing re-added.
  assert.ok(!sys.calls.some((c) => c.startsWith('mdadm --add')));
});

test('create: GPT + UEFI room, a config without software disks does nothing, partitions and existing arrays refuse', async () => {
  const sys = fakeSystem();
  await createSoftwareRaid(raid1, { uuid: 'n1', properties: { capabilities: 'boot_mode:uefi' } }, ctx(sys.run));
  assert.ok(sys.calls.includes('parted /dev/vda -s -a optimal -- mkpart primary 551MiB -1'), sys.calls.join('\n'));
  assert.ok(sys.calls.includes('parted /dev/vda -s -- mklabel gpt'));

  const none = fakeSystem();
  assert.deepEqual((await createSoftwareRaid({ logical_disks: [{ size_gb: 10, raid_level: '1' }] }, {}, ctx(none.run))).config, {});
  assert.deepEqual(none.calls, []);

  const parted = fakeSystem({ partitions: { '/dev/vdb': ['/dev/vdb1'] } });
  await assert.rejects(
    createSoftwareRaid(raid1, {}, ctx(parted.run)),
    (e: unknown) => e instanceof SoftwareRAIDError && /Partitions detected on devices \/dev\/vdb/.test(e.details),
  );
  assert.ok(!parted.calls.some((c) => c.startsWith('parted')));

  const busy = fakeSystem({ arrays: ['/dev/md127'], detail: { '/dev/md127': '/dev/md127:\n Name : h:old\n 0 0 0 0 active /dev/vda1\n' } });
  await assert.rejects(
    createSoftwareRaid(raid1, {}, ctx(busy.run)),
    (e: unknown) =>
      e instanceof SoftwareRAIDError && /Existing Software RAID device detected that should not: \/dev\/md127/.test(e.details),
  );
});

test('create: a mismatch of the disks and the config is refused before any disk is touched', async () => {
  const sys = fakeSystem();
  const bad = { logical_disks: [{ size_gb: 20, raid_level: '1', controller: 'software' }] };
  await assert.rejects(
    createSoftwareRaid(bad, {}, ctx(sys.run)),
    (e: unknown) => e instanceof SoftwareRAIDError && /logical_disks\[0\]\.size_gb: 20 GiB does not fit on \/dev\/vda/.test(e.details),
  );
  const r5 = {
    logical_disks: [
      { size_gb: 2, raid_level: '1', controller: 'software' },
      { size_gb: 'MAX', raid_level: '5', controller: 'software' },
    ],
  };
  await assert.rejects(createSoftwareRaid(r5, { uuid: 'n9' }, ctx(sys.run)), /unknown error/);
  assert.ok(!sys.calls.some((c) => /^(parted|mdadm --create)/.test(c)));
});

test('delete: stop each array, zero member superblocks, sweep leftovers, wipe holder disks; skip list keeps a volume and its disks', async () => {
  const detail = {
    '/dev/md0': '/dev/md0:\n     Name : h:root\n   0 253 1 0 active sync /dev/vda1\n   1 253 17 1 active sync /dev/vdb1\n',
  };
  const sys = fakeSystem({ arrays: ['/dev/md0'], detail: { ...detail }, superblocks: ['/dev/vda1', '/dev/vdb1'] });
  const result = await deleteSoftwareRaid({}, ctx(sys.run));
  assert.deepEqual(result, { '/dev/md0': 'delete' });
  const cmds = sys.calls.filter((c) => /^(mdadm --(assemble|stop|zero)|wipefs)/.test(c));
  assert.deepEqual(cmds.slice(0, 5), [
    'mdadm --assemble --scan',
    'wipefs -af /dev/md0',
    'mdadm --stop /dev/md0',
    'mdadm --zero-superblock /dev/vda1',
    'mdadm --zero-superblock /dev/vdb1',
  ]);
  assert.ok(
    sys.calls.includes('destroy-disk-metadata /dev/vda') && sys.calls.includes('destroy-disk-metadata /dev/vdb'),
    'holder disks wiped',
  );

  const keep = fakeSystem({ arrays: ['/dev/md0'], detail: { ...detail }, superblocks: ['/dev/vda1', '/dev/vdb1'] });
  const kept = await deleteSoftwareRaid({ properties: { skip_block_devices: [{ volume_name: 'root' }] } }, ctx(keep.run));
  assert.deepEqual(kept, { '/dev/md0': 'keep' });
  assert.ok(!keep.calls.some((c) => /--stop|--zero-superblock|wipefs/.test(c)), keep.calls.join('\n'));
});

test('delete: a holder disk whose partition table cannot be removed fails the step, naming the disk and the cause', async () => {
  const detail = { '/dev/md0': '/dev/md0:\n     Name : h:root\n   0 253 1 0 active sync /dev/vda1\n   1 253 17 1 active sync /dev/vdb1\n' };
  const sys = fakeSystem({ arrays: ['/dev/md0'], detail, superblocks: ['/dev/vda1', '/dev/vdb1'] });
  const busy: ProgramRunner = async (argv, o) => {
    if (argv.join(' ') === 'destroy-disk-metadata /dev/vda') {
      throw new ExecError(
        ['wipefs', '--force', '--all', '/dev/vda'],
        1,
        '',
        'wipefs: error: /dev/vda: probing initialization failed: Device or resource busy',
      );
    }
    return sys.run(argv, o);
  };
  await assert.rejects(deleteSoftwareRaid({}, ctx(busy)), (e: unknown) => {
    assert.ok(e instanceof SoftwareRAIDError);
    assert.match(
      e.details,
      /partitions on their disks could not be removed: \/dev\/vda: removing the partition table: .*Device or resource busy/,
    );
    assert.doesNotMatch(e.details, /\/dev\/vdb/);
    return true;
  });
  // The array itself is gone, and the other disk was wiped.
  assert.deepEqual(sys.arrays(), []);
  assert.ok(sys.calls.includes('destroy-disk-metadata /dev/vdb'));
});

test('delete without mdadm in the ramdisk fails the step, naming mdadm and its package; nothing is touched', async () => {
  const sys = fakeSystem({ arrays: [] });
  const noMdadm: ProgramRunner = async (argv, o) => {
    if (argv[0] === 'mdadm') {
      const cause = Object.assign(new Error('spawn mdadm ENOENT'), { code: 'ENOENT' });
      throw new ExecError(argv, null, '', cause.message, cause);
    }
    return sys.run(argv, o);
  };
  await assert.rejects(deleteSoftwareRaid({}, ctx(noMdadm)), (e: unknown) => {
    assert.ok(e instanceof SoftwareRAIDError);
    assert.match(e.details, /mdadm not found.*mdadm package/);
    return true;
  });
  assert.ok(!sys.calls.some((c) => /^(wipefs|destroy-disk-metadata|parted)/.test(c)), sys.calls.join('\n'));
});

test('delete when no array assembles still sweeps every disk and partition for md superblocks (one pass, as IPA)', async () => {
  const sys = fakeSystem({
    arrays: [],
    partitions: { '/dev/vda': ['/dev/vda1', '/dev/vda2'], '/dev/vdb': ['/dev/vdb1'] },
    superblocks: ['/dev/vda2', '/dev/vdb1', '/dev/vdb'],
  });
  const r = await deleteSoftwareRaid({}, ctx(sys.run));
  assert.deepEqual(r, {});
  const zeroed = sys.calls.filter((c) => c.startsWith('mdadm --zero-superblock'));
  // Partitions first (last to first), then the disk, as IPA's sweep.
  assert.deepEqual(zeroed, ['mdadm --zero-superblock /dev/vda2', 'mdadm --zero-superblock /dev/vdb1', 'mdadm --zero-superblock /dev/vdb']);
  assert.ok(sys.calls.includes('mdadm --examine /dev/vda1'), 'every partition examined');
  // The scan ran before the pass and again after it; no second pass for nothing.
  assert.equal(sys.calls.filter((c) => c === 'mdadm --assemble --scan').length, 2);
  assert.equal(sys.calls.filter((c) => c === 'mdadm --examine /dev/vda1').length, 1);
});

test('delete: mdadm --assemble --scan exiting non-zero (nothing to assemble) is not an error', async () => {
  const sys = fakeSystem({ arrays: [] });
  const scanFails: ProgramRunner = async (argv, o) => {
    if (argv.join(' ') === 'mdadm --assemble --scan') throw new ExecError(argv, 1, '', 'mdadm: No arrays found in config file');
    return sys.run(argv, o);
  };
  assert.deepEqual(await deleteSoftwareRaid({}, ctx(scanFails)), {});
});

test('skip list workflow: delete keeps data and wipes root, then create leaves both out and creates nothing (as IPA)', async () => {
  const detail = {
    '/dev/md127': '/dev/md127:\n     Name : h:data\n   0 0 0 0 active /dev/vda1\n   1 0 0 1 active /dev/vdb1\n',
    '/dev/md126': '/dev/md126:\n     Name : h:root\n   0 0 0 0 active /dev/vda2\n   1 0 0 1 active /dev/vdb2\n',
    '/dev/md125': '/dev/md125:\n     Name : h:esp\n   0 0 0 0 active /dev/vda3\n   1 0 0 1 active /dev/vdb3\n',
  };
  const arrays = ['/dev/md127', '/dev/md126', '/dev/md125'];
  const parts = { '/dev/vda': ['/dev/vda1', '/dev/vda2', '/dev/vda3'], '/dev/vdb': ['/dev/vdb1', '/dev/vdb2', '/dev/vdb3'] };
  const node = {
    uuid: 'n1',
    properties: { skip_block_devices: [{ volume_name: 'data' }] },
    target_raid_config: {
      logical_disks: [
        { size_gb: 2, raid_level: '1', controller: 'software', volume_name: 'root' },
        { size_gb: 'MAX', raid_level: '1', controller: 'software', volume_name: 'data' },
      ],
    },
  };
  const sys = fakeSystem({ arrays, detail: { ...detail }, partitions: parts, superblocks: Object.values(parts).flat() });
  const del = await deleteSoftwareRaid(node, ctx(sys.run));
  // esp would be wiped beside the kept volume: it is kept instead, so find_esp_raid can reuse it.
  assert.deepEqual(del, { '/dev/md127': 'keep', '/dev/md126': 'wipe', '/dev/md125': 'keep' });
  assert.ok(sys.calls.includes('wipefs -af /dev/md126'));
  assert.ok(
    !sys.calls.some((c) => /wipefs -af \/dev\/md12[57]|--stop|--zero-superblock|destroy-disk-metadata/.test(c)),
    sys.calls.join('\n'),
  );

  const before = sys.calls.length;
  const created = await createSoftwareRaid(node.target_raid_config, node, ctx(sys.run));
  assert.deepEqual(created.config, node.target_raid_config);
  assert.equal(created.plan, null);
  assert.ok(!sys.calls.slice(before).some((c) => /^(parted|mdadm --create|wipefs)/.test(c)), sys.calls.slice(before).join('\n'));
});

test('skip list and create: an array in no logical disk, an unnamed one, or a deleted one still refuses', async () => {
  const cfg = (names: string[]) => ({
    logical_disks: names.map((n, i) => ({ size_gb: i ? 'MAX' : 2, raid_level: '1', controller: 'software', volume_name: n })),
  });
  const node = (names: string[]) => ({
    uuid: 'n1',
    properties: { skip_block_devices: [{ volume_name: 'data' }] },
    target_raid_config: cfg(names),
  });
  const data = '/dev/md127:\n     Name : h:data\n   0 0 0 0 active /dev/vda1\n   1 0 0 1 active /dev/vdb1\n';
  const refuses = async (detail: Record<string, string>, names: string[], re: RegExp) => {
    const sys = fakeSystem({ arrays: Object.keys(detail), detail });
    await assert.rejects(
      createSoftwareRaid(cfg(names), node(names), ctx(sys.run)),
      (e: unknown) => e instanceof SoftwareRAIDError && re.test(e.details),
    );
    assert.ok(!sys.calls.some((c) => /^(parted|mdadm --create)/.test(c)));
  };
  // 'old' was wiped beside data but is in no logical disk.
  await refuses(
    { '/dev/md127': data, '/dev/md126': '/dev/md126:\n     Name : h:old\n   0 0 0 0 active /dev/vda2\n' },
    ['root', 'data'],
    /should not: \/dev\/md126 \(volume old, wipe\)/,
  );
  // No volume name.
  await refuses(
    { '/dev/md127': data, '/dev/md126': '/dev/md126:\n   0 0 0 0 active /dev/vda2\n' },
    ['root', 'data'],
    /does not have a volume name \(\/dev\/md126\)/,
  );
  // 'root' exists on other disks: not wiped beside data, so it should have been deleted.
  await refuses(
    { '/dev/md127': data, '/dev/md126': '/dev/md126:\n     Name : h:root\n   0 0 0 0 active /dev/vdc1\n' },
    ['root', 'data'],
    /should not: \/dev\/md126 \(volume root\)/,
  );
  // The logical disks left to create cannot go on the kept volume's disks.
  const sys = fakeSystem({ arrays: ['/dev/md127'], detail: { '/dev/md127': data }, partitions: { '/dev/vda': ['/dev/vda1'] } });
  await assert.rejects(
    createSoftwareRaid(cfg(['root', 'data']), node(['root', 'data']), ctx(sys.run)),
    (e: unknown) =>
      e instanceof SoftwareRAIDError && /Partitions detected on devices \/dev\/vda.*kept by skip_block_devices/.test(e.details),
  );
});

test('skip list and create: the logical disks not left out are created on disks of their own', async () => {
  const four = ['vda', 'vdb', 'vdc', 'vdd'].map((n) => testBlockDevice({ name: `/dev/${n}`, size: 8 * GiB }));
  const detail = { '/dev/md127': '/dev/md127:\n     Name : h:data\n   0 0 0 0 active /dev/vdc1\n   1 0 0 1 active /dev/vdd1\n' };
  const sys = fakeSystem({ arrays: ['/dev/md127'], detail, partitions: { '/dev/vdc': ['/dev/vdc1'], '/dev/vdd': ['/dev/vdd1'] } });
  const config = {
    logical_disks: [
      {
        size_gb: 2,
        raid_level: '1',
        controller: 'software',
        volume_name: 'root',
        physical_disks: [{ name: '/dev/vda' }, { name: '/dev/vdb' }],
      },
      { size_gb: 'MAX', raid_level: '1', controller: 'software', volume_name: 'data' },
    ],
  };
  const node = { uuid: 'n1', properties: { skip_block_devices: [{ volume_name: 'data' }] }, target_raid_config: config };
  const r = await createSoftwareRaid(config, node, ctx(sys.run, { listDisks: async () => four }));
  assert.deepEqual(r.config, config);
  const cmds = sys.calls.filter((c) => /^(parted|mdadm --create)/.test(c));
  assert.ok(cmds.length > 0 && cmds.every((c) => !/vd[cd]/.test(c)), cmds.join('\n'));
  assert.ok(
    cmds.some((c) => c.startsWith('mdadm --create /dev/md0 ') && c.includes('--name root')),
    cmds.join('\n'),
  );
});

test('delete on a host agent restricted to some disks: no scan, arrays on other disks are not touched', async () => {
  const sys = fakeSystem({ arrays: ['/dev/md5'], detail: { '/dev/md5': '/dev/md5:\n 0 0 0 0 active /dev/sdz1\n' } });
  const r = await deleteSoftwareRaid({}, ctx(sys.run, { onlyDisks: ['/dev/loop3'] }));
  assert.deepEqual(r, {});
  assert.ok(!sys.calls.some((c) => /--assemble|--stop|wipefs/.test(c)), sys.calls.join('\n'));
});

test('install device: the root volume of this boot, else the first array when target_raid_config is software RAID', async () => {
  const sys = fakeSystem({
    arrays: ['/dev/md0', '/dev/md1'],
    detail: { '/dev/md0': 'x\n Name : h:md0\n', '/dev/md1': 'x\n Name : h:md1\n' },
  });
  const withMd = [...disks, testBlockDevice({ name: '/dev/md1', size: GiB }), testBlockDevice({ name: '/dev/md0', size: 6 * GiB })];
  const node = { target_raid_config: raid1 };
  assert.equal((await chooseRaidInstallDevice(withMd, node, {}, sys.run)).device, '/dev/md0');
  assert.equal((await chooseRaidInstallDevice(withMd, node, { '/dev/md1': true }, sys.run)).device, '/dev/md1');
  assert.equal((await chooseRaidInstallDevice(withMd, {}, {}, sys.run)).device, null, 'no software RAID asked: the usual choice');
  assert.equal(
    (await chooseRaidInstallDevice(withMd, { ...node, properties: { root_device: { name: '/dev/vdb' } } }, {}, sys.run)).device,
    null,
    'hints win',
  );
});

test('install device in a later boot: a volume marked is_root_volume false is never chosen, nor its disks', async () => {
  const detail = {
    '/dev/md126': '/dev/md126:\n     Name : h:data\n   0 0 0 0 active /dev/vda1\n   1 0 0 1 active /dev/vdb1\n',
    '/dev/md127': '/dev/md127:\n     Name : h:os\n   0 0 0 0 active /dev/vda2\n   1 0 0 1 active /dev/vdb2\n',
  };
  const sys = fakeSystem({ arrays: ['/dev/md126', '/dev/md127'], detail });
  const withMd = [...disks, testBlockDevice({ name: '/dev/md126', size: 6 * GiB }), testBlockDevice({ name: '/dev/md127', size: GiB })];
  const cfg = (dataIsRoot: boolean | undefined) => ({
    logical_disks: [
      { size_gb: 5, raid_level: '1', controller: 'software', volume_name: 'data', is_root_volume: dataIsRoot },
      { size_gb: 'MAX', raid_level: '1', controller: 'software', volume_name: 'os' },
    ],
  });
  // Assembled as md126/md127 in a later boot: the names decide, "the first array" would be data.
  assert.equal((await chooseRaidInstallDevice(withMd, { target_raid_config: cfg(false) }, {}, sys.run)).device, '/dev/md127');
  const only = fakeSystem({ arrays: ['/dev/md126'], detail });
  const r = await chooseRaidInstallDevice([...disks, withMd[2]!], { target_raid_config: cfg(false) }, {}, only.run);
  assert.equal(r.device, null, 'the only array is the one marked false');
  assert.deepEqual(
    r.candidates.map((d) => d.name),
    [],
    'its member disks are out too',
  );
});

test('install device: an array kept by skip_block_devices is never chosen, by the first-array rule or by hints', async () => {
  const detail = {
    '/dev/md0': '/dev/md0:\n     Name : h:data\n   0 0 0 0 active /dev/vda1\n   1 0 0 1 active /dev/vdb1\n',
    '/dev/md1': '/dev/md1:\n     Name : h:root\n   0 0 0 0 active /dev/vda2\n   1 0 0 1 active /dev/vdb2\n',
  };
  const sys = fakeSystem({ arrays: ['/dev/md0', '/dev/md1'], detail });
  const withMd = [...disks, testBlockDevice({ name: '/dev/md0', size: 6 * GiB }), testBlockDevice({ name: '/dev/md1', size: GiB })];
  const skip = { skip_block_devices: [{ volume_name: 'data' }] };
  const node = { target_raid_config: raid1, properties: skip };
  const names = (l: { name: string }[]) => l.map((d) => d.name);

  const first = await chooseRaidInstallDevice(withMd, node, {}, sys.run);
  assert.equal(first.device, '/dev/md1', 'the kept md0 is not "the first array"');
  assert.deepEqual(names(first.candidates), ['/dev/vda', '/dev/vdb', '/dev/md1']);

  // Hints: the caller matches them among the candidates, which no longer hold the kept array.
  const hinted = await chooseRaidInstallDevice(
    withMd,
    { ...node, properties: { ...skip, root_device: { name: '/dev/md0' } } },
    {},
    sys.run,
  );
  assert.equal(hinted.device, null);
  assert.ok(!names(hinted.candidates).includes('/dev/md0'));

  // Only the kept array there: no array is offered at all.
  const onlyKept = fakeSystem({ arrays: ['/dev/md0'], detail });
  const alone = await chooseRaidInstallDevice([...disks, testBlockDevice({ name: '/dev/md0', size: 6 * GiB })], node, {}, onlyKept.run);
  assert.equal(alone.device, null);
  assert.deepEqual(names(alone.candidates), ['/dev/vda', '/dev/vdb']);

  // Without the skip list, md0 is the first array again.
  assert.equal((await chooseRaidInstallDevice(withMd, { target_raid_config: raid1 }, {}, sys.run)).device, '/dev/md0');
});

test('holder disks: a whole-disk member is its own holder even when its name ends in a digit (sysfs decides)', async () => {
  const sys = await mkdtemp(join(tmpdir(), 'sysfs-'));
  try {
    // The kernel's layout: /sys/class/block/<name> links into /sys/devices, a partition's directory inside its disk's.
    const dev = (path: string, partition: boolean) => {
      mkdirSync(join(sys, 'devices', path), { recursive: true });
      if (partition) writeFileSync(join(sys, 'devices', path, 'partition'), '1\n');
      mkdirSync(join(sys, 'class', 'block'), { recursive: true });
      symlinkSync(join('..', '..', 'devices', path), join(sys, 'class', 'block', path.split('/').pop()!));
    };
    dev('virtual/block/loop0', false);
    dev('virtual/block/loop1', false);
    dev('virtual/block/loop1/loop1p1', true);
    dev('pci/mmc/block/mmcblk0', false);
    dev('pci/nvme/block/nvme0n1', false);
    dev('pci/nvme/block/nvme0n1/nvme0n1p2', true);
    const detail = {
      '/dev/md0': '/dev/md0:\n   0 7 0 0 active /dev/loop0\n   1 179 0 1 active /dev/mmcblk0\n',
      '/dev/md1': '/dev/md1:\n   0 7 17 0 active /dev/loop1p1\n   1 259 2 1 active /dev/nvme0n1p2\n   2 8 33 2 active /dev/sdc1\n',
    };
    const fake = fakeSystem({ arrays: ['/dev/md0', '/dev/md1'], detail });
    assert.deepEqual(await getHolderDisks('/dev/md0', fake.run, sys), ['/dev/loop0', '/dev/mmcblk0']);
    // Partitions map to their disk through sysfs; a name sysfs does not know (sdc1) by the naming rule.
    assert.deepEqual(await getHolderDisks('/dev/md1', fake.run, sys), ['/dev/loop1', '/dev/nvme0n1', '/dev/sdc']);
  } finally {
    await rm(sys, { recursive: true, force: true });
  }
});

test('erase steps and the skip list: a kept volume is never erased; its neighbour only escapes the metadata/express erase', async () => {
  const detail = {
    '/dev/md0': '/dev/md0:\n     Name : h:keepme\n   0 0 0 0 active /dev/vda1\n   1 0 0 1 active /dev/vdb1\n',
    '/dev/md1': '/dev/md1:\n     Name : h:scratch\n   0 0 0 0 active /dev/vda2\n   1 0 0 1 active /dev/vdb2\n',
  };
  const sys = fakeSystem({ arrays: ['/dev/md0', '/dev/md1'], detail });
  const devs = [...disks, testBlockDevice({ name: '/dev/md0' }), testBlockDevice({ name: '/dev/md1' })];
  const node = { properties: { skip_block_devices: [{ volume_name: 'keepme' }] } };
  const names = (l: { name: string }[]) => l.map((d) => d.name);
  assert.deepEqual(names(await filterRaidSkipList(devs, node, sys.run, false)), ['/dev/vda', '/dev/vdb', '/dev/md1']);
  assert.deepEqual(names(await filterRaidSkipList(devs, node, sys.run, true)), ['/dev/vda', '/dev/vdb']);
  const before = sys.calls.length;
  assert.deepEqual(names(await filterRaidSkipList(devs, {}, sys.run, true)), names(devs));
  assert.equal(sys.calls.length, before, 'no skip list: no mdadm call');
});

test('skip list and create: a new volume whose /dev/md<i> the kept array holds is created on the lowest free /dev/mdN', async () => {
  const four = ['vda', 'vdb', 'vdc', 'vdd'].map((n) => testBlockDevice({ name: `/dev/${n}`, size: 8 * GiB }));
  // The kept array was assembled as /dev/md0: the new volume's /dev/md<place among those created> (md0) is taken.
  const detail = { '/dev/md0': '/dev/md0:\n     Name : h:data\n   0 0 0 0 active /dev/vdc1\n   1 0 0 1 active /dev/vdd1\n' };
  const sys = fakeSystem({ arrays: ['/dev/md0'], detail, partitions: { '/dev/vdc': ['/dev/vdc1'], '/dev/vdd': ['/dev/vdd1'] } });
  const config = {
    logical_disks: [
      {
        size_gb: 2,
        raid_level: '1',
        controller: 'software',
        volume_name: 'data',
        physical_disks: [{ name: '/dev/vdc' }, { name: '/dev/vdd' }],
      },
      {
        size_gb: 'MAX',
        raid_level: '1',
        controller: 'software',
        volume_name: 'root',
        physical_disks: [{ name: '/dev/vda' }, { name: '/dev/vdb' }],
      },
    ],
  };
  const node = { uuid: 'n1', properties: { skip_block_devices: [{ volume_name: 'data' }] }, target_raid_config: config };
  await createSoftwareRaid(config, node, ctx(sys.run, { listDisks: async () => four }));
  const creates = sys.calls.filter((c) => c.startsWith('mdadm --create'));
  assert.equal(creates.length, 1, creates.join('\n'));
  assert.match(creates[0]!, /^mdadm --create \/dev\/md1 .*--name root /);
});
