import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeLegacyPackageInstalls } from './helper-data.js';
import { UserError } from '../../../errors.js';
import {
  collectPackageInstalls,
  emptySquashed,
  evaluateWhen,
  parsePackageInstalls,
  phasePackages,
  readLegacyLists,
  squashPackageInstalls,
  type Env,
  type Squashed,
} from './package-installs.js';
import { parsePkgMap, readPkgMap } from './pkg-map.js';
import { tempDir, writeTree } from './test-trees.js';

const ENV: Env = { ARCH: 'amd64', DIB_PYTHON_VERSION: '3', DIB_RELEASE: 'bookworm', DISTRO_NAME: 'debian' };

function collect(yaml: string, env: Env = ENV, element = 'el', into: Squashed = emptySquashed()): Squashed {
  return collectPackageInstalls(into, parsePackageInstalls(yaml, 'el/package-installs.yaml'), element, 'el/package-installs.yaml', env);
}
const pkgs = (s: Squashed, phase: keyof Squashed, kind: 'install' | 'uninstall') => s[phase][kind].map((r) => r.pkg);

test('package-installs: phase, uninstall, build-only (presence counts), lists of parameter sets', () => {
  const s = collect(`
plain:
empty-map: {}
pre:
  phase: pre-install.d
post:
  phase: post-install.d
remove-me:
  uninstall:
only-for-build:
  build-only: false
twice:
  - phase: pre-install.d
  - phase: post-install.d
    build-only: true
`);
  assert.deepEqual(pkgs(s, 'install.d', 'install'), ['plain', 'empty-map', 'only-for-build']);
  assert.deepEqual(pkgs(s, 'install.d', 'uninstall'), ['remove-me', 'only-for-build'], 'build-only: false still counts (key presence)');
  assert.deepEqual(pkgs(s, 'pre-install.d', 'install'), ['pre', 'twice']);
  assert.deepEqual(pkgs(s, 'post-install.d', 'install'), ['post', 'twice']);
  assert.deepEqual(pkgs(s, 'post-install.d', 'uninstall'), ['twice']);
  assert.deepEqual(s['install.d'].install[0], { pkg: 'plain', element: 'el' });
});

test('package-installs: install and uninstall of one package across elements, in DIB order', () => {
  // An install drops an earlier uninstall of the same package in that phase.
  let s = collect('curl: {uninstall: }', ENV, 'a');
  s = collect('curl:', ENV, 'b', s);
  assert.deepEqual(pkgs(s, 'install.d', 'uninstall'), []);
  assert.deepEqual(pkgs(s, 'install.d', 'install'), ['curl']);
  // An uninstall after someone installs it for good is dropped.
  s = collect('git:', ENV, 'a');
  s = collect('git: {uninstall: }', ENV, 'b', s);
  assert.deepEqual(pkgs(s, 'install.d', 'uninstall'), []);
  // build-only after an install: installed (twice requested), not uninstalled.
  s = collect('gcc:', ENV, 'a');
  s = collect('gcc: {build-only: }', ENV, 'b', s);
  assert.deepEqual(
    s['install.d'].install.map((r) => `${r.pkg}@${r.element}`),
    ['gcc@a', 'gcc@b'],
  );
  assert.deepEqual(pkgs(s, 'install.d', 'uninstall'), []);
  // An install filtered out by arch still clears the earlier uninstall (DIB does the bookkeeping first).
  s = collect('rsync: {uninstall: }', ENV, 'a');
  s = collect('rsync: {arch: ppc64el}', ENV, 'b', s);
  assert.deepEqual(pkgs(s, 'install.d', 'uninstall'), []);
  assert.deepEqual(pkgs(s, 'install.d', 'install'), []);
  // Phases are separate.
  s = collect('vim: {uninstall: }', ENV, 'a');
  s = collect('vim: {phase: post-install.d}', ENV, 'b', s);
  assert.deepEqual(pkgs(s, 'install.d', 'uninstall'), ['vim']);
});

test('package-installs: arch / not-arch, installtype, dib_python_version', () => {
  const s = collect(
    `
amd-only: {arch: "amd64,arm64"}
arm-only: {arch: arm64}
spaced: {arch: "arm64, amd64"}
not-arm: {not-arch: arm64}
not-amd: {not-arch: "i386,amd64"}
src: {installtype: source}
pkg: {installtype: package}
el-type: {installtype: package}
py3: {dib_python_version: 3}
py2: {dib_python_version: 2}
`,
    { ...ENV, DIB_INSTALLTYPE_my_el: 'package' },
    'my-el',
  );
  // "arm64, amd64" splits into "arm64" and " amd64": DIB does not trim, so amd64 does not match.
  assert.deepEqual(pkgs(s, 'install.d', 'install'), ['amd-only', 'not-arm', 'pkg', 'el-type', 'py3']);
  // Without the per-element variable: DIB_DEFAULT_INSTALLTYPE, then 'source'.
  assert.deepEqual(pkgs(collect('src: {installtype: source}\npkg: {installtype: package}'), 'install.d', 'install'), ['src']);
  assert.deepEqual(
    pkgs(
      collect('src: {installtype: source}\npkg: {installtype: package}', { ...ENV, DIB_DEFAULT_INSTALLTYPE: 'package' }),
      'install.d',
      'install',
    ),
    ['pkg'],
  );
  assert.throws(() => collect('x: {arch: amd64, not-arch: arm64}'), /package 'x': has both arch and not-arch/);
});

test('package-installs: when (=, !=, lists are AND); an unset variable names element, package and variable', () => {
  const env = { ...ENV, IPA_DISTRO_FAMILY: 'other', EMPTY: '' };
  const s = collect(
    `
eq: {when: DIB_RELEASE = bookworm}
eq-no-space: {when: DIB_RELEASE=bookworm}
ne: {when: "DIB_RELEASE != bullseye"}
ne-fails: {when: DIB_RELEASE != bookworm}
both: {when: [IPA_DISTRO_FAMILY = other, DIB_RELEASE != 7]}
one-fails: {when: [IPA_DISTRO_FAMILY = rh, DIB_RELEASE != 7]}
empty-value: {when: "EMPTY ="}
`,
    env,
  );
  assert.deepEqual(pkgs(s, 'install.d', 'install'), ['eq', 'eq-no-space', 'ne', 'both', 'empty-value']);
  assert.throws(
    () => collect('fio-engine-libaio: {when: [DIB_RELEASE != 7, IPA_DISTRO_FAMILY = rh]}', ENV, 'burn-in'),
    (e: unknown) =>
      e instanceof UserError &&
      e.exitCode === 2 &&
      e.message ===
        "element burn-in: package 'fio-engine-libaio' has 'when: IPA_DISTRO_FAMILY = rh' but the variable IPA_DISTRO_FAMILY is not set" &&
      /dib.environment/.test(e.hint ?? ''),
  );
  assert.throws(
    () => evaluateWhen('DIB_RELEASE ~ x', { element: 'e', pkg: 'p', file: 'f', env: ENV }),
    /f: package 'p': malformed when: 'DIB_RELEASE ~ x'/,
  );
  assert.throws(() => collect('x: {phase: finalise.d}'), /package 'x': phase 'finalise.d' installs nothing/);
  assert.throws(() => collect('x: install.d'), /package 'x': its parameters are not a map/);
  assert.throws(() => collect('- a\n- b\n'), /not a map of package names/);
  assert.deepEqual(collect(''), emptySquashed(), 'an empty file installs nothing');
});

test('squash over the build elements and the elements path, then pkg-map per element, per phase', (t) => {
  const root = writeTree(tempDir(t), {
    'site/ssh/package-installs.yaml': 'openssh-server:\nssh_client:\n  phase: post-install.d\nrsync:\n  build-only:\n',
    'site/ssh/pkg-map': JSON.stringify({
      default: { ssh_client: 'openssh-client' },
      distro: { debian: { 'openssh-server': 'openssh-server' } },
    }),
    'site/tools/package-installs.json': JSON.stringify({ curl: null, rsync: null }),
    'site/tools/package-installs.yaml': 'jq:\n',
    'builtin/tools/package-installs.yaml': 'lsof:\n',
    'builtin/unused/package-installs.yaml': 'never:\n',
  });
  const path = [join(root, 'site'), join(root, 'builtin')];
  const s = squashPackageInstalls(['ssh', 'tools'], path, ENV);
  // tools' files in both path entries are read (as DIB does), .json before .yaml.
  assert.deepEqual(
    s['install.d'].install.map((r) => `${r.pkg}@${r.element}`),
    ['openssh-server@ssh', 'rsync@ssh', 'curl@tools', 'rsync@tools', 'jq@tools', 'lsof@tools'],
  );
  assert.deepEqual(pkgs(s, 'install.d', 'uninstall'), [], "ssh's build-only rsync is kept: tools installs it for good afterwards");
  const maps = new Map([
    ['ssh', readPkgMap(join(root, 'site/ssh'))],
    ['tools', readPkgMap(join(root, 'site/tools'))],
  ]);
  const target = { distro: 'debian', release: 'bookworm' };
  assert.deepEqual(phasePackages(s, 'install.d', 'install', maps, target), ['openssh-server', 'rsync', 'curl', 'jq', 'lsof']);
  assert.deepEqual(phasePackages(s, 'post-install.d', 'install', maps, target), ['openssh-client']);
  assert.deepEqual(phasePackages(s, 'install.d', 'uninstall', maps, target), []);
  assert.deepEqual(
    phasePackages(squashPackageInstalls(['ssh'], path, ENV), 'install.d', 'uninstall', maps, target),
    ['rsync'],
    'without tools, build-only uninstalls',
  );
  assert.deepEqual(phasePackages(s, 'pre-install.d', 'install', maps, target), []);
  // pkg-map is per element: another element's map does not apply.
  const other = new Map([['tools', parsePkgMap('{"default": {"ssh_client": "nope"}}', 'x')]]);
  assert.deepEqual(phasePackages(s, 'post-install.d', 'install', other, target), ['ssh_client']);
});

test("package-installs YAML as DIB's yaml.safe_load reads it: a repeated key keeps its last value, `<<:` merges", () => {
  // PyYAML (YAML 1.1) gives {curl: {phase: post-install.d}, ...}: the second `curl` replaces the first.
  const repeated = collect('curl:\n  phase: pre-install.d\ncurl:\n  phase: post-install.d\n');
  assert.deepEqual(pkgs(repeated, 'pre-install.d', 'install'), []);
  assert.deepEqual(pkgs(repeated, 'post-install.d', 'install'), ['curl']);
  // Merge keys: an anchored parameter set reused, explicit keys winning over merged ones.
  const merged = collect(
    [
      'tools: &build-tool',
      '  phase: pre-install.d',
      '  build-only:',
      'gcc:',
      '  <<: *build-tool',
      'make:',
      '  <<: *build-tool',
      '  phase: post-install.d',
      'flagged:',
      '  build-only: yes',
      '  when: FLAG = y',
    ].join('\n'),
    { ...ENV, FLAG: 'y' },
  );
  assert.deepEqual(pkgs(merged, 'pre-install.d', 'install'), ['tools', 'gcc']);
  assert.deepEqual(pkgs(merged, 'pre-install.d', 'uninstall'), ['tools', 'gcc']);
  assert.deepEqual(pkgs(merged, 'post-install.d', 'install'), ['make']);
  assert.deepEqual(pkgs(merged, 'post-install.d', 'uninstall'), ['make']);
  // `yes` is a boolean in YAML 1.1, `y` is not in PyYAML: `when: FLAG = y` compares against the string y.
  assert.deepEqual(pkgs(merged, 'install.d', 'install'), ['flagged']);
  assert.deepEqual(parsePackageInstalls('a: yes\nb: y\nc: off\nd: 010\n', 'f.yaml'), { a: true, b: 'y', c: false, d: 8 });
});

test("the deprecated package-installs-<element> lists in phase directories are read as DIB's package-installs reads them", (t) => {
  const hooks = writeTree(tempDir(t), {
    'install.d/package-installs-site':
      '# tools\n\n  curl  \n-gcc\neditor\n  # indented comment\ntwo words\n-build-tool\nlast-without-newline',
    'install.d/package-installs-other': 'less\n',
    'install.d/10-script +x': '#!/bin/sh\n',
    'pre-install.d/package-installs-site': 'early\n',
    'post-install.d/not-a-list': 'x\n',
  });
  const maps = new Map([['site', { default: { editor: 'nano', 'build-tool': 'make', dropped: '' } }]]);
  const lists = readLegacyLists(hooks, maps, { distro: 'debian', release: 'bookworm' });
  assert.deepEqual(lists, [
    { phase: 'pre-install.d', file: 'pre-install.d/package-installs-site', element: 'site', install: ['early'], uninstall: [] },
    { phase: 'install.d', file: 'install.d/package-installs-other', element: 'other', install: ['less'], uninstall: [] },
    {
      phase: 'install.d',
      file: 'install.d/package-installs-site',
      element: 'site',
      // `-gcc` is installed too (removed at the end of the phase); names mapped through site's pkg-map.
      install: ['curl', 'gcc', 'nano', 'two', 'words', 'make', 'last-without-newline'],
      uninstall: ['gcc', 'make'],
    },
  ]);
  writeLegacyPackageInstalls(hooks, lists);
  const data = (f: string) => readFileSync(join(hooks, 'ramforge-data/package-installs', f), 'utf8');
  assert.equal(data('install.d.legacy-install'), 'less\ncurl\ngcc\nnano\ntwo\nwords\nmake\nlast-without-newline\n');
  assert.equal(data('install.d.legacy-uninstall'), 'gcc\nmake\n');
  assert.equal(data('pre-install.d.legacy-install'), 'early\n');
  assert.equal(data('post-install.d.legacy-install'), '');
});

test('the deprecated lists where DIB slips, read as it means to: CRLF lines, a line mapped name by name, `-name` mapped as `name`', (t) => {
  const hooks = writeTree(tempDir(t), {
    // DIB's `read` keeps the CR (apt then finds no such package); a line where one name has no mapping is installed
    // unmapped as a whole by DIB (its pkg-map call for the line fails); `-editor` is looked up as `-editor` by DIB.
    'install.d/package-installs-site': 'curl\r\neditor unmapped\r\n-editor\r\n',
  });
  const maps = new Map([['site', { default: { editor: 'nano' } }]]);
  const [list] = readLegacyLists(hooks, maps, { distro: 'debian', release: 'bookworm' });
  assert.deepEqual(list?.install, ['curl', 'nano', 'unmapped', 'nano']);
  assert.deepEqual(list?.uninstall, ['nano']);
});
