import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, open } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getPartitionUuids, prepareImage, type PrepareOpts } from '../../agent/src/image/index.js';
import { startImageServer, type TestImageServer } from '../../agent/test/support/image-server.js';
import { attachLoop, canUseLoop, sh } from '../../agent/test/support/loop-device.js';

const skip = !canUseLoop() && 'needs root for losetup';
const has =
  (re: RegExp) =>
  (e: unknown): boolean =>
    re.test(`${(e as Error).name} ${(e as Error).message} ${(e as { details?: string }).details ?? ''}`);
let srv: TestImageServer;
let dir: string;
/** Random bytes behind an MBR with one Linux partition from 1 MiB to the end (a whole-disk image must hold a partition, as in IPA). */
function mbrImage(size: number): Buffer {
  const b = randomBytes(size);
  // Keep the random disk signature at 440: root_uuid reports it.
  b.fill(0, 0, 440);
  b.fill(0, 444, 510);
  b.set([0x00, 0xfe, 0xff, 0xff, 0x83, 0xfe, 0xff, 0xff], 446);
  b.writeUInt32LE(2048, 454);
  b.writeUInt32LE(size / 512 - 2048, 458);
  b.writeUInt16LE(0xaa55, 510);
  return b;
}
const raw = mbrImage(6 << 20);
/** No partition table at all (no MBR signature at 510). */
const junk = randomBytes(2 << 20).fill(0, 510, 512);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const files: Record<string, Buffer> = {};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rf-prep-'));
  await writeFile(join(dir, 'img.raw'), raw);
  await writeFile(join(dir, 'junk.raw'), junk);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', join(dir, 'img.raw'), join(dir, 'img.qcow2')]);
  // A GPT disk image (for the config drive test) and an ext4 root filesystem (partition images).
  execFileSync('truncate', ['-s', '8M', join(dir, 'gpt.raw')]);
  execFileSync('sgdisk', ['-n', '1:0:+4M', join(dir, 'gpt.raw')]);
  execFileSync('truncate', ['-s', '8M', join(dir, 'root.raw')]);
  execFileSync('mkfs.ext4', ['-q', '-U', '11111111-2222-3333-4444-555555555555', join(dir, 'root.raw')]);
  for (const f of ['img.raw', 'junk.raw', 'img.qcow2', 'gpt.raw', 'root.raw']) files[f] = await readFile(join(dir, f));
  srv = await startImageServer(Object.fromEntries(Object.entries(files).map(([k, v]) => [`/${k}`, { data: v }])));
});
after(async () => {
  await srv?.close();
  await rm(dir, { recursive: true, force: true });
});

const opts = (device: string): PrepareOpts => ({
  device,
  md5Enabled: false,
  bootMode: 'bios',
  downloadTimeoutS: 5,
  retries: 1,
  retryIntervalS: 0.05,
  maxDurationS: 0,
  tmpDir: dir,
});
const info = (file: string, extra: Record<string, unknown> = {}) => ({
  id: file,
  urls: [srv.url(`/${file}`)],
  disk_format: 'raw',
  stream_raw_images: true,
  os_hash_algo: 'sha256',
  os_hash_value: sha(files[file]!),
  ...extra,
});
async function readDev(dev: string, len: number, offset = 0): Promise<Buffer> {
  const fh = await open(dev, 'r');
  try {
    const b = Buffer.alloc(len);
    await fh.read(b, 0, len, offset);
    return b;
  } finally {
    await fh.close();
  }
}
const mbrSig = (b: Buffer): string => `0x${b.readUInt32LE(440).toString(16).padStart(8, '0')}`;

test('raw whole-disk image streamed to a loop device, byte for byte', { skip }, async () => {
  const loop = attachLoop(16 << 20);
  try {
    const msg = await prepareImage(info('img.raw'), null, opts(loop.dev));
    assert.ok((await readDev(loop.dev, raw.length)).equals(raw));
    assert.equal(msg, `image (img.raw) written to device ${loop.dev} root_uuid=${mbrSig(raw)}`);
    assert.deepEqual(getPartitionUuids(), { 'root uuid': mbrSig(raw) });
  } finally {
    loop.detach();
  }
});

test('qcow2 whole-disk image: cached, checked, converted with qemu-img', { skip }, async () => {
  const loop = attachLoop(16 << 20);
  try {
    // Ironic's permitted_image_formats (from the lookup) without qcow2: refused before anything is written.
    const before = await readDev(loop.dev, 4096);
    await assert.rejects(
      prepareImage(info('img.qcow2', { disk_format: 'qcow2' }), null, { ...opts(loop.dev), imageFormats: { permitted: ['raw'] } }),
      has(/InvalidImage.*qcow2 is not in Ironic's permitted_image_formats/),
    );
    assert.ok((await readDev(loop.dev, 4096)).equals(before));
    await prepareImage(info('img.qcow2', { disk_format: 'qcow2' }), null, opts(loop.dev));
    assert.ok((await readDev(loop.dev, raw.length)).equals(raw));
  } finally {
    loop.detach();
  }
});

test('raw image not streamed: cached then copied', { skip }, async () => {
  const loop = attachLoop(16 << 20);
  try {
    await prepareImage(info('img.raw', { stream_raw_images: false }), null, opts(loop.dev));
    assert.ok((await readDev(loop.dev, raw.length)).equals(raw));
  } finally {
    loop.detach();
  }
});

test('a whole-disk image with no partition table is refused after the write (DeploymentError), as IPA checks', { skip }, async () => {
  const loop = attachLoop(16 << 20);
  try {
    await assert.rejects(prepareImage(info('junk.raw'), null, opts(loop.dev)), has(/DeploymentError.*valid partition table/));
  } finally {
    loop.detach();
  }
});

test('qcow2 content declared raw is refused (InvalidImage)', { skip }, async () => {
  const loop = attachLoop(16 << 20);
  try {
    await assert.rejects(
      prepareImage(info('img.qcow2', { stream_raw_images: false }), null, opts(loop.dev)),
      has(/InvalidImage.*disk_format is raw but its content is qcow2/),
    );
  } finally {
    loop.detach();
  }
});

test('whole-disk GPT image gets a config drive partition at the end', { skip }, async () => {
  const loop = attachLoop(128 << 20);
  // Random bytes with ISO 9660's magic (the agent refuses a config drive that is no ISO 9660 or FAT image).
  const cd = randomBytes(300 << 10);
  cd.write('\x01CD001\x01', 0x8000, 'latin1');
  try {
    await prepareImage(info('gpt.raw'), gzipSync(cd).toString('base64'), opts(loop.dev));
    const parts = sh('lsblk', ['-lnpo', 'NAME,TYPE', loop.dev])
      .split('\n')
      .filter((l) => l.includes('part'))
      .map((l) => l.split(/\s+/)[0]!);
    assert.equal(parts.length, 2);
    assert.ok((await readDev(parts[1]!, cd.length)).equals(cd));
    const start = Number(sh('cat', [`/sys/class/block/${parts[1]!.slice(5)}/start`]));
    assert.ok(start * 512 >= (128 - 65) << 20, 'config drive sits at the end of the disk');
  } finally {
    loop.detach();
  }
});

test('UEFI partition image: ESP, swap, root; uuids recorded', { skip }, async () => {
  const loop = attachLoop(700 << 20);
  try {
    const msg = await prepareImage(info('root.raw', { image_type: 'partition', root_mb: 16, swap_mb: 8, deploy_boot_mode: 'uefi' }), null, {
      ...opts(loop.dev),
      bootMode: 'uefi',
    });
    const u = getPartitionUuids() as { 'root uuid': string; 'efi system partition uuid': string; partitions: Record<string, string> };
    assert.equal(u['root uuid'], '11111111-2222-3333-4444-555555555555');
    assert.match(u['efi system partition uuid'], /^[0-9A-F]{4}-[0-9A-F]{4}$/);
    assert.deepEqual(u.partitions, { 'efi system partition': `${loop.dev}p1`, swap: `${loop.dev}p2`, root: `${loop.dev}p3` });
    assert.match(sh('blkid', ['-p', `${loop.dev}p1`]), /LABEL="efi-part"/);
    assert.match(sh('blkid', ['-p', `${loop.dev}p2`]), /LABEL="swap1".*TYPE="swap"/);
    assert.equal(
      msg,
      `image (root.raw) written to device ${loop.dev} root_uuid=${u['root uuid']} efi_system_partition_uuid=${u['efi system partition uuid']}`,
    );
    // A rebuild with preserve_ephemeral keeps the table but formats the ESP again (a new FAT volume id), as IPA
    // does: the previous image's loader must not survive for install_bootloader to find.
    await prepareImage(
      info('root.raw', { image_type: 'partition', root_mb: 16, swap_mb: 8, deploy_boot_mode: 'uefi', preserve_ephemeral: true }),
      null,
      { ...opts(loop.dev), bootMode: 'uefi' },
    );
    const again = getPartitionUuids() as { 'root uuid': string; 'efi system partition uuid': string };
    assert.equal(again['root uuid'], u['root uuid']);
    assert.match(again['efi system partition uuid'], /^[0-9A-F]{4}-[0-9A-F]{4}$/);
    assert.notEqual(again['efi system partition uuid'], u['efi system partition uuid'], 'the ESP was formatted again');
    assert.match(sh('blkid', ['-p', `${loop.dev}p1`]), /LABEL="efi-part"/);
  } finally {
    loop.detach();
  }
});

test('UEFI partition image with disk_label msdos: an MBR disk whose ESP is type 0xef (IPA honours the label)', { skip }, async () => {
  const loop = attachLoop(700 << 20);
  try {
    await prepareImage(info('root.raw', { image_type: 'partition', root_mb: 16, deploy_boot_mode: 'uefi', disk_label: 'msdos' }), null, {
      ...opts(loop.dev),
      bootMode: 'uefi',
    });
    const u = getPartitionUuids() as { 'efi system partition uuid': string; partitions: Record<string, string> };
    assert.deepEqual(u.partitions, { 'efi system partition': `${loop.dev}p1`, root: `${loop.dev}p2` });
    assert.equal(sh('blkid', ['-p', '-o', 'value', '-s', 'PTTYPE', loop.dev]).trim(), 'dos');
    assert.equal(sh('blkid', ['-p', '-o', 'value', '-s', 'PART_ENTRY_TYPE', `${loop.dev}p1`]).trim(), '0xef');
    assert.match(sh('blkid', ['-p', `${loop.dev}p1`]), /LABEL="efi-part".*TYPE="vfat"/);
    assert.match(u['efi system partition uuid'], /^[0-9A-F]{4}-[0-9A-F]{4}$/);
  } finally {
    loop.detach();
  }
});

test('BIOS partition image on MBR with ephemeral; too-small root refused', { skip }, async () => {
  const loop = attachLoop(64 << 20);
  try {
    await prepareImage(
      info('root.raw', { image_type: 'partition', root_mb: 16, ephemeral_mb: 8, stream_raw_images: false }),
      null,
      opts(loop.dev),
    );
    const u = getPartitionUuids() as { partitions: Record<string, string> };
    assert.deepEqual(u.partitions, { ephemeral: `${loop.dev}p1`, root: `${loop.dev}p2` });
    assert.match(sh('blkid', ['-p', `${loop.dev}p1`]), /LABEL="ephemeral0"/);
    assert.match(sh('blkid', ['-p', '-o', 'value', '-s', 'PTTYPE', loop.dev]), /dos/);
    await assert.rejects(
      prepareImage(info('root.raw', { image_type: 'partition', root_mb: 4, stream_raw_images: false }), null, opts(loop.dev)),
      has(/Root partition is too small/),
    );
  } finally {
    loop.detach();
  }
});
