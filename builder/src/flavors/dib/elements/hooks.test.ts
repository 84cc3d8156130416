import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../../errors.js';
import { applyHookPlan, planHookTree } from './hooks.js';
import { listPhaseScripts } from './run-parts.js';
import { tempDir, writeTree } from './test-trees.js';

function el(root: string, name: string) {
  return { name, path: join(root, name) };
}

test('every subdirectory merges into one tree; top-level files: the last element wins; applied on disk', (t) => {
  const root = writeTree(tempDir(t), {
    'a/install.d/10-a +x': '#!/bin/sh\necho a\n',
    'a/install.d/.hidden': 'left out (DIB lists with ls)\n',
    'a/environment.d/10-a.bash': 'export A=1\n',
    'a/static/etc/motd': 'from a\n',
    'a/static/etc/a-only': 'a\n',
    'a/static/etc/.dotfile': 'kept below the first level (cp -a)\n',
    'a/element-deps': 'b\n',
    'a/pkg-map': '{"default": {"x": "a"}}\n',
    'a/tests/test_a.py': 'not copied\n',
    'a/__pycache__/x.pyc': 'not copied\n',
    'a/compiled.pyc': 'not copied\n',
    'b/install.d/20-b +x': '#!/bin/sh\necho b\n',
    'b/install.d/package-installs-b': 'vim\n',
    'b/post-install.d/10-b +x': '#!/bin/sh\n',
    'b/static/etc/motd': 'from b\n',
    'b/pkg-map': '{"default": {"x": "b"}}\n',
    'b/README.rst': 'b\n',
  });
  symlinkSync('10-a', join(root, 'a/install.d/11-a-link'));
  const plan = planHookTree([el(root, 'a'), el(root, 'b')]);
  assert.deepEqual(
    plan.filter((o) => o.op !== 'mkdir').map((o) => `${o.element}:${o.dest}`),
    [
      'a:environment.d/10-a.bash',
      'a:install.d/10-a',
      'a:install.d/11-a-link',
      'a:static/etc/.dotfile',
      'a:static/etc/a-only',
      'a:static/etc/motd',
      'a:element-deps',
      'a:pkg-map',
      'b:install.d/20-b',
      'b:install.d/package-installs-b',
      'b:post-install.d/10-b',
      'b:static/etc/motd',
      'b:README.rst',
      'b:pkg-map',
    ],
  );

  const out = join(root, 'hooks');
  applyHookPlan(plan, out);
  assert.equal(readFileSync(join(out, 'static/etc/motd'), 'utf8'), 'from b\n', 'files below a merged directory: the later wins');
  assert.equal(readFileSync(join(out, 'static/etc/a-only'), 'utf8'), 'a\n');
  assert.equal(readFileSync(join(out, 'pkg-map'), 'utf8'), '{"default": {"x": "b"}}\n', 'top-level file: the last element wins');
  assert.equal(readFileSync(join(out, 'element-deps'), 'utf8'), 'b\n');
  assert.equal(statSync(join(out, 'install.d/10-a')).mode & 0o777, 0o755, 'modes kept');
  assert.equal(statSync(join(out, 'install.d/package-installs-b')).mode & 0o777, 0o644);
  assert.ok(lstatSync(join(out, 'install.d/11-a-link')).isSymbolicLink(), 'links copied as links (cp -a)');
  assert.equal(readlinkSync(join(out, 'install.d/11-a-link')), '10-a');
  for (const gone of ['tests', '__pycache__', 'compiled.pyc', 'install.d/.hidden'])
    assert.throws(() => lstatSync(join(out, gone)), /ENOENT/, `${gone} is not copied`);
  // The merged tree is what dib-run-parts reads.
  assert.deepEqual(listPhaseScripts(join(out, 'install.d')).scripts, ['10-a', '11-a-link', '20-b']);
  // Applying again over the same tree gives the same tree (files replaced, no error).
  applyHookPlan(plan, out);
  assert.equal(readFileSync(join(out, 'static/etc/motd'), 'utf8'), 'from b\n');
});

test('the same hook name in two elements is an error naming both elements', (t) => {
  const root = writeTree(tempDir(t), {
    'first/install.d/50-setup +x': '#!/bin/sh\n',
    'second/install.d/50-setup +x': '#!/bin/sh\n',
  });
  assert.throws(
    () => planHookTree([el(root, 'first'), el(root, 'second')]),
    (e: unknown) =>
      e instanceof UserError &&
      e.message === 'duplicated hook install.d/50-setup: in element first and in element second' &&
      /rename one of them/.test(e.hint ?? ''),
  );
  // A non-executable file counts too (DIB tests -f), and so does a file against a directory of the same name.
  const root2 = writeTree(tempDir(t), { 'x/bin/tool': 'a\n', 'y/bin/tool/': '' });
  assert.throws(() => planHookTree([el(root2, 'x'), el(root2, 'y')]), /duplicated hook bin\/tool: in element x and in element y/);
});

test('a directory linked into an element is merged; a read-only directory does not stop the copy', (t) => {
  const root = writeTree(tempDir(t), { 'shared/10-shared +x': '#!/bin/sh\n', 'e/static/ro/file': 'x\n' });
  mkdirSync(join(root, 'e'), { recursive: true });
  symlinkSync(join(root, 'shared'), join(root, 'e', 'finalise.d'));
  const out = join(root, 'hooks');
  chmodSync(join(root, 'e/static/ro'), 0o555);
  try {
    applyHookPlan(planHookTree([el(root, 'e')]), out);
    assert.deepEqual(listPhaseScripts(join(out, 'finalise.d')).scripts, ['10-shared']);
    assert.equal(readFileSync(join(out, 'static/ro/file'), 'utf8'), 'x\n');
    assert.equal(statSync(join(out, 'static/ro')).mode & 0o777, 0o555);
  } finally {
    // So that the temp dir can be removed without root.
    chmodSync(join(root, 'e/static/ro'), 0o755);
    if (lstatSync(join(out, 'static/ro'), { throwIfNoEntry: false })) chmodSync(join(out, 'static/ro'), 0o755);
  }
});
