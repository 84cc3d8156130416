/** The config-drive partition of a whole-disk image: GPT detection (512-byte and 4Kn layouts) and MBR slot counting. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DeploymentError } from '../errors.js';
import type { ExecOptions, ProgramRunner } from '../util/exec.js';
import { createConfigDrivePartition } from './configdrive.js';
import { hasGpt } from './disk-ids.js';

const dir = mkdtempSync(join(tmpdir(), 'rf-configdrive-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function disk(name: string, headerAt?: number): string {
  const buf = Buffer.alloc(64 * 1024);
  if (headerAt !== undefined) buf.write('EFI PART', headerAt, 'latin1');
  const path = join(dir, name);
  writeFileSync(path, buf);
  return path;
}

test('hasGpt: the header at LBA 1 of a 512-byte or a 4Kn layout; none elsewhere', async () => {
  assert.equal(await hasGpt(disk('gpt512', 512)), true);
  assert.equal(await hasGpt(disk('gpt4k', 4096)), true);
  assert.equal(await hasGpt(disk('mbr')), false);
  assert.equal(await hasGpt(disk('elsewhere', 1024)), false);
  const tiny = join(dir, 'tiny');
  writeFileSync(tiny, Buffer.alloc(600));
  assert.equal(await hasGpt(tiny), false);
});

test('MBR: logical partitions do not take a primary slot (IPA counts partitions 1-4 only)', async () => {
  const dev = disk('mbr-disk');
  const calls: string[] = [];
  const runner = (listing: string): ProgramRunner =>
    (async (argv: string[], _o?: ExecOptions) => {
      calls.push(argv.join(' '));
      if (argv[0] === 'parted' && argv.includes('print')) return { stdout: listing, stderr: '', code: 0 };
      if (argv[0] === 'blockdev') return { stdout: String(64 << 30), stderr: '', code: 0 };
      return { stdout: '', stderr: '', code: 0 };
    }) as ProgramRunner;
  const head = 'BYT;\n/dev/sda:65536MiB:scsi:512:512:msdos:QEMU HARDDISK:;\n';
  // 1 primary, 2 extended holding 5 and 6: two slots left, so the partition is made (the file then has none to find).
  await assert.rejects(
    createConfigDrivePartition(
      dev,
      runner(
        `${head}1:1MiB:1000MiB:999MiB:ext4::boot;\n2:1000MiB:3000MiB:2000MiB:::;\n5:1001MiB:2000MiB:999MiB:ext4::;\n6:2001MiB:3000MiB:999MiB:ext4::;\n`,
      ),
    ),
    (e: unknown) => e instanceof DeploymentError && /Could not find the new config drive partition/.test(e.details),
  );
  assert.ok(
    calls.some((c) => c.includes('mkpart primary fat32')),
    calls.join('\n'),
  );
  calls.length = 0;
  await assert.rejects(
    createConfigDrivePartition(
      dev,
      runner(`${head}1:1MiB:2MiB:1MiB:::;\n2:2MiB:3MiB:1MiB:::;\n3:3MiB:4MiB:1MiB:::;\n4:4MiB:5MiB:1MiB:::;\n`),
    ),
    (e: unknown) => e instanceof DeploymentError && /already has 4 primary MBR partitions/.test(e.details),
  );
  assert.ok(!calls.some((c) => c.includes('mkpart')));
});

test('two config-2 partitions in the image are an error naming both (IPA), not the first taken', async () => {
  const run = (async (argv: string[], _o?: ExecOptions) => {
    if (argv[0] === 'lsblk') return { stdout: '/dev/null1 part\n/dev/null2 part\n/dev/null3 part\n', stderr: '', code: 0 };
    if (argv[0] === 'blkid') return { stdout: argv.at(-1) === '/dev/null2' ? 'data\n' : 'config-2\n', stderr: '', code: 0 };
    return { stdout: '', stderr: '', code: 0 };
  }) as ProgramRunner;
  // /dev/null is not a regular file, so its "partitions" come from the fake lsblk.
  await assert.rejects(
    createConfigDrivePartition('/dev/null', run),
    (e: unknown) => e instanceof DeploymentError && /\/dev\/null1 and \/dev\/null3/.test(e.details),
  );
});
