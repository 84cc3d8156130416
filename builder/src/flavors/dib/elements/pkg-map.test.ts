import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { UserError } from '../../../errors.js';
import { mapPackages, osFamily, parsePkgMap, readPkgMap } from './pkg-map.js';
import { tempDir, writeTree } from './test-trees.js';

const MAP = parsePkgMap(
  JSON.stringify({
    default: { python: 'python', tgt: 'tgt', dev_tools: 'build-essential', gone: 'gone-default' },
    family: { debian: { python: 'python3', gone: '' }, redhat: { python: 'python39' } },
    distro: { debian: { tgt: 'tgt-debian' }, ubuntu: { tgt: 'tgt-ubuntu' } },
    release: { debian: { bookworm: { tgt: 'tgt-bookworm', pair: 'a  b' } }, centos: { '8': { tgt: 'scsi-target-utils' } } },
  }),
  'el/pkg-map',
);

test('pkg-map: release > distro > family > default; empty drops the name; unmapped names pass through', () => {
  const names = ['python', 'tgt', 'dev_tools', 'gone', 'unmapped', 'pair'];
  assert.deepEqual(mapPackages(MAP, names, { distro: 'debian', release: 'bookworm' }), [
    'python3',
    'tgt-bookworm',
    'build-essential',
    'unmapped',
    'a',
    'b',
  ]);
  assert.deepEqual(mapPackages(MAP, names, { distro: 'debian', release: 'trixie' }), [
    'python3',
    'tgt-debian',
    'build-essential',
    'unmapped',
    'pair',
  ]);
  assert.deepEqual(mapPackages(MAP, names, { distro: 'ubuntu', release: 'noble' }), [
    'python3',
    'tgt-ubuntu',
    'build-essential',
    'unmapped',
    'pair',
  ]);
  assert.deepEqual(mapPackages(MAP, ['python', 'tgt'], { distro: 'centos', release: '8-stream' }), ['python39', 'scsi-target-utils']);
  assert.deepEqual(mapPackages(MAP, ['python', 'gone'], { distro: 'plan9', release: '4' }), ['python', 'gone-default'], 'no family');
  assert.deepEqual(mapPackages(undefined, ['x', 'y'], { distro: 'debian', release: 'bookworm' }), ['x', 'y'], 'no pkg-map file');
  assert.equal(osFamily('rocky'), 'redhat');
  assert.equal(osFamily('opensuse'), 'suse');
});

test('pkg-map: sections are looked up by their own keys only, as DIB looks up dict keys', () => {
  // A distro or release named like an Object property ("constructor", "name") finds no section: before the CLI and
  // the build shared mergeNameMap, the build's merge read release.constructor.name ("Object") as a section.
  assert.deepEqual(mapPackages(MAP, ['0', 'python', 'tgt'], { distro: 'constructor', release: 'name' }), ['0', 'python', 'tgt']);
  assert.deepEqual(mapPackages(MAP, ['0', 'tgt'], { distro: 'toString', release: 'length' }), ['0', 'tgt']);
  const own = parsePkgMap('{"distro": {"constructor": {"tgt": "tgt-c"}}, "release": {"constructor": {"name": {"0": "zero"}}}}', 'x');
  assert.deepEqual(mapPackages(own, ['0', 'tgt'], { distro: 'constructor', release: 'name' }), ['zero', 'tgt-c'], 'an own key is found');
});

test('pkg-map files: read from the element directory, JSON only, bad ones named with the fix', (t) => {
  const root = writeTree(tempDir(t), {
    'good/pkg-map': '{"default": {"a": "b"}}',
    'yaml/pkg-map': 'default:\n  a: b\n',
    'shape/pkg-map': '{"family": {"debian": ["a"]}}',
    'none/': '',
  });
  assert.deepEqual(readPkgMap(join(root, 'good')), { default: { a: 'b' } });
  assert.equal(readPkgMap(join(root, 'none')), undefined);
  assert.throws(
    () => readPkgMap(join(root, 'yaml')),
    (e: unknown) =>
      e instanceof UserError &&
      e.message.startsWith(`pkg-map ${join(root, 'yaml/pkg-map')}: not valid JSON`) &&
      /"default"/.test(e.hint ?? ''),
  );
  assert.throws(() => readPkgMap(join(root, 'shape')), /family.debian is not an object of name: name/);
});
