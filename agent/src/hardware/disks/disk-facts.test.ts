import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listPartitions, listPartitionsWithType } from './disk-facts.js';
import type { ProgramRunner } from '../../util/exec.js';

test('listPartitions: by partition number, whatever order lsblk (sysfs) lists them in', async () => {
  const seen: string[][] = [];
  const run: ProgramRunner = async (argv) => {
    seen.push([...argv]);
    // A disk whose first partition was created last, and a tenth: lsblk follows sysfs, not the numbers.
    const out = ['/dev/sda disk', '/dev/sda2 part', '/dev/sda10 part', '/dev/sda3 part', '/dev/sda1 part', ''].join('\n');
    return { stdout: out, stderr: '', code: 0 };
  };
  assert.deepEqual(await listPartitions('/dev/sda', run), ['/dev/sda1', '/dev/sda2', '/dev/sda3', '/dev/sda10']);
  assert.deepEqual(seen, [['lsblk', '-lnpo', 'NAME,TYPE', '/dev/sda']]);
  const nvme: ProgramRunner = async () => ({
    stdout: '/dev/nvme0n1 disk\n/dev/nvme0n1p3 part\n/dev/nvme0n1p1 part\n',
    stderr: '',
    code: 0,
  });
  assert.deepEqual(await listPartitions('/dev/nvme0n1', nvme), ['/dev/nvme0n1p1', '/dev/nvme0n1p3']);
});

test('listPartitionsWithType: each partition with its PARTTYPE (as lsblk shows it, "" where none), by partition number', async () => {
  const seen: string[][] = [];
  const run: ProgramRunner = async (argv) => {
    seen.push([...argv]);
    const out = ['/dev/sda disk ', '/dev/sda2 part 0x8E', '/dev/sda3 part ', '/dev/sda1 part c12a7328-f81f-11d2-ba4b-00a0c93ec93b', ''];
    return { stdout: out.join('\n'), stderr: '', code: 0 };
  };
  assert.deepEqual(await listPartitionsWithType('/dev/sda', run), [
    { path: '/dev/sda1', partType: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b' },
    { path: '/dev/sda2', partType: '0x8E' },
    { path: '/dev/sda3', partType: '' },
  ]);
  assert.deepEqual(seen, [['lsblk', '-lnpo', 'NAME,TYPE,PARTTYPE', '/dev/sda']]);
});
