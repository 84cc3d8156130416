import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockDeviceEraseError, IncompatibleHardwareMethodError, ProtectedDeviceError } from '../../errors.js';
import type { ExecOptions, ProgramRunner } from '../../util/exec.js';
import { GenericHardwareManager } from '../generic.js';
import { loadHardwareManagers } from '../plugins.js';
import { HardwareSupport, type BlockDevice, type Node } from '../types.js';
import { createState } from '../../state.js';
import { createDefaultConfig } from '../../config.js';
import { createMemoryLog } from '../../../test/support/logs.js';
import { EXPRESS_METADATA_ONLY, eraseDevices, eraseDevicesExpress, eraseDevicesMetadata, METADATA_ERASED } from './index.js';
import { classifyDisk, findVirtualMediaDevice, parseLsblkTree, parseWipefsTypes, readDiskEntries, type DiskEntry } from './safety.js';
import { testBlockDevice } from '../../../test/support/block-device.js';

// Device names that exist on no host, so the read-only check (sysfs) finds nothing.
const A = '/dev/sdzy';
const B = '/dev/sdzz';
const NV = '/dev/nvme9n9';

const bd = (name: string): BlockDevice => testBlockDevice({ name });

interface FakeDiskSpec {
  /** Signatures on the disk itself. */
  sigs?: string[];
  /** Their labels (wipefs reports one per signature; here on the first). */
  labels?: string[];
  /** lsblk TRAN and SIZE (bytes) of the disk. */
  tran?: string;
  size?: number;
  /** Partitions: name → {type, sigs}. */
  parts?: Record<string, { partType?: string; sigs?: string[]; holders?: Array<{ name: string; type: string }> }>;
}

/** lsblk -J and wipefs --json answers for a set of fake disks, recording every call. */
/** Step options whose erase_block_device records the disk and reports an overwrite (the safety checks are what is tested). */
function recordingOverwrite(run: ProgramRunner): {
  o: { run: ProgramRunner; vmediaDevice: null; eraseOne: (d: BlockDevice) => Promise<string> };
  seen: string[];
} {
  const seen: string[] = [];
  const eraseOne = async (d: BlockDevice): Promise<string> => {
    seen.push(d.name);
    return 'overwrite';
  };
  return { o: { run, vmediaDevice: null, eraseOne }, seen };
}

function fakeHost(disks: Record<string, FakeDiskSpec>, { noUdev = false } = {}): ProgramRunner & { calls: string[] } {
  const calls: string[] = [];
  const sigsOf = (dev: string): string[] => {
    for (const [d, spec] of Object.entries(disks)) {
      if (d === dev) return spec.sigs ?? [];
      if (spec.parts?.[dev]) return spec.parts[dev]!.sigs ?? [];
    }
    return [];
  };
  const fn = (async (argv: string[], _o?: ExecOptions) => {
    calls.push(argv.join(' '));
    const dev = argv.at(-1)!;
    if (argv[0] === 'lsblk' && argv[1] === '-J') {
      const spec = disks[dev] ?? {};
      const children = Object.entries(spec.parts ?? {}).map(([name, p]) => ({
        name,
        type: 'part',
        // What lsblk prints without udev's database: no PARTTYPE (blkid, below, reads it from the table).
        parttype: p.partType === undefined ? '0x83' : noUdev ? null : p.partType,
        children: p.holders?.map((h) => ({ name: h.name, type: h.type, parttype: null })),
      }));
      const facts = { tran: spec.tran ?? null, size: spec.size ?? 1 << 30 };
      return {
        stdout: JSON.stringify({ blockdevices: [{ name: dev, type: 'disk', parttype: null, ...facts, children }] }),
        stderr: '',
        code: 0,
      };
    }
    if (argv[0] === 'blkid' && argv.includes('PART_ENTRY_TYPE')) {
      const part = Object.values(disks)
        .flatMap((d) => Object.entries(d.parts ?? {}))
        .find(([name]) => name === dev)?.[1];
      return part?.partType ? { stdout: `${part.partType.toLowerCase()}\n`, stderr: '', code: 0 } : { stdout: '', stderr: '', code: 2 };
    }
    if (argv[0] === 'wipefs' && argv[1] === '--json') {
      const sigs = sigsOf(dev);
      const label = disks[dev]?.labels?.[0] ?? null;
      const stdout = sigs.length
        ? JSON.stringify({
            signatures: sigs.map((type, i) => ({ device: dev, offset: `0x${i}`, type, uuid: null, label: i === 0 ? label : null })),
          })
        : '';
      return { stdout, stderr: '', code: 0 };
    }
    return { stdout: '', stderr: '', code: 0 };
  }) as ProgramRunner & { calls: string[] };
  fn.calls = calls;
  return fn;
}

const details = (e: unknown): string => `${(e as Error).message} ${(e as { details?: string }).details ?? ''}`;

test("classifyDisk without udev's database (tinyipa: lsblk prints no PARTTYPE): the partition-type guards read blkid", async () => {
  const disks = {
    '/dev/sdzv': { sigs: ['dos'], parts: { '/dev/sdzv1': { partType: '0xfb' } } },
    '/dev/sdzw': { sigs: ['gpt'], parts: { '/dev/sdzw1': { partType: '37AFFC90-EF7D-4E96-91C3-2D7AE055B174' } } },
    '/dev/sdzt': { sigs: ['gpt'], parts: { '/dev/sdzt1': { partType: '0fc63daf-8483-4772-8e79-3d69d8477de4' } } },
  };
  const run = fakeHost(disks, { noUdev: true });
  const verdict = async (dev: string) => classifyDisk(dev, await readDiskEntries(dev, run), { guard: true, vmediaDevice: null });
  assert.equal(((await verdict('/dev/sdzv')) as { what: string }).what, 'VMware VMFS Partition (MBR)');
  assert.equal(((await verdict('/dev/sdzw')) as { what: string }).what, 'IBM GPFS Partition');
  assert.deepEqual(await verdict('/dev/sdzt'), { kind: 'erase' });
  assert.ok(run.calls.includes('blkid -p -u nofilesystem,raid,crypto,other -o value -s PART_ENTRY_TYPE /dev/sdzw1'), run.calls.join('\n'));
});

test('parsers: lsblk tree flattened, wipefs signatures, bad output tolerated', () => {
  const tree = parseLsblkTree(
    JSON.stringify({
      blockdevices: [
        {
          name: A,
          type: 'disk',
          parttype: null,
          children: [
            {
              name: `${A}1`,
              type: 'part',
              parttype: 'AA31E02A-400F-11DB-9590-000C2911D1B8',
              children: [{ name: '/dev/md0', type: 'raid1' }],
            },
          ],
        },
      ],
    }),
    A,
  );
  assert.deepEqual(tree, [
    { dev: A, type: 'disk', partType: null },
    { dev: `${A}1`, type: 'part', partType: 'aa31e02a-400f-11db-9590-000c2911d1b8', parent: A },
    { dev: '/dev/md0', type: 'raid1', partType: null, parent: `${A}1` },
  ]);
  assert.deepEqual(parseLsblkTree('', A), [{ dev: A, type: 'disk', partType: null }]);
  assert.deepEqual(parseWipefsTypes(''), []);
  assert.deepEqual(parseWipefsTypes('{"signatures":[{"type":"GFS2"},{"type":"PMBR"}]}'), ['gfs2', 'pmbr']);
});

test('classifyDisk: guarded filesystems and partition types on the disk or a partition; skips; guard off', async () => {
  const run = fakeHost({
    [A]: { sigs: ['gfs2'] },
    [B]: { sigs: ['gpt'], parts: { [`${B}1`]: { sigs: ['ocfs2'] } } },
    '/dev/sdzv': { sigs: ['dos'], parts: { '/dev/sdzv1': { partType: '0xfb' } } },
    '/dev/sdzw': { sigs: ['gpt'], parts: { '/dev/sdzw1': { partType: '37AFFC90-EF7D-4E96-91C3-2D7AE055B174' } } },
    '/dev/sdzx': { sigs: ['VMFS_volume_member'] },
    '/dev/sdzr': { sigs: ['gpt'], parts: { '/dev/sdzr1': { sigs: ['linux_raid_member'] } } },
    '/dev/sdzs': {
      sigs: ['gpt'],
      parts: { '/dev/sdzs1': { sigs: ['linux_raid_member'], holders: [{ name: '/dev/md127', type: 'raid1' }] } },
    },
    '/dev/sdzq': { sigs: ['gpt'], parts: { '/dev/sdzq1': { holders: [{ name: '/dev/md126', type: 'linear' }] } } },
    '/dev/sdzt': { sigs: ['gpt', 'ext4'] },
  });
  const verdict = async (dev: string, guard = true, vmediaDevice: string | null = null) =>
    classifyDisk(dev, await readDiskEntries(dev, run), { guard, vmediaDevice });
  assert.deepEqual(await verdict(A), { kind: 'protected', device: A, what: 'Red Hat Global File System 2 (gfs2)' });
  assert.deepEqual(await verdict(B), { kind: 'protected', device: `${B} (partition ${B}1)`, what: 'Oracle Cluster File System 2 (ocfs2)' });
  assert.deepEqual(await verdict('/dev/sdzv'), {
    kind: 'protected',
    device: '/dev/sdzv (partition /dev/sdzv1)',
    what: 'VMware VMFS Partition (MBR)',
  });
  assert.equal(((await verdict('/dev/sdzw')) as { what: string }).what, 'IBM GPFS Partition');
  assert.equal(((await verdict('/dev/sdzx')) as { what: string }).what, 'VMware VMFS volume member (vmfs_volume_member)');
  // A member signature with no assembled array on top is stale: erased, and the result says so.
  assert.deepEqual(await verdict('/dev/sdzr'), {
    kind: 'erase',
    note: 'stale software RAID member (linux_raid_member signature on /dev/sdzr1, in no assembled array): erased, superblock included',
  });
  // A member of an assembled array (any md level) is skipped; the array is erased as a disk of its own.
  assert.deepEqual(await verdict('/dev/sdzs'), { kind: 'skip', reason: 'skipped (software RAID member of /dev/md127)' });
  assert.deepEqual(await verdict('/dev/sdzq'), { kind: 'skip', reason: 'skipped (software RAID member of /dev/md126)' });
  assert.deepEqual(await verdict('/dev/sdzt'), { kind: 'erase' });
  assert.deepEqual(await verdict(A, false), { kind: 'erase' });
  // The by-label link pointing at a local disk does not spare it (nor lift the guard).
  assert.equal((await verdict(A, true, A)).kind, 'protected');
  // No udev (no by-label link): the vfat label found by wipefs identifies the floppy (a small USB disk).
  const floppy = classifyDisk(
    '/dev/sdf',
    [{ dev: '/dev/sdf', type: 'disk', partType: null, signatures: ['vfat'], labels: ['ir-vfd-dev'], tran: 'usb', size: 1474560 }],
    {
      guard: true,
      vmediaDevice: null,
    },
  );
  assert.deepEqual(floppy, { kind: 'skip', reason: 'skipped (virtual media: /dev/sdf is labelled ir-vfd-dev)' });
  // The md array on top is not probed: only the disk and its partitions are this disk's bytes.
  assert.ok(!run.calls.includes('wipefs --json /dev/md127'));
  // An array is erased as a disk; its own partitions (TYPE md from util-linux before 2.33) do not make it a member.
  const md = (type: string) =>
    classifyDisk(
      '/dev/md127',
      [
        { dev: '/dev/md127', type: 'raid1', partType: null, signatures: ['gpt'] },
        { dev: '/dev/md127p1', type, partType: null, signatures: ['ext4'] },
      ],
      { guard: true, vmediaDevice: null },
    );
  assert.deepEqual(md('part'), { kind: 'erase' });
  assert.deepEqual(md('md'), { kind: 'erase' });
});

test('a partition labelled ir-vfd-dev does not make its disk virtual media (a tenant could dodge the erase)', () => {
  // IPA compares the by-label target with the disk itself; the floppy carries its filesystem on the whole device.
  const entries = [
    { dev: '/dev/sda', type: 'disk', partType: null, signatures: ['gpt'] },
    { dev: '/dev/sda1', type: 'part', partType: '0fc63daf-8483-4772-8e79-3d69d8477de4', signatures: ['ext4'], labels: ['ir-vfd-dev'] },
  ];
  assert.deepEqual(classifyDisk('/dev/sda', entries, { guard: true, vmediaDevice: '/dev/sda1' }), { kind: 'erase' });
  assert.deepEqual(classifyDisk('/dev/sda', entries, { guard: true, vmediaDevice: null }), { kind: 'erase' });
});

test('a whole disk labelled ir-vfd-dev is virtual media only when it can be (a CD-ROM or a USB disk under 4 GiB); a local disk is erased and says so', async () => {
  const GiB = 1024 ** 3;
  const labelled = (extra: Partial<DiskEntry>): DiskEntry[] => [
    { dev: '/dev/sdf', type: 'disk', partType: null, signatures: ['vfat'], labels: ['ir-vfd-dev'], ...extra },
  ];
  const skip = { kind: 'skip', reason: 'skipped (virtual media: /dev/sdf is labelled ir-vfd-dev)' };
  const v = (extra: Partial<DiskEntry>, vmediaDevice: string | null = null) =>
    classifyDisk('/dev/sdf', labelled(extra), { guard: true, vmediaDevice });
  // The BMC's floppy or stick: a small USB disk, found by the by-label link or by the label itself.
  assert.deepEqual(v({ tran: 'usb', size: 1474560 }), skip);
  assert.deepEqual(v({ tran: 'usb', size: 1474560, labels: [] }, '/dev/sdf'), skip);
  // A tenant's label on a local disk (SATA, NVMe, a loop, an 8 GiB USB disk, no lsblk facts): erased, and the verdict says why.
  for (const extra of [
    { tran: 'sata', size: 500 * GiB },
    { tran: 'nvme', size: 1 * GiB },
    { type: 'loop', size: 8 * 1024 ** 2 },
    { tran: 'usb', size: 8 * GiB },
    { tran: 'usb', size: 4 * GiB },
    {},
  ]) {
    for (const vmediaDevice of [null, '/dev/sdf']) {
      const r = v({ ...extra, ...(vmediaDevice ? { labels: [] } : {}) }, vmediaDevice);
      assert.equal(r.kind, 'erase', JSON.stringify({ extra, vmediaDevice }));
      assert.match(
        (r as { note?: string }).note ?? '',
        /^labelled ir-vfd-dev, but not virtual media \(a (disk|loop)[^)]*\): erased like any other disk$/,
      );
    }
  }
  // The sizes and transport come from lsblk (bytes): readDiskEntries asks for them.
  const run = fakeHost({ '/dev/sdf': { sigs: ['vfat'], tran: 'usb', size: 1474560 } });
  const [disk] = await readDiskEntries('/dev/sdf', run);
  assert.equal(disk?.tran, 'usb');
  assert.equal(disk?.size, 1474560);
  assert.ok(
    run.calls.some((c) => /^lsblk -J -b -p -o NAME,TYPE,PARTTYPE,TRAN,SIZE \/dev\/sdf$/.test(c)),
    run.calls.join('\n'),
  );
});

test('erase steps: a local disk labelled ir-vfd-dev is erased and its result says so; the USB floppy is skipped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vfd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [local, floppy] = [join(dir, 'local'), join(dir, 'floppy')];
  for (const f of [local, floppy]) writeFileSync(f, Buffer.alloc(1 << 20, 0xa5));
  const run = fakeHost({
    [local]: { sigs: ['ext4'], labels: ['ir-vfd-dev'], tran: 'sata', size: 1 << 20 },
    [floppy]: { sigs: ['vfat'], labels: ['ir-vfd-dev'], tran: 'usb', size: 1 << 20 },
  });
  const note = 'labelled ir-vfd-dev, but not virtual media (a disk on sata, 1048576 bytes): erased like any other disk';
  const skipped = `skipped (virtual media: ${floppy} is labelled ir-vfd-dev)`;
  const { o, seen } = recordingOverwrite(run);
  assert.deepEqual(await eraseDevices([bd(local), bd(floppy)], {}, o), { [local]: `overwrite; ${note}`, [floppy]: skipped });
  assert.deepEqual(seen, [local]);
  assert.deepEqual(await eraseDevicesMetadata([bd(local), bd(floppy)], o), { [local]: `${METADATA_ERASED}; ${note}`, [floppy]: skipped });
  assert.ok(
    readFileSync(local)
      .subarray(0, 512)
      .every((b) => b === 0),
    'the labelled local disk was not wiped',
  );
  assert.ok(
    readFileSync(floppy).every((b) => b === 0xa5),
    'the virtual floppy was touched',
  );
});

test('the virtual-media device is where /dev/disk/by-label/ir-vfd-dev points', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmedia-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(await findVirtualMediaDevice(dir), null);
  writeFileSync(join(dir, 'sdq'), '');
  symlinkSync('sdq', join(dir, 'ir-vfd-dev'));
  assert.equal(await findVirtualMediaDevice(dir), join(dir, 'sdq'));
});

test('a protected disk stops all three steps before any disk is touched; the error names disk, filesystem and override', async (t) => {
  // Regular files stand in for the disks: the metadata wipe writes to them.
  const dir = mkdtempSync(join(tmpdir(), 'protect-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [fa, fb] = [join(dir, 'a'), join(dir, 'b')];
  for (const f of [fa, fb]) writeFileSync(f, Buffer.alloc(1 << 20, 0xa5));
  const run = fakeHost({ [fa]: { sigs: ['ext4'] }, [fb]: { sigs: ['gfs2'] } });
  let erased = 0;
  const eraseOne = async () => {
    erased++;
    return 'x';
  };
  const isProtected = (e: unknown): boolean => {
    assert.ok(e instanceof ProtectedDeviceError);
    assert.equal((e as ProtectedDeviceError).toJSON().type, 'ProtectedDeviceError');
    assert.match(details(e), new RegExp(`Protected Red Hat Global File System 2 \\(gfs2\\) located on device ${fb}`));
    assert.match(details(e), /wipe_special_filesystems=false/);
    assert.match(details(e), /ipa-guard-special-filesystems=0/);
    return true;
  };
  const o = { run, vmediaDevice: null, eraseOne };
  await assert.rejects(eraseDevices([bd(fa), bd(fb)], {}, o), isProtected);
  await assert.rejects(eraseDevicesMetadata([bd(fa), bd(fb)], o), isProtected);
  await assert.rejects(eraseDevicesExpress([bd(fa), bd(fb)], {}, o), isProtected);
  assert.equal(erased, 0);
  assert.ok(!run.calls.some((c) => c.startsWith('wipefs --force') || c.startsWith('sgdisk')), run.calls.join('\n'));
  assert.ok(
    readFileSync(fa).every((b) => b === 0xa5),
    'the unprotected disk was touched',
  );

  // Either switch lets it through: the node's driver_internal_info or the agent config.
  const r1 = await eraseDevices([bd(fa), bd(fb)], { driver_internal_info: { wipe_special_filesystems: false } }, o);
  assert.deepEqual(r1, { [fa]: 'x', [fb]: 'x' });
  const r2 = await eraseDevicesMetadata([bd(fa), bd(fb)], { ...o, guardSpecialFilesystems: false });
  assert.deepEqual(r2, { [fa]: METADATA_ERASED, [fb]: METADATA_ERASED });
  assert.ok(run.calls.includes(`wipefs --force --all ${fb}`));
  assert.equal(
    readFileSync(fb)
      .subarray(0, 512)
      .every((b) => b === 0),
    true,
    'the GPT area of the guarded disk was zeroed',
  );
});

test('virtual media and members of assembled RAID arrays are skipped and reported; the others erased', async () => {
  const run = fakeHost({
    [A]: { sigs: ['gpt'], parts: { [`${A}1`]: { sigs: ['linux_raid_member'], holders: [{ name: '/dev/md0', type: 'raid1' }] } } },
    [B]: {},
    '/dev/sdq': { sigs: ['vfat'], tran: 'usb', size: 1474560 },
  });
  const seen: string[] = [];
  const r = await eraseDevices(
    [bd(A), bd(B), bd('/dev/sdq')],
    {},
    {
      run,
      vmediaDevice: '/dev/sdq',
      eraseOne: async (d) => {
        seen.push(d.name);
        return `erased ${d.name}`;
      },
    },
  );
  assert.deepEqual(seen, [B]);
  assert.deepEqual(r, {
    [A]: 'skipped (software RAID member of /dev/md0)',
    [B]: `erased ${B}`,
    '/dev/sdq': 'skipped (virtual media: /dev/sdq is labelled ir-vfd-dev)',
  });
});

test('a stale RAID member (signature, no assembled array) is erased by all three steps and the result says so', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stale-md-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const disk = join(dir, 'member');
  writeFileSync(disk, Buffer.alloc(1 << 20, 0xa5));
  const run = fakeHost({ [disk]: { sigs: ['linux_raid_member'] } });
  const note = `stale software RAID member (linux_raid_member signature on ${disk}, in no assembled array): erased, superblock included`;
  const { o, seen } = recordingOverwrite(run);
  assert.deepEqual(await eraseDevices([bd(disk)], {}, o), { [disk]: `overwrite; ${note}` });
  assert.deepEqual(seen, [disk]);
  assert.deepEqual(await eraseDevicesMetadata([bd(disk)], o), { [disk]: `${METADATA_ERASED}; ${note}` });
  assert.ok(run.calls.includes(`wipefs --force --all ${disk}`), run.calls.join('\n'));
  assert.deepEqual(await eraseDevicesExpress([bd(disk)], {}, o), { [disk]: `${EXPRESS_METADATA_ONLY}; ${note}` });
});

test('skip_block_devices keeps RAID volumes: a stale member fails the step before any disk is touched; kept members are skipped', async () => {
  const run = fakeHost({
    [A]: { sigs: ['linux_raid_member'] },
    [B]: {},
    '/dev/sdzp': {
      sigs: ['gpt'],
      parts: { '/dev/sdzp1': { sigs: ['linux_raid_member'], holders: [{ name: '/dev/md0', type: 'raid1' }] } },
    },
  });
  const node: Node = { properties: { skip_block_devices: [{ volume_name: 'keep' }] } } as unknown as Node;
  let erased = 0;
  const o = {
    run,
    vmediaDevice: null,
    eraseOne: async () => {
      erased++;
      return 'x';
    },
  };
  const refused = (e: unknown): boolean => {
    assert.ok(e instanceof BlockDeviceEraseError);
    assert.match(details(e), new RegExp(`${A}: linux_raid_member signature on ${A}, in no assembled array`));
    assert.match(details(e), /skip_block_devices keeps the RAID volume\(s\) keep/);
    return true;
  };
  await assert.rejects(eraseDevices([bd(B), bd(A)], node, o), refused);
  await assert.rejects(eraseDevicesMetadata([bd(B), bd(A)], { ...o, node }), refused);
  await assert.rejects(eraseDevicesExpress([bd(B), bd(A)], node, o), refused);
  assert.equal(erased, 0);
  assert.ok(!run.calls.some((c) => c.startsWith('wipefs --force') || c.startsWith('sgdisk')), run.calls.join('\n'));
  // Members of assembled arrays are skipped as before (a kept volume's md device is left out by filterRaidSkipList).
  assert.deepEqual(await eraseDevices([bd(B), bd('/dev/sdzp')], node, o), {
    [B]: 'x',
    '/dev/sdzp': 'skipped (software RAID member of /dev/md0)',
  });
});

test('erase_devices dispatches erase_block_device per disk: a site manager takes NVMe disks, the generic manager the rest', async () => {
  const run = fakeHost({ [A]: {}, [NV]: {} });
  const generic: string[] = [];
  class TestGeneric extends GenericHardwareManager {
    override async list_block_devices(): Promise<BlockDevice[]> {
      return [bd(A), bd(NV)];
    }
    // Stands in for the real erase, which would write to the device.
    override async erase_block_device(_node: Node, d: BlockDevice): Promise<string> {
      generic.push(d.name);
      return 'generic overwrite';
    }
  }
  const site = {
    className: 'NvmeSiteManager',
    calls: [] as string[],
    evaluate_hardware_support: () => HardwareSupport.MAINLINE,
    async erase_block_device(_node: Node, d: BlockDevice) {
      this.calls.push(d.name);
      if (!d.name.includes('nvme')) throw new IncompatibleHardwareMethodError('only NVMe');
      return 'vendor sanitize';
    },
  };
  const config = { ...createDefaultConfig(), diskWaitAttempts: 1 };
  const mem = createMemoryLog();
  const state = createState(config, 'v');
  const managers = await loadHardwareManagers(config, {
    state,
    log: mem,
    run,
    builtins: (ctx) => [new TestGeneric(ctx), site],
  });
  const node: Node = { uuid: 'n', driver_internal_info: {} } as unknown as Node;
  const r = await managers.dispatchToManagers('erase_devices', node, [], {});
  assert.deepEqual(r, { [A]: 'generic overwrite', [NV]: 'vendor sanitize' });
  assert.deepEqual(site.calls.sort(), [A, NV].sort());
  assert.deepEqual(generic, [A]);
  // A manager returning nothing (IPA's None) raised no error, but the agent cannot know it erased anything: the
  // result names the manager and says exactly that, never 'erased'.
  for (const nothing of [undefined, null, '']) {
    site.erase_block_device = async (_node: Node, d: BlockDevice) => {
      if (!d.name.includes('nvme')) throw new IncompatibleHardwareMethodError('only NVMe');
      return nothing as unknown as string;
    };
    const r2 = (await managers.dispatchToManagers('erase_devices', node, [], {})) as Record<string, string>;
    assert.equal(
      r2[NV],
      'not confirmed: NvmeSiteManager.erase_block_device returned no result and raised no error; the agent cannot tell whether or how it erased the disk',
      String(nothing),
    );
    assert.doesNotMatch(r2[NV]!, /\berased by\b/);
    assert.equal(r2[A], 'generic overwrite');
    assert.ok(mem.lines.includes(`WARNING erase_devices: ${NV}: ${r2[NV]}`), mem.lines.join('\n'));
  }
  // Any other result is reported as the manager returned it, naming the manager when it is not a string.
  site.erase_block_device = async (_node: Node, d: BlockDevice) => {
    if (!d.name.includes('nvme')) throw new IncompatibleHardwareMethodError('only NVMe');
    return { method: 'sanitize', passes: 1 } as unknown as string;
  };
  const r3 = (await managers.dispatchToManagers('erase_devices', node, [], {})) as Record<string, string>;
  assert.equal(r3[NV], 'NvmeSiteManager.erase_block_device returned {"method":"sanitize","passes":1}');
});

test('the generic erase_block_device checks its own disk (IPA): a site manager dispatching it per disk cannot erase a RAID member or a shared-disk filesystem', async () => {
  const run = fakeHost({
    [A]: { sigs: ['gpt'], parts: { [`${A}1`]: { sigs: ['linux_raid_member'], holders: [{ name: '/dev/md0', type: 'raid1' }] } } },
    [B]: { sigs: ['gfs2'] },
  });
  const config = { ...createDefaultConfig(), diskWaitAttempts: 1 };
  const managers = await loadHardwareManagers(config, {
    state: createState(config, 'v'),
    log: createMemoryLog(),
    run,
    builtins: (ctx) => [new GenericHardwareManager(ctx)],
  });
  const node: Node = { uuid: 'n', driver_internal_info: {} } as unknown as Node;
  // Skipped before any write: the real device I/O would fail on this name, which exists on no host.
  assert.equal(await managers.dispatchToManagers('erase_block_device', node, bd(A)), 'skipped (software RAID member of /dev/md0)');
  await assert.rejects(managers.dispatchToManagers('erase_block_device', node, bd(B)), ProtectedDeviceError);
  assert.ok(!run.calls.some((c) => /^(hdparm|nvme|wipefs --force|sgdisk)/.test(c)), run.calls.join('\n'));
  await assert.rejects(managers.dispatchToManagers('erase_block_device', node, { size: 1 }), (e: unknown) =>
    /needs a block device with a \/dev\/ name/.test(details(e)),
  );
});

test('the metadata steps wipe the partitions of a skipped RAID member that are in no array (IPA lists partitions too); erase_devices leaves the disk alone', async (t) => {
  // Regular files stand in for the disk and its partitions (the GPT-area zeroing writes to them).
  const dir = mkdtempSync(join(tmpdir(), 'member-parts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const disk = join(dir, 'sdx');
  for (const f of [disk, `${disk}1`, `${disk}2`, `${disk}3`]) writeFileSync(f, Buffer.alloc(1 << 20, 0xa5));
  const run = fakeHost({
    [disk]: {
      sigs: ['gpt'],
      parts: {
        [`${disk}1`]: { sigs: ['linux_raid_member'], holders: [{ name: '/dev/md0', type: 'raid1' }] },
        [`${disk}2`]: { sigs: ['iso9660'] },
        [`${disk}3`]: { sigs: ['linux_raid_member'] },
      },
    },
  });
  const wiped = (calls: string[]) => calls.filter((c) => c.startsWith('wipefs --force --all')).map((c) => c.split(' ').at(-1));
  const zeroed = (f: string) =>
    readFileSync(f)
      .subarray(0, 33 * 512)
      .every((b) => b === 0);
  for (const step of ['metadata', 'express'] as const) {
    for (const f of [`${disk}1`, `${disk}2`, `${disk}3`]) writeFileSync(f, Buffer.alloc(1 << 20, 0xa5));
    run.calls.length = 0;
    const o = { run, vmediaDevice: null, sysRoot: join(dir, 'no-sys') };
    const r = step === 'metadata' ? await eraseDevicesMetadata([bd(disk)], o) : await eraseDevicesExpress([bd(disk)], {}, o);
    assert.deepEqual(r, {
      [disk]: `skipped (software RAID member of /dev/md0); partition tables and signatures erased on its partitions in no array: ${disk}2`,
    });
    assert.deepEqual(wiped(run.calls), [`${disk}2`], step);
    assert.deepEqual([zeroed(`${disk}1`), zeroed(`${disk}2`), zeroed(`${disk}3`)], [false, true, false], step);
  }
  run.calls.length = 0;
  const { o, seen } = recordingOverwrite(run);
  assert.deepEqual(await eraseDevices([bd(disk)], {}, o), { [disk]: 'skipped (software RAID member of /dev/md0)' });
  assert.deepEqual([seen, wiped(run.calls)], [[], []]);
});

test('a shared-disk filesystem on such a partition is protected, guard on: nothing is wiped (IPA checks each erasable device)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'member-guard-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const disk = join(dir, 'sdw');
  for (const f of [disk, `${disk}1`, `${disk}2`]) writeFileSync(f, Buffer.alloc(1 << 20, 0xa5));
  const run = fakeHost({
    [disk]: {
      sigs: ['gpt'],
      parts: {
        [`${disk}1`]: { sigs: ['linux_raid_member'], holders: [{ name: '/dev/md0', type: 'raid1' }] },
        [`${disk}2`]: { sigs: ['gfs2'] },
      },
    },
  });
  const o = { run, vmediaDevice: null, sysRoot: join(dir, 'no-sys') };
  await assert.rejects(eraseDevicesMetadata([bd(disk)], o), ProtectedDeviceError);
  await assert.rejects(eraseDevicesExpress([bd(disk)], {}, o), ProtectedDeviceError);
  assert.ok(!run.calls.some((c) => c.startsWith('wipefs --force')), run.calls.join('\n'));
  assert.ok(
    readFileSync(`${disk}2`).every((b) => b === 0xa5),
    'the GFS2 partition is untouched',
  );
  // With the guard off (wipe_special_filesystems: false) it is wiped like the others.
  const off = await eraseDevicesMetadata([bd(disk)], { ...o, node: { driver_internal_info: { wipe_special_filesystems: false } } });
  assert.match(String(off[disk]), /on its partitions in no array: .*sdw2$/);
});
