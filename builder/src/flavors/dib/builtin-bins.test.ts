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
