import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TreeEntry } from '../../tree/types.js';
import type { Member } from '../../flavors/contract.js';
import { tinyipaMembers } from '../../flavors/tinyipa/members.js';
import { memberMethod, SITE_MEMBER, splitTree } from './pack-initramfs.js';

const dir = (path: string, layer: string): TreeEntry => ({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, layer });
const file = (path: string, layer: string): TreeEntry => ({
  path,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: 0,
  data: Buffer.alloc(0),
  layer,
});
const paths = (m: Map<string, TreeEntry[]>) => Object.fromEntries([...m].map(([k, v]) => [k, v.map((e) => e.path)]));

test('tinyipa members: by layer, base takes the rest, each member gets the directories above its files', () => {
  const entries = [
    dir('etc', 'tinyipa'),
    file('etc/passwd', 'tinyipa'),
    dir('etc/ironic-python-agent', 'site:agent-config'),
    file('etc/ironic-python-agent/ramforge.json', 'site:agent-config'),
    dir('usr', 'usr-merge'),
    dir('usr/bin', 'usr-merge'),
    file('usr/bin/node', 'node-runtime'),
    dir('usr/lib', 'x'),
    dir('usr/lib/ramforge-agent', 'agent'),
    file('usr/lib/ramforge-agent/agent.mjs', 'agent'),
  ];
  assert.deepEqual(paths(splitTree(entries, [...tinyipaMembers(), SITE_MEMBER])), {
    base: ['etc', 'etc/passwd', 'usr', 'usr/bin', 'usr/lib'],
    runtime: ['usr', 'usr/bin', 'usr/bin/node'],
    agent: ['usr', 'usr/lib', 'usr/lib/ramforge-agent', 'usr/lib/ramforge-agent/agent.mjs'],
    site: ['etc', 'etc/ironic-python-agent', 'etc/ironic-python-agent/ramforge.json'],
  });
});

test('without a catch-all of the flavor (a verbatim base), site takes what nothing claims', () => {
  const members: Member[] = [{ kind: 'verbatim', name: 'base', file: '/x' }, SITE_MEMBER];
  assert.deepEqual(paths(splitTree([dir('usr', 'usr-merge'), file('etc/x', 'site:files[0]')], members)), { site: ['usr', 'etc/x'] });
});

test('two catch-alls or two members of one name are a bug of the flavor', () => {
  assert.throws(() => splitTree([], [{ kind: 'tree', name: 'a' }, { kind: 'tree', name: 'b' }, SITE_MEMBER]), /all take every entry/);
  assert.throws(() => splitTree([], [{ kind: 'tree', name: 'site' }, SITE_MEMBER]), /two initramfs members are named 'site'/);
});

test("a member's compression: its level or lz4 for the spec's method, 'none' wins either way", () => {
  assert.deepEqual(memberMethod(undefined, 'zstd'), { compression: 'zstd' });
  assert.deepEqual(memberMethod({ zstd: 9, xz: 6 }, 'xz'), { compression: 'xz', level: 6 });
  assert.deepEqual(memberMethod({ zstd: 'lz4', xz: 6 }, 'zstd'), { compression: 'lz4', level: 9 });
  assert.deepEqual(memberMethod({ zstd: 'lz4', xz: 6 }, 'xz'), { compression: 'xz', level: 6 });
  assert.deepEqual(memberMethod({ zstd: 'lz4' }, 'gzip'), { compression: 'gzip' });
  assert.deepEqual(memberMethod({ zstd: 'lz4' }, 'none'), { compression: 'none' });
  assert.deepEqual(memberMethod('none', 'zstd'), { compression: 'none' });
});
