import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GPT_SIZE_SECTORS, zeroGptAreas } from './destroy-metadata.js';
import type { ProgramRunner } from '../../util/exec.js';
import { fakeDisk, fakeDiskIo } from '../../../test/support/fake-disk-io.js';

const AREA = GPT_SIZE_SECTORS * 512;
const MiB = 1 << 20;
// zeroGptAreas takes the size from the io; no program is run.
const run: ProgramRunner = async (argv) => {
  throw new Error(`unexpected ${argv.join(' ')}`);
};
const zero = (b: Buffer) => b.every((x) => x === 0);
const untouched = (b: Buffer) => b.every((x) => x === 0xa5);
const details = (e: unknown): string => (e as { details?: string }).details ?? '';

test('zeroGptAreas: short writes are continued to the last byte of both GPT areas', async () => {
  const disk = { ...fakeDisk(MiB + 512, 0xa5), maxWrite: 1000 };
  await zeroGptAreas('/dev/sdx', run, fakeDiskIo({ '/dev/sdx': disk }));
  const lastStart = MiB + 512 - AREA;
  assert.ok(zero(disk.data.subarray(0, AREA)), 'the primary GPT area is not all zero');
  assert.ok(zero(disk.data.subarray(lastStart)), 'the backup GPT area is not all zero');
  assert.ok(untouched(disk.data.subarray(AREA, lastStart)), 'bytes between the areas were written');
  assert.equal(disk.writes, 2 * Math.ceil(AREA / 1000));
});

test('zeroGptAreas: a device that takes no more bytes fails naming the disk and the offset', async () => {
  // Reported as 1 MiB, but writes past 1 MiB - 8 KiB go nowhere: the backup area's write comes up short, then takes nothing.
  const disk = { ...fakeDisk(MiB, 0xa5), endsAt: MiB - 8192 };
  await assert.rejects(zeroGptAreas('/dev/sdx', run, fakeDiskIo({ '/dev/sdx': disk })), (e: unknown) => {
    assert.match(details(e), new RegExp(`^short write on /dev/sdx: the device took no bytes at byte ${MiB - 8192};`));
    return true;
  });
  assert.ok(zero(disk.data.subarray(0, AREA)));
});

test('zeroGptAreas: a failing write fails naming the disk and the offset', async () => {
  const disk = { ...fakeDisk(MiB, 0xa5), failWriteAt: 100 };
  await assert.rejects(zeroGptAreas('/dev/sdx', run, fakeDiskIo({ '/dev/sdx': disk })), (e: unknown) =>
    /^writing \/dev\/sdx at byte 0 failed: EIO/.test(details(e)),
  );
});

test('zeroGptAreas: a device smaller than one GPT area is zeroed whole, once', async () => {
  const disk = fakeDisk(8192, 0xa5);
  await zeroGptAreas('/dev/sdx', run, fakeDiskIo({ '/dev/sdx': disk }));
  assert.ok(zero(disk.data));
  assert.equal(disk.writes, 1);
});
