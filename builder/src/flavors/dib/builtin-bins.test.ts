/** The commands the built-in helper elements put in the image (install-packages, pkg-map), run here with a fake apt-get and a test map. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN_ELEMENTS_DIR } from './elements/runner.js';
import { tempDir, writeTree } from './elements/test-trees.js';

const INSTALL_PACKAGES = join(BUILTIN_ELEMENTS_DIR, 'dpkg/bin/install-packages');

/** install-packages with an apt-get that records its arguments. */
function installPackages(dir: string, args: string[]) {
  writeTree(dir, { 'bin/apt-get +x': `#!/bin/sh\necho "$@" >> "${dir}/apt-get.calls"\n` });
  const r = spawnSync(INSTALL_PACKAGES, args, {
    encoding: 'utf8',
    env: { PATH: `${dir}/bin:/usr/bin:/bin` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const calls = join(dir, 'apt-get.calls');
  return { ...r, calls: existsSync(calls) ? readFileSync(calls, 'utf8') : '' };
}

test('install-packages: -d is refused as DIB refuses it (exit 1, apt-get not run); plain names and -e reach apt-get', (t) => {
  const d = installPackages(tempDir(t), ['-d', 'curl']);
  assert.equal(d.status, 1);
  assert.match(d.stderr, /unsupported option -d/);
  assert.equal(d.calls, '');
  const dir = tempDir(t);
  assert.equal(installPackages(dir, ['curl', 'less']).status, 0);
  assert.equal(installPackages(dir, ['-e', 'less']).status, 0);
  assert.equal(
    readFileSync(join(dir, 'apt-get.calls'), 'utf8'),
    [
      '--option Dpkg::Options::=--force-confold --option Dpkg::Options::=--force-confdef --assume-yes install curl less',
      '--option Dpkg::Options::=--force-confold --option Dpkg::Options::=--force-confdef --assume-yes remove less',
      '',
    ].join('\n'),
  );
});

const PKG_MAP = join(BUILTIN_ELEMENTS_DIR, 'pkg-map/bin/pkg-map');

/** The image's pkg-map over a resolved map as the pkg-map element writes it (name TAB mapped; mapped empty: skip). */
function pkgMap(t: { after: (fn: () => void) => void }, args: string[]) {
  const dir = writeTree(tempDir(t), {
    'pkg-map/.resolved/.target': 'debian bookworm\n',
    'pkg-map/.resolved/site': 'dropped\t\neditor\tnano\npair\tpython3 python3-yaml\nweb\tapache2\n',
  });
  return spawnSync(PKG_MAP, args, {
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin', RAMFORGE_PKG_MAP_DIR: join(dir, 'pkg-map') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

test("pkg-map: DIB's command line (one name a line, --prefix added, options anywhere, --missing-ok without a map)", (t) => {
  const ok = (args: string[], stdout: string) => {
    const r = pkgMap(t, args);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, stdout, args.join(' '));
  };
  ok(['--element', 'site', 'editor', 'web'], 'nano\napache2\n');
  // A mapped value is printed as it is (DIB prints the string), a name mapped to nothing is skipped.
  ok(['--element', 'site', 'pair', 'dropped', 'editor'], 'python3 python3-yaml\nnano\n');
  ok(['--element', 'site', '--prefix', 'PKG:', 'editor', 'web'], 'PKG:nano\nPKG:apache2\n');
  ok(['editor', '--prefix=>', 'web', '--element=site'], '>nano\n>apache2\n');
  ok(['--elem', 'site', '--miss', 'editor', 'unknown'], 'nano\nunknown\n');
  ok(['--element', 'nomap', '--missing-ok', '--prefix', '+', 'a', 'b'], '+a\n+b\n');
  ok(['--element', 'site', '--distro', 'debian', '--release', 'bookworm', '--debug', 'editor'], 'nano\n');
  ok(['--element', 'site', 'editor', '--', 'web'], 'nano\napache2\n');
  // Errors: no mapping (exit 1, the names before it printed), no map (exit 2), no element (1), another distro (1).
  const err = (args: string[], status: number, stderr: RegExp, stdout = '') => {
    const r = pkgMap(t, args);
    assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, stderr);
    assert.equal(r.stdout, stdout);
  };
  err(['--element', 'site', 'editor', 'unknown', 'web'], 1, /site has no valid mapping for package unknown/, 'nano\n');
  err(['--element', 'site', '--unknown-opt', 'editor'], 1, /no valid mapping for package --unknown-opt/);
  err(['--element', 'site', '--', '--missing-ok'], 1, /no valid mapping for package --missing-ok/);
  err(['--element', 'nomap', 'editor'], 2, /Required pkg-map for nomap element does not exist/);
  err(['editor'], 1, /Please specify an --element argument/);
  err(['--element', 'site', '--distro', 'ubuntu', 'editor'], 1, /resolved for debian\/bookworm .* not ubuntu\/bookworm/);
  err(['--element', 'site', '--pkg-map', '/x.json', 'editor'], 1, /either --element or --pkg-map/);
  err(['--element', 'site', '--p', 'x', 'editor'], 2, /ambiguous option: --p could match --pkg-map --prefix/);
});
