import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { elementEnvironment, imageElementArrayFunction, imageElementYaml, phaseEnvironment } from './environment.js';
import { PHASES } from './phases.js';
import YAML from 'yaml';

const elements = [
  { name: 'my-users', path: '/site/my-users' },
  { name: 'ramforge-debian', path: '/builtin/ramforge-debian' },
];
const input = {
  environment: { DIB_DEBUG_TRACE: '1', DIB_RELEASE: 'sid', ARCH: 'arm64', MY_VAR: 'x' },
  release: 'bookworm',
  arch: 'amd64',
  imageName: 'ipa',
  elements,
  elementsPath: ['/site', '/builtin'],
  paths: { buildDir: '/w/dib_build', hooks: '/w/dib_build/hooks', mount: '/root-dir', imageDir: '/w/dib_build/image' },
  imageCache: '/cache/dib/image-cache',
  epoch: 1767225600,
};
const phase = (name: string) => PHASES.find((p) => p.name === name)!;

test('the variables DIB exports: the caller overrides defaults, never what the build fixes', () => {
  const env = elementEnvironment(input);
  assert.equal(env.DIB_DEBUG_TRACE, '1'); // a default the caller overrode
  assert.equal(env.DIB_OFFLINE, '');
  assert.equal(env.DIB_DEFAULT_INSTALLTYPE, 'source');
  assert.equal(env.MY_VAR, 'x');
  assert.equal(env.DIB_RELEASE, 'bookworm'); // the build's release, not the caller's
  assert.equal(env.ARCH, 'amd64');
  assert.equal(env.DISTRO_NAME, 'debian');
  assert.equal(env.DIB_INIT_SYSTEM, 'systemd');
  assert.equal(env.DIB_PYTHON_VERSION, '3');
  assert.equal(env.IMAGE_NAME, 'ipa');
  assert.equal(env.IMAGE_ELEMENT, 'my-users ramforge-debian');
  assert.equal(env.ELEMENTS_PATH, '/site:/builtin');
  assert.equal(env.TMP_BUILD_DIR, '/w/dib_build');
  assert.equal(env.TMP_HOOKS_PATH, '/w/dib_build/hooks');
  assert.equal(env.TMP_MOUNT_PATH, '/root-dir');
  assert.equal(env.DIB_IMAGE_CACHE, '/cache/dib/image-cache');
  assert.equal(env.LC_ALL, 'C');
  assert.equal(env.SOURCE_DATE_EPOCH, '1767225600');
  assert.equal(env.TARGET_ROOT, undefined);
  assert.equal(elementEnvironment({ ...input, environment: { DIB_IMAGE_CACHE: '/mine' } }).DIB_IMAGE_CACHE, '/mine');
});

test('IMAGE_ELEMENT_YAML maps names to directories', () => {
  assert.deepEqual(YAML.parse(imageElementYaml(elements)), { 'my-users': '/site/my-users', 'ramforge-debian': '/builtin/ramforge-debian' });
});

test('get_image_element_array reaches bash as an exported function and fills an associative array', () => {
  const out = execFileSync(
    '/bin/bash',
    [
      '-c',
      'set -eu; eval declare -A a=($(get_image_element_array)); for k in $(printf "%s\\n" "${!a[@]}" | sort); do echo "$k=${a[$k]}"; done',
    ],
    { env: { PATH: '/usr/bin:/bin', 'BASH_FUNC_get_image_element_array%%': imageElementArrayFunction(elements) }, encoding: 'utf8' },
  );
  assert.equal(out, 'my-users=/site/my-users\nramforge-debian=/builtin/ramforge-debian\n');
});

test('per phase: TARGET_ROOT only in root.d and cleanup.d; chroot phases get HOME=/root, no TMPDIR, the usual PATH', () => {
  const base = { ...elementEnvironment(input), TMPDIR: '/tmp/x', HOME: '/home/me' };
  const o = { root: '/root-dir', hostPath: '/usr/bin:/bin', extraPath: '/shim' };
  assert.equal(phaseEnvironment(base, phase('root.d'), o).TARGET_ROOT, '/root-dir');
  assert.equal(phaseEnvironment(base, phase('cleanup.d'), o).TARGET_ROOT, '/root-dir');
  assert.equal(phaseEnvironment(base, phase('extra-data.d'), o).TARGET_ROOT, undefined);
  const outside = phaseEnvironment(base, phase('post-root.d'), o);
  assert.equal(outside.PATH, '/shim:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin');
  assert.equal(outside.HOME, '/home/me');
  const inside = phaseEnvironment(base, phase('install.d'), o);
  assert.equal(inside.HOME, '/root');
  assert.equal(inside.TMPDIR, undefined);
  assert.equal(inside.TARGET_ROOT, undefined);
  assert.equal(inside.PATH, '/usr/bin:/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
});

test("the phase plan is DIB's: order, and which run in the chroot", () => {
  assert.deepEqual(
    PHASES.map((p) => `${p.name}${p.chroot ? ' (chroot)' : ''}`),
    [
      'root.d',
      'extra-data.d',
      'pre-install.d (chroot)',
      'install.d (chroot)',
      'post-install.d (chroot)',
      'post-root.d',
      'pre-finalise.d',
      'finalise.d (chroot)',
      'cleanup.d',
    ],
  );
  assert.deepEqual(
    PHASES.filter((p) => !p.mounts).map((p) => p.name),
    ['root.d'],
  );
});
