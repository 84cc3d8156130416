/**
 * A full disk while writing an initramfs: BuildError with the ENOSPC hint and
 * no .partial file left. Needs root (mounts a 64 KiB tmpfs); skipped otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { writeInitramfs } from '../../builder/src/archive/initramfs.js';
import { BuildError } from '../../builder/src/errors.js';

it('maps ENOSPC to BuildError and removes the partial file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rf-enospc-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    rmdirSync(dir);
    t.skip('cannot mount a tmpfs here (needs root)');
    return;
  }
  try {
    const big = Buffer.alloc(200_000, 1);
    await assert.rejects(
      writeInitramfs(join(dir, 'x.img'), [
        {
          name: 'm',
          compression: 'none',
          entries: [{ path: 'big', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, data: big, size: big.length }],
        },
      ]),
      (e: unknown) => e instanceof BuildError && /no space left/.test(e.message),
    );
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    execFileSync('umount', [dir]);
    rmdirSync(dir);
  }
});
