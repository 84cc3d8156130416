/** The runner's pure parts: refusals, the root check, the phase argv, the mount check. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { HostProbeError, UserError } from '../../../errors.js';
import { PHASES } from './phases.js';
import { phaseArgv, RUNTIME_DIR } from './run-phase.js';
import {
  BUILTIN_ELEMENTS_DIR,
  mountsUnder,
  preflightElements,
  profileLine,
  refuseUnsupported,
  requireTreeRoot,
  rootProblem,
  RUNNER_ROOT_PROBE,
  sourcedEnvironment,
} from './runner.js';
import { resolveElements } from './resolve.js';
import { tempDir, writeTree } from './test-trees.js';

test('block-device.d is refused naming the element and the fix', (t) => {
  const dir = writeTree(tempDir(t), { 'disk/block-device.d/10-x +x': '#!/bin/sh\n', 'ok/install.d/10-y +x': '#!/bin/sh\n' });
  const el = (n: string) => ({ name: n, path: join(dir, n), deps: [], provides: [] });
  refuseUnsupported([el('ok')]);
  assert.throws(
    () => refuseUnsupported([el('ok'), el('disk')]),
    (e: unknown) =>
      e instanceof UserError &&
      e.exitCode === 2 &&
      /^element disk has block-device\.d/.test(e.message) &&
      /remove element disk/.test(e.hint ?? ''),
  );
});

test('neither root nor a user namespace: one error naming both fixes', () => {
  assert.deepEqual(requireTreeRoot({ mode: 'root' }), { mode: 'root' });
  const none = { mode: 'none' as const, reason: 'runs element scripts in a chroot, which as uid 1000 needs a user namespace: missing x' };
  assert.throws(
    () => requireTreeRoot(none),
    (e: unknown) =>
      e instanceof HostProbeError &&
      /uid 1000/.test(e.message) &&
      /run the build as root/.test(e.hint ?? '') &&
      /install uidmap/.test(e.hint ?? '') &&
      /\/etc\/subuid/.test(e.hint ?? ''),
  );
});

test("the flavor's host probe says the same (checked before any slow work)", async () => {
  assert.equal(await RUNNER_ROOT_PROBE.check(), rootProblem());
  assert.equal(rootProblem({ mode: 'root' }), undefined);
  assert.equal(rootProblem({ mode: 'userns', unshare: '/usr/bin/unshare' }), undefined);
  assert.equal(rootProblem({ mode: 'none', reason: 'r' }), 'r');
  assert.match(RUNNER_ROOT_PROBE.hint, /run the build as root.*or install uidmap/);
});

test('preflight: what the element directories alone tell, before the Debian base is made', (t) => {
  const dir = writeTree(tempDir(t), {
    'site/install.d/50-site +x': '#!/bin/sh\n',
    'dup/install.d/50-site +x': '#!/bin/sh\n',
    'disk/block-device.d/10-x +x': '#!/bin/sh\n',
    'other-os/element-provides': 'operating-system\n',
  });
  const names = preflightElements(['site', 'ramforge-debian'], [dir]).map((e) => e.name);
  assert.ok(names.includes('site') && names.includes('dpkg'), names.join(' '));
  const fails = (elements: string[], re: RegExp) =>
    assert.throws(
      () => preflightElements([...elements, 'ramforge-debian'], [dir]),
      (e: unknown) => e instanceof UserError && e.exitCode === 2 && re.test(e.message),
    );
  fails(['nope'], /element 'nope' not found in /);
  fails(['site', 'dup'], /duplicated hook install\.d\/50-site: in element site and in element dup/);
  fails(['disk'], /^element disk has block-device\.d/);
  fails(['other-os'], /both provide 'operating-system'/);
});

test('the built-in elements resolve on their own: the OS element pulls dpkg, install-bin, package-installs, pkg-map, manifests', () => {
  const r = resolveElements(['ramforge-debian'], [BUILTIN_ELEMENTS_DIR]);
  assert.deepEqual(r.elements.map((e) => e.name).sort(), [
    'dpkg',
    'install-bin',
    'manifests',
    'package-installs',
    'pkg-map',
    'ramforge-debian',
  ]);
  assert.equal(r.providedBy.get('operating-system'), 'ramforge-debian');
  const base = resolveElements(['base', 'ramforge-debian', 'install-static', 'svc-map', 'source-repositories'], [BUILTIN_ELEMENTS_DIR]);
  assert.ok(['dib-init-system', 'install-types'].every((n) => base.elements.some((e) => e.name === n)));
});

test('a phase runs in private mount and PID namespaces; in-target phases chroot with the hook tree', () => {
  const phase = (n: string) => PHASES.find((p) => p.name === n)!;
  const common = { root: '/r', hooks: '/w/hooks', envFiles: ['10-a.bash'], scripts: ['01-x', '10-y'], unshare: '/usr/bin/unshare' };
  const aptCache = { archives: '/c/archives', lists: '/c/lists' };
  assert.deepEqual(phaseArgv({ ...common, aptCache, node: '/cache/node', phase: phase('install.d') }), [
    '/usr/bin/unshare',
    '--mount',
    '--pid',
    '--fork',
    '--kill-child',
    '--propagation',
    'private',
    '/bin/bash',
    `${RUNTIME_DIR}enter-phase.bash`,
    '/r',
    '/w/hooks',
    '1',
    '1',
    '/c/archives',
    '/c/lists',
    '/cache/node',
    '--',
    '/tmp/in_target.d/install.d',
    '/tmp/in_target.d/environment.d',
    '1',
    '10-a.bash',
    '01-x',
    '10-y',
  ]);
  // Outside the chroot: no apt cache, no Node for in-chroot helpers, the hook tree's own paths.
  const root = phaseArgv({ ...common, aptCache, node: '/cache/node', phase: phase('root.d') });
  // An ordinary user's build: the same, in a user namespace too.
  const userns = phaseArgv({ ...common, userFlags: ['--map-root-user', '--map-auto'], phase: phase('root.d') });
  assert.deepEqual(userns.slice(0, 4), ['/usr/bin/unshare', '--map-root-user', '--map-auto', '--mount']);
  assert.deepEqual(root.slice(9, 20), ['/r', '/w/hooks', '0', '0', '', '', '', '--', '/w/hooks/root.d', '/w/hooks/environment.d', '1']);
});

test("what package-installs' `when` reads: environment.d sourced as in a phase (a `declare -x` stays local, `export` counts)", async (t) => {
  const hooks = writeTree(tempDir(t), {
    'environment.d/10-a.bash': 'export WANT_A=yes\ndeclare -x WANT_B=yes\nlocal WANT_C=yes\nexport WANT_C\nexport ARGC=$#\n',
    'environment.d/20-b.bash': 'export B_SEEN_LATER="$WANT_B"\n',
    // Not an environment file (DIB's name rule): never sourced.
    'environment.d/30 skipped.bash': 'exit 9\n',
  });
  const env = await sourcedEnvironment(hooks, { PATH: '/usr/bin:/bin', WANT_B: 'caller' });
  assert.equal(env.WANT_A, 'yes');
  assert.equal(env.WANT_B, 'caller');
  assert.equal(env.WANT_C, undefined);
  assert.equal(env.ARGC, '0');
  assert.equal(env.B_SEEN_LATER, 'yes');
  assert.equal(env._env_dir, undefined, "the runner's own variables are not exported");
});

test('mountsUnder reads mountinfo, octal escapes included', () => {
  const info = [
    '22 1 8:1 / / rw - ext4 /dev/sda1 rw',
    '90 22 0:5 / /tmp/r/proc rw - proc proc rw',
    '91 22 0:6 / /tmp/r\\040x/dev rw - devtmpfs udev rw',
    '92 22 0:7 / /tmp/rr rw - tmpfs t rw',
  ].join('\n');
  assert.deepEqual(mountsUnder('/tmp/r', info), ['/tmp/r/proc']);
  assert.deepEqual(mountsUnder('/tmp/r x', info), ['/tmp/r x/dev']);
});

test('the profile line: count, total, the three slowest', () => {
  const s = (script: string, seconds: number) => ({ phase: 'install.d', element: 'e', script, seconds });
  assert.equal(profileLine([]), 'element scripts: 0 in 0.0 s');
  assert.equal(
    profileLine([s('a', 1), s('b', 5), s('c', 0.25), s('d', 2)]),
    'element scripts: 4 in 8.3 s; slowest: install.d/b 5.0 s, install.d/d 2.0 s, install.d/a 1.0 s',
  );
});
