import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sweepStaleWorkspaces, workspaceRoot } from './build.js';
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

test("a later build removes the workspaces of this host's builds that are gone, and no other", async () => {
  const { mkdtemp, mkdir, writeFile, readdir, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const root = await mkdtemp(join(tmpdir(), 'ramforge-sweep-'));
  const me = { host: 'builder-1', boot: 'boot-b', pid: 100 };
  const make = async (name: string, owner?: object) => {
    await mkdir(join(root, name, 'staging'), { recursive: true });
    if (owner) await writeFile(join(root, name, '.owner.json'), JSON.stringify(owner));
  };
  await make('dead-pid', { host: 'builder-1', boot: 'boot-b', pid: 200 });
  await make('before-reboot', { host: 'builder-1', boot: 'boot-a', pid: 300 });
  await make('running', { host: 'builder-1', boot: 'boot-b', pid: 300 });
  await make('mine', { host: 'builder-1', boot: 'boot-b', pid: 100 });
  await make('other-host', { host: 'builder-2', boot: 'boot-x', pid: 200 });
  await make('kept'); // --keep-workspace removes the owner file
  await make('killed-publishing', { host: 'builder-1', boot: 'boot-b', pid: 200 });
  await mkdir(join(root, 'killed-publishing', 'previous'));
  await make('garbled');
  await writeFile(join(root, 'garbled', '.owner.json'), '{');
  try {
    const { removed, held } = await sweepStaleWorkspaces(root, me, (pid) => pid === 300);
    assert.deepEqual(removed.map((p) => p.slice(root.length + 1)).sort(), ['before-reboot', 'dead-pid']);
    assert.deepEqual(held, [join(root, 'killed-publishing')], 'the last output tree, moved aside, is not deleted');
    assert.deepEqual((await readdir(root)).sort(), ['garbled', 'kept', 'killed-publishing', 'mine', 'other-host', 'running']);
    assert.deepEqual(await sweepStaleWorkspaces(join(root, 'absent'), me), { removed: [], held: [] });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
