import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asTreeRoot, chooseAccess } from './userns.js';

const SUBUID = 'alice:100000:65536\n';

test('root is root; an ordinary user with newuidmap and a range gets a user namespace', () => {
  assert.deepEqual(chooseAccess(0, 'root', undefined, false, undefined), { mode: 'root' });
  assert.deepEqual(chooseAccess(1000, 'alice', '/usr/bin/unshare', true, SUBUID), { mode: 'userns', unshare: '/usr/bin/unshare' });
  assert.deepEqual(chooseAccess(1000, 'alice', '/usr/bin/unshare', true, '1000:100000:65536\n'), {
    mode: 'userns',
    unshare: '/usr/bin/unshare',
  });
});

test('neither: the reason names what is missing', () => {
  const none = (a: ReturnType<typeof chooseAccess>) => (a.mode === 'none' ? a.reason : `mode ${a.mode}`);
  assert.match(
    none(chooseAccess(1000, 'bob', '/usr/bin/unshare', true, SUBUID)),
    /uid 1000 needs a user namespace: missing a range for bob in \/etc\/subuid/,
  );
  assert.match(none(chooseAccess(1000, 'alice', '/usr/bin/unshare', false, SUBUID)), /missing newuidmap \(package uidmap\)/);
  assert.match(none(chooseAccess(1000, 'alice', undefined, true, SUBUID)), /needs unshare \(util-linux\)/);
});

test('commands on the tree: as is for root, under unshare with the mapping otherwise', () => {
  assert.deepEqual(asTreeRoot({ mode: 'root' }, ['tar', '-x']), ['tar', '-x']);
  assert.deepEqual(asTreeRoot({ mode: 'userns', unshare: '/u' }, ['tar', '-x']), [
    '/u',
    '--map-root-user',
    '--map-auto',
    '--',
    'tar',
    '-x',
  ]);
});
