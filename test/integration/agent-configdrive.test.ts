import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeConfigDrive } from '../../agent/src/image/configdrive.js';
import { attachLoop, canUseLoop } from '../../agent/test/support/loop-device.js';

const skip = !canUseLoop() && 'needs root for losetup';

test('config drive: written whole, and refused when the partition is smaller than it', { skip }, async () => {
  // A partition smaller than the write takes what fits and write(2) reports that short count without an
  // error: a config drive cut short was reported as written (an image's own config-2 partition can be small).
  const loop = attachLoop(1 << 20);
  try {
    const fits = Buffer.alloc(768 << 10, 0x5a);
    await writeConfigDrive(loop.dev, fits);
    assert.ok(readFileSync(loop.file).subarray(0, fits.length).equals(fits), 'the config drive is on the device');
    await assert.rejects(writeConfigDrive(loop.dev, Buffer.alloc(2 << 20, 0xa5)), (e: unknown) => {
      assert.equal((e as Error).name, 'DeploymentError');
      assert.match((e as { details: string }).details, /2097152 bytes.*1048576 bytes/);
      return true;
    });
  } finally {
    loop.detach();
  }
});
