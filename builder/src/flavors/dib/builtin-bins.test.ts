/** The commands the built-in helper elements put in the image (install-packages, pkg-map), run here with a fake apt-get and test maps. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeHelperRuntime } from './elements/helper-runtime.js';
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

/**
 * The image's pkg-map on the runtime the element runner gives in-chroot
 * phases (writeHelperRuntime: the bundled pkg-map.mjs; the node mount point
 * replaced here by this test's own Node), over maps in /usr/share/pkg-map's place.
 */
async function pkgMapRuntime(t: { after: (fn: () => void) => void }, withNode = true) {
  const dir = writeTree(tempDir(t), {
    'pkg-map/site': JSON.stringify({
      default: { editor: 'vi', dropped: 'x', pair: 'python3 python3-yaml' },
      family: { debian: { editor: 'nano', dropped: '' } },
      distro: { ubuntu: { editor: 'nano-ubuntu' } },
      release: { debian: { trixie: { editor: 'nano-trixie' } } },
    }),
    'own.json': JSON.stringify({ default: { web: 'httpd' }, family: { debian: { web: 'apache2' } } }),
  });
  await writeHelperRuntime(join(dir, 'hooks'), undefined);
  if (withNode) symlinkSync(process.execPath, join(dir, 'hooks/ramforge-runtime/node'));
  return (args: string[], env: Record<string, string> = { DISTRO_NAME: 'debian', DIB_RELEASE: 'bookworm' }) =>
    spawnSync(PKG_MAP, args, {
      encoding: 'utf8',
      cwd: dir,
      env: {
        PATH: '/usr/bin:/bin',
        RAMFORGE_PKG_MAP_DIR: join(dir, 'pkg-map'),
        RAMFORGE_RUNTIME_DIR: join(dir, 'hooks/ramforge-runtime'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
}

test('pkg-map: the command runs the bundled pkg-map.mjs on the runtime Node, for any target and map file', async (t) => {
  const pkgMap = await pkgMapRuntime(t);
  const ok = (args: string[], stdout: string, env?: Record<string, string>) => {
    const r = pkgMap(args, env);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, stdout, args.join(' '));
  };
  ok(['--element', 'site', 'editor', 'dropped', 'pair'], 'nano\npython3 python3-yaml\n');
  ok(['--element', 'site', '--release', 'trixie', 'editor'], 'nano-trixie\n');
  ok(['--element', 'site', '--distro', 'ubuntu', '--release', 'noble', 'editor'], 'nano-ubuntu\n');
  ok(['--element', 'site', '--distro', 'fedora', 'editor', 'dropped'], 'vi\nx\n');
  ok(['--pkg-map', 'own.json', '--prefix=P:', 'web'], 'P:apache2\n');
  ok(['--pkg-map', 'own.json', 'web'], 'httpd\n', { DISTRO_NAME: 'gentoo' });
  ok(['--elem', 'nomap', '--miss', 'a', 'b'], 'a\nb\n');
  const r = pkgMap(['--element', 'site', 'editor', 'unknown']);
  assert.deepEqual([r.status, r.stdout], [1, 'nano\n']);
  assert.match(r.stderr, /^ERROR:root:site has no valid mapping for package unknown$/m);
  assert.equal(pkgMap(['--element', 'nomap', 'a']).status, 2);
  assert.equal(pkgMap(['--element', 'site', '--p', 'x']).status, 2);
  // Without DISTRO_NAME (DIB's default for --distro) and no --distro: exit 1.
  assert.equal(pkgMap(['--element', 'site', 'editor'], {}).status, 1);
});

test('pkg-map: without the runtime (no node, or the bare mount point) it says so, exit 1, rather than printing nothing', async (t) => {
  const pkgMap = await pkgMapRuntime(t, false);
  const r = pkgMap(['--element', 'site', 'editor']);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /no runtime at .*ramforge-runtime \(node, pkg-map\.mjs\)/);
  const dir = tempDir(t);
  await writeHelperRuntime(dir, '/usr/bin/node');
  const mountPoint = statSync(join(dir, 'ramforge-runtime/node'));
  assert.deepEqual([mountPoint.size, mountPoint.mode & 0o777], [0, 0o644], 'the unbound mount point is empty and not executable');
  const bare = spawnSync(PKG_MAP, ['--element', 'site', 'editor'], {
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin', RAMFORGE_RUNTIME_DIR: join(dir, 'ramforge-runtime') },
  });
  assert.equal(bare.status, 1);
  assert.match(bare.stderr, /no runtime/);
});
