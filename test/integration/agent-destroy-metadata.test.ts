import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { eraseDevices, eraseDevicesExpress, eraseDevicesMetadata } from '../../agent/src/hardware/disks/index.js';
import { attachLoop, canUseLoop, sh } from '../../agent/test/support/loop-device.js';
import type { BlockDevice } from '../../agent/src/hardware/types.js';

const skip = !canUseLoop() && 'needs root for losetup';

test('metadata erase removes GPT, partitions and filesystem signatures', { skip }, async () => {
  const loop = attachLoop(256 << 20);
  try {
    execFileSync('sgdisk', ['-n', '1:0:+64M', '-n', '2:0:+64M', loop.dev]);
    execFileSync('partprobe', [loop.dev]);
    execFileSync('mkfs.ext4', ['-q', `${loop.dev}p1`]);
    execFileSync('mkswap', [`${loop.dev}p2`]);
    assert.match(sh('wipefs', ['-n', loop.dev]), /gpt/);
    assert.match(sh('blkid', [`${loop.dev}p1`]), /ext4/);
    const dev = { name: loop.dev } as BlockDevice;
    await eraseDevicesMetadata([dev], {});
    assert.equal(sh('wipefs', ['-n', loop.dev]).trim(), '');
    assert.equal(sh('blkid', ['-p', loop.dev]).trim(), '');
    // The partitions' filesystems were wiped too, not only hidden by the lost table.
    const raw = execFileSync('dd', [`if=${loop.file}`, 'bs=1M', 'skip=1', 'count=1', 'status=none']);
    assert.ok(!raw.subarray(0x438, 0x43a).equals(Buffer.from([0x53, 0xef])), 'ext4 magic is gone');
    const tail = execFileSync('dd', [`if=${loop.file}`, 'bs=512', `skip=${(256 << 20) / 512 - 33}`, 'status=none']);
    assert.ok(
      tail.every((b) => b === 0),
      'backup GPT zeroed',
    );
  } finally {
    loop.detach();
  }
});

test('read-only devices: the metadata and express steps skip them; erase_devices fails clearly, or skips when allowed', {
  skip,
}, async () => {
  const loop = attachLoop(16 << 20);
  try {
    execFileSync('blockdev', ['--setro', loop.dev]);
    const dev = { name: loop.dev } as BlockDevice;
    // IPA's _list_erasable_devices leaves read-only devices out of these two steps.
    assert.deepEqual(await eraseDevicesMetadata([dev], {}), { [loop.dev]: 'skipped (read-only)' });
    assert.deepEqual(await eraseDevicesExpress([dev], {}), { [loop.dev]: 'skipped (read-only)' });
    const eraseOne = async () => 'erased';
    await assert.rejects(eraseDevices([dev], {}, { eraseOne }), (e: unknown) =>
      /read-only; set driver_internal_info agent_erase_skip_read_only/.test((e as { details: string }).details),
    );
    assert.deepEqual(await eraseDevices([dev], { driver_internal_info: { agent_erase_skip_read_only: true } }, { eraseOne }), {
      [loop.dev]: 'skipped (read-only)',
    });
  } finally {
    execFileSync('blockdev', ['--setrw', loop.dev]);
    loop.detach();
  }
});
