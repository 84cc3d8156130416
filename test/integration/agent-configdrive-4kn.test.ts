/**
 * Config drives on a disk with 4096-byte logical sectors, checked on the
 * disk. The kernel's ISO9660 driver refuses such a device, so the ISO Ironic
 * builds could not be mounted by the instance: the agent rebuilds it as a
 * vfat filesystem labelled CONFIG-2 (agent/src/image/configdrive.ts).
 *
 * tinyipa boots (direct kernel, BIOS); the agent (standalone, driven
 * through its API as the conductor drives it) deploys
 *  0. on a disk of 512-byte sectors, a partition image with a config drive
 *     made as Ironic makes one (ISO9660 with Rock Ridge and Joliet, volume id
 *     config-2, gzip, base64): the ISO mounts there and stays byte for byte
 *     as given;
 * then, booted again with a virtio disk of 4096-byte logical and physical
 * blocks,
 *  1. a whole-disk image whose GPT is laid out for 4096-byte sectors, with the
 *     same config drive;
 *  2. then a partition image with the same config drive.
 * After each, the host reads the disk file: the image's bytes are there and
 * the config drive partition holds a vfat filesystem labelled CONFIG-2 and
 * nothing else blkid could find, with every file of the ISO, byte for byte
 * (mtools; the host kernel may have no vfat or iso9660 driver).
 *
 * The guest fetches the images from the host as 10.0.2.2 (slirp); the host
 * only talks to the guest through the hostfwd on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { startImageServer, type TestImageServer } from '../../agent/test/support/image-server.js';
import { runAgentCommand } from '../support/agent-api.js';
import { diskPartitions, type DiskPartition } from '../support/disk-layout.js';
import { readAt } from '../support/loopdisk.js';
import { bootVm, freePort, type Vm } from '../support/qemu.js';
import { sharedBuild } from '../support/shared-build.js';

const skip =
  process.getuid?.() !== 0
    ? 'needs root (losetup)'
    : !existsSync('/usr/bin/mcopy') || !existsSync('/usr/bin/xorriso')
      ? 'needs mtools and xorriso (./ramforge doctor --for test --fix)'
      : false;
const MiB = 1 << 20;
const SECTOR = 4096;

let kernel = process.env.RAMFORGE_TEST_KERNEL;
let initrd = process.env.RAMFORGE_TEST_INITRAMFS;
let dir = '';
let srv: TestImageServer | undefined;
const images: Record<string, Buffer> = {};
/** The config drive's files, as the instance should read them. */
const FILES: Record<string, Buffer> = {
  'openstack/latest/meta_data.json': Buffer.from(JSON.stringify({ uuid: '4b1c0000-0000-4000-8000-00000000c0de', name: 'four-k' })),
  'openstack/latest/user_data': Buffer.from('#cloud-config\nhostname: four-k\n'),
  'openstack/latest/network_data.json': Buffer.from('{"links": [], "networks": [], "services": []}'),
  'openstack/content/0000': randomBytes(100 * 1024),
  // Many small files, as a config drive with many metadata versions has: each a 4 KiB cluster on the vfat.
  ...Object.fromEntries(
    Array.from({ length: 100 }, (_, n) => [`ec2/2009-04-04/meta-data/item-${String(n).padStart(3, '0')}`, Buffer.from(`value ${n}\n`)]),
  ),
};
let configdrive = '';
let isoBytes = Buffer.alloc(0);

/** Random bytes in partition 1 of a whole-disk image with a GPT for 4096-byte sectors (sgdisk on a loop device of that sector size). */
function wholeDiskImage(file: string): void {
  execFileSync('truncate', ['-s', `${24 * MiB}`, file]);
  const loop = execFileSync('losetup', ['--sector-size', String(SECTOR), '-f', '--show', file], { encoding: 'utf8' }).trim();
  try {
    execFileSync('sgdisk', ['-n', '1:0:+16M', '-t', '1:8300', loop]);
  } finally {
    execFileSync('losetup', ['-d', loop]);
  }
  const [p1] = diskPartitions(file, SECTOR);
  assert.ok(p1 && p1.offset % SECTOR === 0, 'sgdisk laid the partition out in 4096-byte sectors');
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, randomBytes(p1.size), 0, p1.size, p1.offset);
  } finally {
    closeSync(fd);
  }
}

before(
  async () => {
    if (skip) return;
    dir = mkdtempSync(join(tmpdir(), 'ramforge-4kn-'));
    const tree = join(dir, 'cd');
    for (const [name, data] of Object.entries(FILES)) {
      mkdirSync(join(tree, name, '..'), { recursive: true });
      writeFileSync(join(tree, name), data);
    }
    // Ironic's config drive: genisoimage -J -r -V config-2 (xorriso's mkisofs emulation takes the same options), gzipped, base64.
    const iso = join(dir, 'cd.iso');
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, '-J', '-r', '-V', 'config-2', tree], { stdio: 'ignore' });
    isoBytes = readFileSync(iso);
    configdrive = gzipSync(isoBytes).toString('base64');
    wholeDiskImage(join(dir, 'whole.img'));
    images['whole.img'] = readFileSync(join(dir, 'whole.img'));
    mkdirSync(join(dir, 'root/etc'), { recursive: true });
    writeFileSync(join(dir, 'root/etc/hostname'), 'four-k\n');
    // 4096-byte blocks: a filesystem with smaller ones could not be mounted on this disk at all.
    execFileSync('mkfs.ext4', ['-q', '-b', '4096', '-d', join(dir, 'root'), join(dir, 'root.img'), '8M']);
    images['root.img'] = readFileSync(join(dir, 'root.img'));
    srv = await startImageServer(Object.fromEntries(Object.entries(images).map(([k, v]) => [`/${k}`, { data: v }])));
    if (kernel && initrd) return;
    const b = await sharedBuild();
    kernel = b.kernel;
    initrd = b.initramfs;
  },
  { timeout: 30 * 60_000 },
);
after(async () => {
  await srv?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const imageInfo = (file: string, extra: Record<string, unknown>) => ({
  id: file,
  urls: [`http://10.0.2.2:${new URL(srv!.url('/')).port}/${file}`],
  disk_format: 'raw',
  stream_raw_images: true,
  os_hash_algo: 'sha256',
  os_hash_value: createHash('sha256').update(images[file]!).digest('hex'),
  ...extra,
});

/** What blkid finds at the partition (every superblock it knows: an ISO9660 left beside the vfat would make the probe ambivalent and fail). */
function probe(disk: string, p: DiskPartition): Record<string, string> {
  const out = execFileSync('blkid', ['-p', '-o', 'export', '-O', String(p.offset), '-S', String(p.size), disk], { encoding: 'utf8' });
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => l.split('=', 2) as [string, string]),
  );
}

/** The config drive partition holds vfat CONFIG-2 with every file of the ISO. */
function assertVfatConfigDrive(disk: string, p: DiskPartition): void {
  const found = probe(disk, p);
  assert.equal(found.TYPE, 'vfat', JSON.stringify(found));
  assert.equal(found.LABEL, 'CONFIG-2');
  assert.equal(found.BLOCK_SIZE, String(SECTOR), 'made for the 4096-byte sectors of the disk');
  // Every file back through mtools, in one recursive copy (the host kernel may have no vfat driver).
  const out = join(dir, 'read-back');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  execFileSync('mcopy', ['-s', '-n', '-i', `${disk}@@${p.offset}`, '::/*', out], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  for (const [name, data] of Object.entries(FILES)) assert.ok(readFileSync(join(out, name)).equals(data), `${name} on the config drive`);
}

test('config drives: the ISO stays on a 512-byte disk; on a 4Kn disk it is rebuilt as vfat CONFIG-2 with its files, for a whole-disk and a partition image', {
  skip,
  timeout: 20 * 60_000,
}, async () => {
  const port = await freePort();
  let vm: Vm | undefined;
  /** The ramdisk with `disk` as its only disk. */
  const boot = async (disk: string, sectorSize: 512 | 4096): Promise<Vm> => {
    const v = await bootVm({
      kernel,
      initrd,
      append: 'console=ttyS0 ipa-standalone=1 ipa-disk-wait-attempts=1',
      memoryMiB: 1024,
      hostfwd: [{ hostPort: port, guestPort: 9999 }],
      disks: [{ path: disk, format: 'raw', serial: `ramforge-${sectorSize}`, sectorSize }],
    });
    const up = await v.waitForHttp(`http://127.0.0.1:${port}/v1/status`, 300_000);
    console.log(`ramdisk (disk of ${sectorSize}-byte sectors) answered /v1/status after ${up.ms} ms`);
    return v;
  };
  /** A partition image with the config drive; returns the config drive's partition path in the guest. */
  const deployPartitionImage = async (): Promise<string> => {
    const r = await runAgentCommand(
      port,
      'standby.prepare_image',
      { image_info: imageInfo('root.img', { image_type: 'partition', root_mb: 16, deploy_boot_mode: 'bios' }), configdrive },
      600_000,
    );
    assert.equal(r.command_status, 'SUCCEEDED', JSON.stringify(r));
    const uuids = (await runAgentCommand(port, 'standby.get_partition_uuids', {}, 60_000)).command_result!;
    assert.equal((await runAgentCommand(port, 'standby.sync', {}, 120_000)).command_status, 'SUCCEEDED');
    return String((uuids.partitions as Record<string, string>).configdrive);
  };
  /** The root image on its 16 MiB partition, and the config drive's partition (by the guest's number). */
  const partitionImageOnDisk = (disk: string, sectorSize: 512 | 4096, cdPath: string): DiskPartition => {
    const parts = diskPartitions(disk, sectorSize);
    const root = parts.find((p) => p.size === 16 * MiB);
    assert.ok(root, `a 16 MiB root partition: ${JSON.stringify(parts)}`);
    assert.ok(readAt(disk, root.offset, images['root.img']!.length).equals(images['root.img']!), 'the root image on its partition');
    const cd = parts.find((p) => /(\d+)$/.exec(cdPath)?.[1] === String(p.number));
    assert.ok(cd, `the config drive partition ${cdPath} in ${JSON.stringify(parts)}`);
    return cd;
  };
  try {
    // 0. 512-byte sectors: the ISO mounts where it is written, and is left as given.
    const disk512 = join(dir, 'disk512.img');
    execFileSync('truncate', ['-s', `${4608 * MiB}`, disk512]);
    vm = await boot(disk512, 512);
    const cd512 = partitionImageOnDisk(disk512, 512, await deployPartitionImage());
    await vm.stop();
    vm = undefined;
    assert.equal(probe(disk512, cd512).TYPE, 'iso9660');
    assert.ok(readAt(disk512, cd512.offset, isoBytes.length).equals(isoBytes), 'the ISO as given');

    // Sparse; above the 4 GiB the agent's root disk guess asks for.
    const disk = join(dir, 'disk4k.img');
    execFileSync('truncate', ['-s', `${4608 * MiB}`, disk]);
    vm = await boot(disk, SECTOR);

    // 1. Whole-disk image: the agent adds a config drive partition at the end of the disk.
    const r = await runAgentCommand(
      port,
      'standby.prepare_image',
      { image_info: imageInfo('whole.img', { image_type: 'whole-disk-image' }), configdrive },
      600_000,
    );
    assert.equal(r.command_status, 'SUCCEEDED', JSON.stringify(r));
    assert.equal((await runAgentCommand(port, 'standby.sync', {}, 120_000)).command_status, 'SUCCEEDED');
    const parts = diskPartitions(disk, SECTOR);
    assert.equal(parts.length, 2, `the image's partition and the config drive: ${JSON.stringify(parts)}`);
    const imgPart = diskPartitions(join(dir, 'whole.img'), SECTOR)[0]!;
    assert.deepEqual(parts[0], imgPart);
    assert.ok(
      readAt(disk, imgPart.offset, imgPart.size).equals(images['whole.img']!.subarray(imgPart.offset, imgPart.offset + imgPart.size)),
    );
    assert.ok(parts[1]!.offset + parts[1]!.size > 4600 * MiB, 'the config drive is at the end of the disk');
    assertVfatConfigDrive(disk, parts[1]!);
    const serial = vm.serialText();
    console.log(`whole-disk: config drive ${JSON.stringify(parts[1])} is vfat CONFIG-2 with ${Object.keys(FILES).length} files`);

    // 2. Partition image: the agent lays the disk out (config drive, root) and writes both.
    const cdPath = await deployPartitionImage();
    await vm.stop();
    vm = undefined;
    assertVfatConfigDrive(disk, partitionImageOnDisk(disk, SECTOR, cdPath));
    // Why: the agent's log on the console names the mount that failed.
    assert.match(serial, /cannot be mounted there \(Command mount -o ro -t auto \/dev\/vda\d+ /);
    console.log(`partition image: config drive ${cdPath} is vfat CONFIG-2`);
  } catch (e) {
    if (vm) console.error(`--- serial console (tail)\n${vm.serialText().split('\n').slice(-60).join('\n')}`);
    throw e;
  } finally {
    await vm?.stop();
  }
});
