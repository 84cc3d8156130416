import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweepStaleWorkspaces, type WorkspaceOwner } from './workspace.js';

test("a later build removes the workspaces of this machine's builds that are gone, and nothing else", async () => {
  const root = await mkdtemp(join(tmpdir(), 'ramforge-sweep-'));
  const bootedAt = 1_000_000;
  const me: WorkspaceOwner = { host: 'b1', machine: 'm1', boot: 'boot-b', pidns: 'pid:[4026531836]', pid: 100, created: 2_000_000 };
  const same = { host: 'b1', machine: 'm1', boot: 'boot-b', pidns: 'pid:[4026531836]', created: 1_500_000 };
  const make = async (name: string, owner?: object | string) => {
    await mkdir(join(root, name, 'staging'), { recursive: true });
    if (owner !== undefined) await writeFile(join(root, name, '.owner.json'), typeof owner === 'string' ? owner : JSON.stringify(owner));
  };
  await make('dead-pid', { ...same, pid: 200 });
  await make('before-reboot', { ...same, boot: 'boot-a', pid: 300, created: 500_000 });
  await make('running', { ...same, pid: 300 });
  await make('mine', { ...same, pid: 100 });
  await make('kept', { ...same, pid: 200, keep: true });
  await make('other-host', { ...same, host: 'b2', pid: 200 });
  // Same host name, same machine id (a cloned VM), another boot, made after this boot: another machine's live build.
  await make('clone-running', { ...same, boot: 'boot-x', pid: 200, created: 1_200_000 });
  // Another container on this host (its own PID namespace): its pid says nothing here.
  await make('other-pidns', { ...same, pidns: 'pid:[4026532999]', pid: 200 });
  await make('old-format', { host: 'b1', boot: 'boot-b', pid: 200 });
  await make('no-owner');
  await make('garbled', '{');
  await make('killed-publishing', { ...same, pid: 200, output: '/srv/out/tinyipa' });
  await mkdir(join(root, 'killed-publishing', 'previous'));
  await make('mounted', { ...same, pid: 200 });
  try {
    const { removed, held } = await sweepStaleWorkspaces(root, me, {
      isAlive: (pid) => pid === 300,
      bootedAt,
      mountsUnder: async (dir) => (dir.endsWith('/mounted') ? [`${dir}/proc`] : []),
    });
    assert.deepEqual(removed.map((p) => p.slice(root.length + 1)).sort(), ['before-reboot', 'dead-pid']);
    assert.deepEqual(
      held,
      [{ dir: join(root, 'killed-publishing'), output: '/srv/out/tinyipa' }],
      'the last output tree, moved aside, is kept',
    );
    assert.deepEqual((await readdir(root)).sort(), [
      'clone-running',
      'garbled',
      'kept',
      'killed-publishing',
      'mine',
      'mounted',
      'no-owner',
      'old-format',
      'other-host',
      'other-pidns',
      'running',
    ]);
    // Without a machine id (or any other part of the identity) nothing is judged.
    assert.deepEqual((await sweepStaleWorkspaces(root, { ...me, machine: '' }, { isAlive: () => false, bootedAt })).removed, []);
    assert.deepEqual(await sweepStaleWorkspaces(join(root, 'absent'), me), { removed: [], held: [] });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
