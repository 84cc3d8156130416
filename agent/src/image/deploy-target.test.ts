/**
 * Deploy targets must be block devices: a partition the kernel does not
 * show, or an install device that is missing or a regular file, fails the
 * deploy instead of the image going to a file in /dev (where the checksum,
 * computed on the buffers, would pass). Regular files stand in for disks
 * here; the loop-device runs are in test/integration/agent-prepare-image.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProgramRunner } from '../util/exec.js';
import { openImageSink } from './block-writer.js';
import { writePartitionImage } from './partition-image.js';
import { writeWholeDiskImage, type WriteContext } from './write-whole-disk.js';

const has =
  (re: RegExp) =>
  (e: unknown): boolean =>
    re.test(`${(e as Error).name} ${(e as Error).message} ${(e as { details?: string }).details ?? ''}`);

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rf-target-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every program succeeds with no output; the calls are recorded. */
function context(calls: string[][]): WriteContext {
  const run: ProgramRunner = async (argv) => {
    calls.push(argv);
    return { stdout: '', stderr: '', code: 0 };
  };
  return { run, tmpDir: dir, md5Enabled: false, downloadTimeoutS: 1, retries: 0, retryIntervalS: 0, maxDurationS: 0, partitionWaitMs: 300 };
}
const image = (extra: Record<string, unknown> = {}) => ({
  id: 'img',
  urls: ['http://127.0.0.1:1/img.raw'],
  os_hash_algo: 'sha256',
  os_hash_value: 'a'.repeat(64),
  disk_format: 'raw',
  ...extra,
});

test("openImageSink 'device' refuses a regular file (left as it was) and a missing path (not created)", async () => {
  const file = join(dir, 'not-a-disk');
  await writeFile(file, 'old');
  await assert.rejects(openImageSink(file, 'device'), has(/SinkWriteError.*a regular file.*must be a disk or partition/));
  assert.equal(await readFile(file, 'utf8'), 'old');
  const missing = join(dir, 'sdz');
  await assert.rejects(openImageSink(missing, 'device'), has(/SinkWriteError.*ENOENT/));
  await assert.rejects(stat(missing), { code: 'ENOENT' });
});

test('partition image: a partition that is not a block device after partitioning fails the deploy, naming it', async () => {
  const disk = join(dir, 'disk');
  await writeFile(disk, Buffer.alloc(1 << 20));
  const info = image({ image_type: 'partition', root_mb: 4, swap_mb: 2 });
  // The kernel did not pick up the table: no partition nodes at all.
  const calls: string[][] = [];
  await assert.rejects(
    writePartitionImage(info, disk, 'bios', null, context(calls)),
    has(
      /DeploymentError.*Root device '.*disk2' not found \(absent, not a block device\): the kernel did not pick up the new partition table/,
    ),
  );
  assert.ok(calls.some((a) => a[0] === 'parted'));
  assert.ok(!calls.some((a) => a[0] === 'mkswap'));
  // A stale regular file where the root partition should be is not taken for it, and not written.
  await writeFile(`${disk}2`, '');
  await assert.rejects(writePartitionImage(info, disk, 'bios', null, context([])), has(/Root device '.*disk2' not found \(a regular file/));
  assert.equal((await stat(`${disk}2`)).size, 0);
  // With preserve_ephemeral (no new table) they are checked too.
  await assert.rejects(
    writePartitionImage({ ...info, preserve_ephemeral: true }, disk, 'bios', null, context([])),
    has(/Root device .*partition table \(kept for preserve_ephemeral\) does not have it/),
  );
});

test('whole-disk image: an install device that is missing or a regular file is an error, and nothing is run on it', async () => {
  const file = join(dir, 'disk-file');
  await writeFile(file, 'old');
  for (const [target, what] of [
    [file, 'a regular file'],
    [join(dir, 'missing'), 'absent'],
  ] as const) {
    for (const info of [image(), image({ disk_format: 'qcow2' })]) {
      const calls: string[][] = [];
      await assert.rejects(
        writeWholeDiskImage(info, target, context(calls)),
        has(new RegExp(`ImageWriteError.*${target} is ${what}, not a block device`)),
      );
      assert.deepEqual(calls, []);
    }
  }
  assert.equal(await readFile(file, 'utf8'), 'old');
  await assert.rejects(stat(join(dir, 'missing')), { code: 'ENOENT' });
});
