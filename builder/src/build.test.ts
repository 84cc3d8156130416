import { test } from 'node:test';
import assert from 'node:assert/strict';
import { workspaceRoot } from './workspace.js';
import { BuildError, explainFsError } from './errors.js';

const devs =
  (map: Record<string, number>) =>
  async (p: string): Promise<number | undefined> =>
    map[p];

test('the workspace goes beside output/, on its filesystem; inside it when output/ is a mount point of its own', async () => {
  // output/ not made yet, or on its parent's filesystem: beside it, as always.
  assert.deepEqual(await workspaceRoot('/srv/b/output', devs({ '/srv/b': 1 })), { root: '/srv/b/.workspace', insideOutput: false });
  assert.deepEqual(await workspaceRoot('/srv/b/output', devs({ '/srv/b': 1, '/srv/b/output': 1 })), {
    root: '/srv/b/.workspace',
    insideOutput: false,
  });
  // A mount point (another disk, NFS, a bind mount): rename() from its parent would fail with EXDEV.
  assert.deepEqual(await workspaceRoot('/srv/b/output', devs({ '/srv/b': 1, '/srv/b/output': 7 })), {
    root: '/srv/b/output/.workspace',
    insideOutput: true,
  });
});

test('filesystem errors name the path and a fix: ENOSPC, EACCES on an input, EXDEV', () => {
  const errno = (code: string, path?: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code, ...(path ? { path } : {}) });
  const full = explainFsError(errno('ENOSPC', '/srv/.workspace/x/staging/a.initramfs.partial'), 'building');
  assert.ok(full instanceof BuildError);
  assert.equal(full.message, 'building: no space left on device (/srv/.workspace/x/staging/a.initramfs.partial)');
  assert.doesNotMatch(full.hint ?? '', /--workspace/, 'no such flag');
  assert.match(full.hint ?? '', /--output/);
  const denied = explainFsError(errno('EACCES', '/home/op/keys/site.crt'), 'building') as BuildError;
  assert.equal(denied.message, 'building: permission denied (/home/op/keys/site.crt)');
  assert.match(denied.hint ?? '', /read \/home\/op\/keys\/site\.crt/);
  const cross = explainFsError(errno('EXDEV'), 'publishing to /mnt/out/tinyipa') as BuildError;
  assert.match(cross.message, /different filesystems/);
  assert.match(cross.hint ?? '', /--output/);
  const other = new Error('x');
  assert.equal(explainFsError(other, 'building'), other);
});
