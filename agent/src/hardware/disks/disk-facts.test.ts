import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listPartitions } from './disk-facts.js';
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
