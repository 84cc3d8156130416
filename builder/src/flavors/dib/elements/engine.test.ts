/**
 * The pure modules together, on a site tree written the way DIB's upstream
 * elements are: resolution with an override, the merged hook tree on disk,
 * the scripts each phase would run, and the packages each phase installs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyHookPlan, planHookTree } from './hooks.js';
import { phasePackages, squashPackageInstalls } from './package-installs.js';
import { readPkgMap } from './pkg-map.js';
import { resolveElements } from './resolve.js';
import { listEnvironmentFiles, listPhaseScripts } from './run-parts.js';
import { tempDir, writeTree } from './test-trees.js';

test('a site element over built-in helpers: elements, hook tree, phase scripts and packages', (t) => {
  const root = writeTree(tempDir(t), {
    // Site elements (first in the path).
    'site/my-users/element-deps': 'install-static\npackage-installs\n',
    'site/my-users/install.d/50-my-users +x': '#!/bin/bash\nuseradd -m ops\n',
    'site/my-users/post-install.d/60-my-users-sudo +x': '#!/bin/bash\n',
    'site/my-users/static/etc/sudoers.d/ops': 'ops ALL=(ALL) NOPASSWD: ALL\n',
    'site/my-users/package-installs.yaml': 'sudo:\nssh_server:\n  phase: post-install.d\ncompilers:\n  build-only:\n',
    'site/my-users/pkg-map': JSON.stringify({ default: { ssh_server: 'openssh-server', compilers: 'gcc make' } }),
    'site/my-users/README.rst': 'my-users\n',
    // An override of a built-in: the site's install-static.
    'site/install-static/install.d/10-install-static +x': '#!/bin/bash\n# site version\n',
    // Built-in helpers (last in the path).
    'builtin/install-static/install.d/10-install-static +x': '#!/bin/bash\n# builtin version\n',
    'builtin/install-static/package-installs.yaml': 'rsync:\n',
    'builtin/package-installs/element-deps': 'debian\n',
    'builtin/package-installs/install.d/01-package-installs +x': '#!/bin/bash\n',
    'builtin/debian/element-provides': 'operating-system\n',
    'builtin/debian/environment.d/10-debian.bash': 'export DISTRO_NAME=debian\n',
    'builtin/debian/environment.d/05-release.bash': 'export DIB_RELEASE=${DIB_RELEASE:-bookworm}\n',
    'builtin/debian/root.d/08-base +x': '#!/bin/bash\n',
    'builtin/debian/package-installs.yaml': 'linux-image-amd64:\n  arch: amd64\nlinux-image-arm64:\n  arch: arm64\n',
  });
  const path = [join(root, 'site'), join(root, 'builtin')];
  const r = resolveElements(['my-users'], path);
  assert.deepEqual(
    r.elements.map((e) => e.name),
    ['my-users', 'install-static', 'package-installs', 'debian'],
  );
  assert.deepEqual(r.warnings, [
    `element install-static: ${join(root, 'site/install-static')} overrides ${join(root, 'builtin/install-static')}`,
  ]);

  const hooks = join(root, 'hooks');
  applyHookPlan(planHookTree(r.elements), hooks);
  assert.deepEqual(listPhaseScripts(join(hooks, 'install.d')).scripts, ['01-package-installs', '10-install-static', '50-my-users']);
  assert.match(readFileSync(join(hooks, 'install.d/10-install-static'), 'utf8'), /site version/);
  assert.deepEqual(listPhaseScripts(join(hooks, 'root.d')).scripts, ['08-base']);
  assert.deepEqual(listPhaseScripts(join(hooks, 'post-install.d')).scripts, ['60-my-users-sudo']);
  assert.deepEqual(listEnvironmentFiles(join(hooks, 'environment.d')), ['05-release.bash', '10-debian.bash']);
  assert.equal(readFileSync(join(hooks, 'static/etc/sudoers.d/ops'), 'utf8'), 'ops ALL=(ALL) NOPASSWD: ALL\n');

  const env = { ARCH: 'amd64', DISTRO_NAME: 'debian', DIB_RELEASE: 'bookworm', DIB_PYTHON_VERSION: '3' };
  const squashed = squashPackageInstalls(
    r.elements.map((e) => e.name),
    path,
    env,
  );
  const maps = new Map(r.elements.map((e) => [e.name, readPkgMap(e.path)]));
  const target = { distro: 'debian', release: 'bookworm' };
  // install-static's package list lives only in the built-in copy: DIB reads it from every path entry.
  assert.deepEqual(phasePackages(squashed, 'install.d', 'install', maps, target), ['sudo', 'gcc', 'make', 'rsync', 'linux-image-amd64']);
  assert.deepEqual(phasePackages(squashed, 'install.d', 'uninstall', maps, target), ['gcc', 'make']);
  assert.deepEqual(phasePackages(squashed, 'post-install.d', 'install', maps, target), ['openssh-server']);
});
