import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../../errors.js';
import { discoverElements, readElementList, resolveElements } from './resolve.js';
import { tempDir, writeTree } from './test-trees.js';

const names = (r: ReturnType<typeof resolveElements>) => r.elements.map((e) => e.name);

function userError(fn: () => unknown, message: RegExp, hint?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UserError, String(e));
    assert.equal(e.exitCode, 2);
    assert.match(e.message, message);
    if (hint) assert.match(e.hint ?? '', hint);
    return true;
  });
}

test('deps expand breadth-first; provided names drop out; operating-system is provided', (t) => {
  const root = writeTree(tempDir(t), {
    'site/my-site/element-deps': 'install-static\n\n   package-installs  \nmy-os\n',
    'site/install-static/element-deps': 'package-installs\n',
    'site/package-installs/element-deps': 'dib-init-system\n',
    'site/dib-init-system/': '',
    'site/my-os/element-provides': 'operating-system\n',
    'site/my-os/element-deps': 'dpkg\n',
    'site/dpkg/': '',
    'site/unused/': '',
  });
  const r = resolveElements(['my-site'], [join(root, 'site')]);
  assert.deepEqual(names(r), ['my-site', 'install-static', 'package-installs', 'my-os', 'dib-init-system', 'dpkg']);
  assert.equal(r.providedBy.get('operating-system'), 'my-os');
  assert.equal(r.elements[0]!.path, join(root, 'site/my-site'));
  assert.deepEqual(r.elements[0]!.deps, ['install-static', 'package-installs', 'my-os'], 'stripped, blank lines dropped');
  assert.deepEqual(r.warnings, []);
});

test('a provider stands in for the name it provides: deps on that name resolve to it', (t) => {
  const root = writeTree(tempDir(t), {
    'p/agent/element-provides': 'ironic-python-agent\nironic-python-agent-ramdisk\n',
    'p/agent/element-deps': 'os\n',
    'p/os/element-provides': 'operating-system\n',
    'p/tls/element-deps': 'ironic-python-agent-ramdisk\n',
  });
  // tls is processed after agent: its dep is already provided, so it is not looked up.
  assert.deepEqual(names(resolveElements(['agent', 'tls'], [join(root, 'p')])), ['agent', 'tls', 'os']);
  // tls first: the dep is queued before agent provides it, then skipped when its turn comes.
  assert.deepEqual(names(resolveElements(['tls', 'agent'], [join(root, 'p')])), ['tls', 'agent', 'os']);
  // No one provides it: not found, naming who needed it.
  userError(
    () => resolveElements(['tls', 'os'], [join(root, 'p')]),
    /'ironic-python-agent-ramdisk' \(in the element-deps of tls\) not found/,
  );
});

test('a cycle in element-deps is fine, as in DIB (each element is queued once)', (t) => {
  const root = writeTree(tempDir(t), {
    'p/a/element-deps': 'b\n',
    'p/b/element-deps': 'c\n',
    'p/c/element-deps': 'a\nos\n',
    'p/os/element-provides': 'operating-system\n',
    'p/os/element-deps': 'os\n',
  });
  assert.deepEqual(names(resolveElements(['a'], [join(root, 'p')])), ['a', 'b', 'c', 'os']);
});

test('earlier path entries override later ones, with a warning naming both paths', (t) => {
  const root = writeTree(tempDir(t), {
    'site/base/element-deps': 'os\n',
    'site/base/install.d/10-site +x': '#!/bin/sh\n',
    'builtin/base/element-deps': 'os\nextra\n',
    'builtin/os/element-provides': 'operating-system\n',
    'builtin/extra/': '',
    'builtin/not-an-element': 'a file, not a directory\n',
  });
  mkdirSync(join(root, 'real-linked'));
  writeFileSync(join(root, 'real-linked', 'element-deps'), 'base\n');
  symlinkSync(join(root, 'real-linked'), join(root, 'site', 'linked'));
  const paths = [join(root, 'site'), join(root, 'builtin')];
  const index = discoverElements(paths);
  assert.deepEqual([...index.elements.keys()].sort(), ['base', 'extra', 'linked', 'os']);
  assert.deepEqual(index.warnings, [`element base: ${join(root, 'site/base')} overrides ${join(root, 'builtin/base')}`]);
  assert.equal(index.elements.get('linked')!.path, join(root, 'real-linked'), 'a link to a directory is an element, its real path kept');
  const r = resolveElements(['linked'], paths);
  assert.deepEqual(names(r), ['linked', 'base', 'os'], "the site's base wins: no 'extra'");
  // Reversed path: the builtin one wins.
  assert.deepEqual(names(resolveElements(['base'], [...paths].reverse())), ['base', 'os', 'extra']);
});

test('an unknown element names itself and every path searched', (t) => {
  const root = writeTree(tempDir(t), { 'a/os/element-provides': 'operating-system\n', 'b/x/': '' });
  const paths = [join(root, 'a'), join(root, 'b')];
  userError(
    () => resolveElements(['os', 'nope'], paths),
    new RegExp(`^element 'nope' not found in ${join(root, 'a')}, ${join(root, 'b')}$`),
    /fix the name or add the directory that holds it to dib.elementsPath/,
  );
});

test("'#' lines are element names in DIB (no comments): the error says so", (t) => {
  const root = writeTree(tempDir(t), { 'p/os/element-provides': 'operating-system\n', 'p/a/element-deps': '# needs the OS\nos\n' });
  assert.deepEqual(readElementList(join(root, 'p/a/element-deps')), ['# needs the OS', 'os']);
  userError(
    () => resolveElements(['a'], [join(root, 'p')]),
    /'# needs the OS' \(in the element-deps of a\) not found/,
    /no comments in DIB/,
  );
});

test('two providers of one name, a user element that another provides, no operating-system: clear errors', (t) => {
  const root = writeTree(tempDir(t), {
    'p/debian-a/element-provides': 'operating-system\n',
    'p/debian-b/element-provides': 'operating-system\n',
    'p/agent/element-provides': 'ironic-python-agent\n',
    'p/ironic-python-agent/': '',
    'p/plain/': '',
  });
  const p = [join(root, 'p')];
  userError(() => resolveElements(['debian-a', 'debian-b'], p), /^elements debian-a and debian-b both provide 'operating-system'$/);
  userError(
    () => resolveElements(['ironic-python-agent', 'agent', 'debian-a'], p),
    /element 'ironic-python-agent' is already provided by agent/,
    /remove 'ironic-python-agent' from the element list/,
  );
  userError(() => resolveElements(['plain'], p), /no element provides operating-system/, /operating system element/);
  // The same element listed twice is one element.
  assert.deepEqual(names(resolveElements(['plain', 'debian-a', 'plain'], p)), ['plain', 'debian-a']);
});

test('a path entry that is not a directory, or no path at all: clear errors', (t) => {
  const root = writeTree(tempDir(t), { file: 'x\n' });
  userError(() => discoverElements([join(root, 'missing')]), /elements path entry .*missing is not a directory/);
  userError(() => discoverElements([join(root, 'file')]), /is not a directory/);
  userError(() => discoverElements([]), /no elements path/, /--elements-path/);
});
