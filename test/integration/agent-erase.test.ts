/**
 * The agent's disk overwrite on real block devices (loop devices, root):
 * every byte is read back from the backing file afterwards; a device whose
 * writes fail makes the step fail naming it; a read-only device is skipped
 * when allowed and keeps its bytes; a local disk labelled ir-vfd-dev is
 * erased like any other.
 *
 *   node --import tsx --test test/integration/agent-erase.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eraseDevices, eraseDevicesExpress, eraseDevicesMetadata } from '../../agent/src/hardware/disks/index.js';
import { ProtectedDeviceError } from '../../agent/src/errors.js';
import { createMemoryLog } from '../../agent/test/support/logs.js';
import { attachLoop, canUseLoop, sh } from '../../agent/test/support/loop-device.js';
import type { BlockDevice } from '../../agent/src/hardware/types.js';

const skip = !canUseLoop() && 'needs root for losetup';
const MiB = 1 << 20;
const MARKER = Buffer.alloc(4096, 'previous tenant data ');
const disk = (name: string) => ({ name }) as BlockDevice;

function writeMarkers(file: string, offsets: number[]): void {
  const fd = openSync(file, 'r+');
  try {
    for (const off of offsets) writeSync(fd, MARKER, 0, MARKER.length, off);
  } finally {
    closeSync(fd);
  }
}

/** First non-zero byte of the file (4 MiB chunks), or -1. */
function firstNonZero(file: string): number {
  const buf = Buffer.alloc(4 * MiB);
  const zero = Buffer.alloc(4 * MiB);
  const fd = openSync(file, 'r');
  try {
    for (let pos = 0; ; pos += buf.length) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) return -1;
      if (!buf.subarray(0, n).equals(zero.subarray(0, n))) return pos + buf.subarray(0, n).findIndex((b) => b !== 0);
    }
  } finally {
    closeSync(fd);
  }
}

test('erase_devices overwrites every byte of a loop device (start, middle, end) and reports the verified method', {
  skip,
  timeout: 300_000,
}, async () => {
  const size = 96 * MiB + 512; // an odd sector count: the tail is not a whole 4 KiB block
  const loop = attachLoop(size);
  try {
    writeMarkers(loop.file, [0, 4096, size / 2 - 4096 + 256, size - 4096]);
    const mem = createMemoryLog();
    const log = mem.lines;
    const r = await eraseDevices([disk(loop.dev)], {}, { log: mem });
    assert.match(String(r[loop.dev]), /^overwrite: 1 random pass \+ zeros, verified 128 samples$/, 'verified with direct reads');
    assert.ok(
      log.some((l) => l.includes(`erase_devices: ${loop.dev}: overwrite`)),
      log.join('\n'),
    );
    execFileSync('sync');
    assert.equal(firstNonZero(loop.file), -1);
  } finally {
    loop.detach();
  }
});

test('random passes only (zeroize off): no marker left, the random pattern verified', { skip, timeout: 300_000 }, async () => {
  const size = 32 * MiB;
  const loop = attachLoop(size);
  try {
    const offsets = [0, size / 2, size - 4096];
    writeMarkers(loop.file, offsets);
    const r = await eraseDevices([disk(loop.dev)], {
      driver_internal_info: { agent_erase_devices_iterations: 2, agent_erase_devices_zeroize: false },
    });
    assert.match(String(r[loop.dev]), /^overwrite: 2 random passes, verified \d+ samples$/);
    const fd = openSync(loop.file, 'r');
    try {
      for (const off of offsets) {
        const b = Buffer.alloc(4096);
        readSync(fd, b, 0, 4096, off);
        assert.ok(!b.equals(MARKER) && !b.every((x) => x === 0), `random data at ${off}`);
      }
    } finally {
      closeSync(fd);
    }
  } finally {
    loop.detach();
  }
});

test('a device whose writes fail half-way fails the step, naming the disk', { skip, timeout: 300_000 }, async () => {
  // The loop's backing file lives on a 24 MiB tmpfs but claims 64 MiB: past 24 MiB the kernel returns EIO.
  const dir = mkdtempSync(join(tmpdir(), 'rf-erase-enospc-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dir]);
  let dev = '';
  try {
    const file = join(dir, 'disk.img');
    writeFileSync(file, '');
    truncateSync(file, 64 * MiB);
    dev = execFileSync('losetup', ['-f', '--show', file], { encoding: 'utf8' }).trim();
    await assert.rejects(eraseDevices([disk(dev)], {}), (e: unknown) => {
      const details = (e as { details?: string }).details ?? '';
      console.log(`step error: ${details}`);
      assert.match(
        details,
        new RegExp(
          `Failed to erase on the device\\(s\\): "${dev}": (writing ${dev} at byte \\d+ failed|flushing ${dev} after pass 1/2 \\(random\\) failed)`,
        ),
      );
      return true;
    });
  } finally {
    if (dev) execFileSync('losetup', ['-d', dev]);
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a read-only device: the step fails without agent_erase_skip_read_only, is skipped with it, and keeps its bytes', {
  skip,
  timeout: 120_000,
}, async () => {
  const size = 16 * MiB;
  const loop = attachLoop(size);
  try {
    writeMarkers(loop.file, [0, size - 4096]);
    execFileSync('blockdev', ['--setro', loop.dev]);
    await assert.rejects(eraseDevices([disk(loop.dev)], {}), (e: unknown) =>
      /is read-only; set driver_internal_info agent_erase_skip_read_only/.test((e as { details: string }).details),
    );
    const r = await eraseDevices([disk(loop.dev)], { driver_internal_info: { agent_erase_skip_read_only: true } });
    assert.deepEqual(r, { [loop.dev]: 'skipped (read-only)' });
    const b = Buffer.alloc(4096);
    const fd = openSync(loop.file, 'r');
    try {
      readSync(fd, b, 0, 4096, size - 4096);
    } finally {
      closeSync(fd);
    }
    assert.ok(b.equals(MARKER));
  } finally {
    execFileSync('blockdev', ['--setrw', loop.dev]);
    loop.detach();
  }
});

/**
 * A GFS2 superblock as libblkid recognises it (util-linux libblkid/src/superblocks/gfs.c):
 * at 64 KiB, meta header magic 0x01161970, type 3 (superblock), format 400, then
 * sb_fs_format 1801 and sb_multihost_format 1900, big-endian; block size 4096; lock table name.
 * Written through the device node so the kernel's view is the one probed.
 */
function writeGfs2Superblock(dev: string, at = 0): void {
  const sb = Buffer.alloc(512);
  [0x01161970, 3].forEach((v, i) => sb.writeUInt32BE(v, i * 4));
  sb.writeUInt32BE(400, 16);
  [1801, 1900, 0, 4096, 12].forEach((v, i) => sb.writeUInt32BE(v, 24 + i * 4));
  sb.write('lock_dlm', 96);
  sb.write('cluster:shared', 160);
  const fd = openSync(dev, 'r+');
  try {
    writeSync(fd, sb, 0, sb.length, at + 64 * 1024);
  } finally {
    closeSync(fd);
  }
  execFileSync('sync');
}

const probeType = (dev: string): string => sh('blkid', ['-p', '-o', 'value', '-s', 'TYPE', dev]).trim();

test('a loop disk holding GFS2 (on the disk or on a partition) is refused by every erase step until the guard is switched off', {
  skip,
  timeout: 300_000,
}, async () => {
  // libblkid ignores a GFS2 superblock on anything smaller than 32 MiB.
  const size = 48 * MiB;
  const plain = attachLoop(16 * MiB);
  const whole = attachLoop(size);
  const parted = attachLoop(size);
  try {
    writeMarkers(plain.file, [0, 16 * MiB - 4096]);
    writeGfs2Superblock(whole.dev);
    execFileSync('parted', ['-s', parted.dev, 'mklabel', 'gpt', 'mkpart', 'shared', '1MiB', '100%']);
    const part = `${parted.dev}p1`;
    for (let i = 0; i < 50 && !existsSync(part); i++) await new Promise((r) => setTimeout(r, 100));
    writeGfs2Superblock(part);
    assert.equal(probeType(whole.dev), 'gfs2', 'libblkid should see the GFS2 superblock on the disk');
    assert.equal(probeType(part), 'gfs2', 'libblkid should see the GFS2 superblock on the partition');

    const refused = (dev: string) => (e: unknown) => {
      assert.ok(e instanceof ProtectedDeviceError, String(e));
      const details = (e as ProtectedDeviceError).details;
      console.log(`refused: ${details}`);
      assert.match(details, new RegExp(`Protected Red Hat Global File System 2 \\(gfs2\\) located on device ${dev}`));
      assert.match(details, /wipe_special_filesystems=false/);
      return true;
    };
    // The unprotected disk comes first: nothing at all is erased when any disk is protected.
    await assert.rejects(eraseDevices([disk(plain.dev), disk(whole.dev)], {}, { vmediaDevice: null }), refused(whole.dev));
    await assert.rejects(
      eraseDevicesMetadata([disk(plain.dev), disk(parted.dev)], { vmediaDevice: null }),
      refused(`${parted.dev} \\(partition ${part}\\)`),
    );
    await assert.rejects(eraseDevicesExpress([disk(parted.dev)], {}, { vmediaDevice: null }), refused(parted.dev));
    const b = Buffer.alloc(4096);
    const fd = openSync(plain.file, 'r');
    try {
      readSync(fd, b, 0, 4096, 0);
    } finally {
      closeSync(fd);
    }
    assert.ok(b.equals(MARKER), 'the unprotected disk was touched');
    assert.equal(probeType(whole.dev), 'gfs2');
    assert.equal(probeType(part), 'gfs2');

    // The node's switch (IPA's wipe_special_filesystems=false) lets the metadata wipe through.
    const r = await eraseDevicesMetadata([disk(parted.dev)], {
      vmediaDevice: null,
      node: { driver_internal_info: { wipe_special_filesystems: false } },
    });
    assert.deepEqual(Object.keys(r), [parted.dev]);
    const left = sh('wipefs', ['--json', parted.dev]).trim();
    assert.deepEqual(left ? JSON.parse(left).signatures : [], [], 'signatures left on the disk');
    assert.equal(probeType(parted.dev), '');
    // The agent's switch (guardSpecialFilesystems: false) lets the full erase through: every byte is zero.
    const r2 = await eraseDevices([disk(whole.dev)], {}, { vmediaDevice: null, guardSpecialFilesystems: false });
    assert.match(String(r2[whole.dev]), /^overwrite: /);
    execFileSync('sync');
    assert.equal(firstNonZero(whole.file), -1);
  } finally {
    plain.detach();
    whole.detach();
    parted.detach();
  }
});

test('a local disk labelled ir-vfd-dev (a tenant can write that label) is erased by erase_devices and erase_devices_metadata, and the results say so', {
  skip,
  timeout: 120_000,
}, async () => {
  // The label alone made IPA (and the agent before) skip the disk as the virtual floppy; a loop
  // device is no CD-ROM nor USB disk, so it is erased like any local disk. The skip of a real
  // USB floppy is covered by safety.test.ts: no loop device can show a USB transport.
  const size = 8 * MiB;
  const labelled = attachLoop(size);
  try {
    const note = new RegExp(`; labelled ir-vfd-dev, but not virtual media \\(a loop, ${size} bytes\\): erased like any other disk$`);
    execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'ir-vfd-dev', labelled.dev]);
    assert.equal(probeType(labelled.dev), 'ext4');
    const r = await eraseDevicesMetadata([disk(labelled.dev)], {});
    assert.match(String(r[labelled.dev]), new RegExp(`^metadata \\(partition tables and signatures\\)${note.source}`));
    assert.equal(probeType(labelled.dev), '', 'the labelled disk still has its filesystem');

    execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'ir-vfd-dev', labelled.dev]);
    writeMarkers(labelled.file, [size / 2, size - 4096]);
    const mem = createMemoryLog();
    const r2 = await eraseDevices([disk(labelled.dev)], {}, { log: mem });
    console.log(`erase_devices: ${String(r2[labelled.dev])}`);
    assert.match(String(r2[labelled.dev]), new RegExp(`^overwrite: .*${note.source}`));
    assert.ok(
      mem.lines.some((l) => l.includes(`${labelled.dev}: labelled ir-vfd-dev, but not virtual media`)),
      mem.lines.join('\n'),
    );
    execFileSync('sync');
    assert.equal(firstNonZero(labelled.file), -1);
  } finally {
    labelled.detach();
  }
});
