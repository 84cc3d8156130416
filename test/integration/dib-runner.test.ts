/**
 * The dib element runner on a real Debian root (mmdebstrap minbase of the
 * host's release, from the host's mirror; test/support/debian-rootfs.ts),
 * as root: site elements written the way DIB's upstream elements are
 * (environment.d, root.d, extra-data.d, install.d, post-install.d,
 * post-root.d, finalise.d, static/, init-scripts/, package-installs.yaml
 * with a pkg-map rename, source-repository-*, svc-map) over the built-in
 * helper elements; the result checked file by file. Then the bad inputs:
 * a failing script, block-device.d, an unset `when` variable, a package
 * that does not exist, an abort; none leaves a mount behind.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { UserError } from '../../builder/src/errors.js';
import { mountsUnder, runElements, type RunElementsOptions } from '../../builder/src/flavors/dib/elements/runner.js';
import { ElementScriptError } from '../../builder/src/flavors/dib/elements/script-error.js';
import { tempDir, writeTree } from '../../builder/src/flavors/dib/elements/test-trees.js';
import { debianBaseTar, debianRoot, hostRelease } from '../support/debian-rootfs.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBn3yNbPRVG4aCYWIpqnKRxWRZOyXPHCM71lUp/Iv+Ky ops@example\n';
const HEADER = '#!/bin/bash\nif [ ${DIB_DEBUG_TRACE:-1} -gt 0 ]; then set -x; fi\nset -eu\nset -o pipefail\n';

/** The site elements of the happy path. */
const SITE = {
  'ops-access/element-deps': 'install-static\npackage-installs\ndib-init-system\nsvc-map\nsource-repositories\n',
  'ops-access/README.rst': 'ops-access: an ops user with SSH and sudo, a unit, a tool\n',
  'ops-access/ops-access.pub': KEY,
  'ops-access/environment.d/10-ops-access.bash': 'export OPS_USER=${OPS_USER:-ops}\nexport OPS_UID=1500\nOPS_NOT_EXPORTED=secret\n',
  'ops-access/root.d/20-ops-root +x': `${HEADER}[ -f "$TARGET_ROOT/etc/debian_version" ]\necho "$ARCH" | sudo tee "$TARGET_ROOT/etc/ops-root-arch" >/dev/null\n`,
  'ops-access/extra-data.d/20-ops-data +x': `${HEADER}mkdir -p "$TMP_HOOKS_PATH/ops-data"\necho "hello from the host" > "$TMP_HOOKS_PATH/ops-data/greeting"\n`,
  'ops-access/install.d/50-ops-user +x': `${HEADER}[ -z "\${OPS_NOT_EXPORTED:-}" ]
groupadd -g 1600 opsgrp
useradd -m -u "$OPS_UID" -g opsgrp -s /bin/bash "$OPS_USER"
install -d -m 0700 -o "$OPS_USER" -g opsgrp "/home/$OPS_USER/.ssh"
install -m 0600 -o "$OPS_USER" -g opsgrp "$(dirname $0)/../ops-access.pub" "/home/$OPS_USER/.ssh/authorized_keys"
cp "$(dirname $0)/../ops-data/greeting" /etc/ops-greeting
`,
  'ops-access/install.d/60-ops-sudoers +x': `${HEADER}install -d -m 0750 /etc/sudoers.d\necho "$OPS_USER ALL=(ALL) NOPASSWD: ALL" > /etc/sudoers.d/ops\nchmod 0440 /etc/sudoers.d/ops\n`,
  // A .sh name: dib-run-parts skips it.
  'ops-access/install.d/70-skipped.sh +x': '#!/bin/bash\nexit 1\n',
  'ops-access/post-install.d/50-ops-unit +x': `${HEADER}systemctl enable "$(svc-map ops-hello).service"\n`,
  'ops-access/post-root.d/50-ops-post-root +x': `${HEADER}echo post-root | sudo tee "$TMP_BUILD_DIR/mnt/etc/ops-post-root" >/dev/null\n`,
  'ops-access/finalise.d/90-ops-final +x': `${HEADER}mkdir -p /etc/ops
echo "$DISTRO_NAME $DIB_RELEASE $ARCH $IMAGE_NAME $DIB_INIT_SYSTEM $DIB_PYTHON_VERSION $LC_ALL $SOURCE_DATE_EPOCH" > /etc/ops/env-seen
[ -e /proc/self/status ]
[ -c /dev/null ]
! touch /sys/ops-probe 2>/dev/null
! touch /tmp/in_target.d/ops-probe 2>/dev/null
cp /etc/resolv.conf /etc/ops/resolv-during-build
`,
  'ops-access/init-scripts/systemd/ops-hello.service':
    '[Unit]\nDescription=ops hello\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n',
  'ops-access/static/etc/ops/motd': 'welcome, ops\n',
  'ops-access/static/usr/local/sbin/ops-tool +x': '#!/bin/sh\necho ops\n',
  'ops-access/svc-map': 'ops-hello:\n  default: ops-hello\n',
  'ops-access/package-installs.yaml': 'systemd:\n  phase: pre-install.d\nops_editor:\nless:\n  when: OPS_WANT_LESS = yes\n',
  'ops-access/pkg-map': JSON.stringify({ family: { debian: { ops_editor: 'nano' } } }),
  'ops-access/source-repository-ops': 'ops-version file /opt/ops/VERSION file://$OPS_VERSION_FILE\n',
};

function baseOptions(t: { after: (fn: () => void) => void }, root: string, site: string, extra: Partial<RunElementsOptions> = {}) {
  const work = tempDir(t, 'dib-runner-work-');
  const lines: string[] = [];
  const opts: RunElementsOptions = {
    root,
    elements: ['ops-access', 'ramforge-debian'],
    elementsPath: [site],
    environment: {},
    release: hostRelease(),
    arch: 'amd64',
    imageName: 'dib-test',
    workDir: join(work, 'work'),
    cacheDir: join(work, 'cache'),
    epoch: 1767225600,
    log: (l) => lines.push(l),
    signal: new AbortController().signal,
    ...extra,
  };
  return { opts, lines, work };
}

function chrootOut(root: string, ...argv: string[]): string {
  return execFileSync('chroot', [root, ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function assertClean(root: string) {
  assert.deepEqual(mountsUnder(root), [], 'no mount left under the root');
  assert.equal(existsSync(join(root, 'tmp/in_target.d')), false, '/tmp/in_target.d removed');
}

test('prepare the Debian base (cached)', { timeout: 300_000 }, async () => {
  await debianBaseTar();
});

test('site elements over the built-in helpers, checked file by file', { timeout: 300_000 }, async (t) => {
  const root = await debianRoot(t);
  const resolvBefore = readFileSync(join(root, 'etc/resolv.conf'), 'utf8');
  const site = writeTree(tempDir(t), SITE);
  const versionFile = join(site, 'VERSION');
  writeTree(site, { VERSION: '1.2.3\n' });
  const { opts, lines } = baseOptions(t, root, site, {
    environment: { OPS_WANT_LESS: 'no', OPS_VERSION_FILE: versionFile, DIB_DEBUG_TRACE: '0' },
  });
  const result = await runElements(opts);

  assert.equal(result.elements[0], 'ops-access');
  for (const e of [
    'install-static',
    'package-installs',
    'dib-init-system',
    'svc-map',
    'source-repositories',
    'dpkg',
    'pkg-map',
    'install-bin',
  ])
    assert.ok(result.elements.includes(e), `${e} resolved`);
  const ran = result.scripts.map((s) => `${s.phase}/${s.script}@${s.element}`);
  assert.ok(ran.includes('install.d/50-ops-user@ops-access'), ran.join(' '));
  assert.ok(ran.includes('pre-install.d/01-install-bin@install-bin'));
  assert.ok(!ran.some((s) => s.includes('70-skipped.sh')), 'a .sh script does not run');
  assert.ok(lines.some((l) => l.startsWith('install.d/50-ops-user: ') || l.includes('elements: ops-access')));

  const st = (p: string) => lstatSync(join(root, p));
  const mode = (p: string) => st(p).mode & 0o7777;
  // The user, its group, its home and its key: owned by the user.
  assert.match(readFileSync(join(root, 'etc/passwd'), 'utf8'), /^ops:x:1500:1600::\/home\/ops:\/bin\/bash$/m);
  assert.match(readFileSync(join(root, 'etc/group'), 'utf8'), /^opsgrp:x:1600:$/m);
  for (const [p, m] of [
    ['home/ops', 0o755],
    ['home/ops/.ssh', 0o700],
    ['home/ops/.ssh/authorized_keys', 0o600],
  ] as const) {
    assert.equal(st(p).uid, 1500, `${p} uid`);
    assert.equal(st(p).gid, 1600, `${p} gid`);
    if (p !== 'home/ops') assert.equal(mode(p), m, `${p} mode`);
  }
  assert.equal(readFileSync(join(root, 'home/ops/.ssh/authorized_keys'), 'utf8'), KEY);
  // sudoers, static files, extra-data, root.d, post-root.d, source repository.
  assert.equal(readFileSync(join(root, 'etc/sudoers.d/ops'), 'utf8'), 'ops ALL=(ALL) NOPASSWD: ALL\n');
  assert.equal(mode('etc/sudoers.d/ops'), 0o440);
  assert.equal(st('etc/sudoers.d/ops').uid, 0);
  assert.equal(readFileSync(join(root, 'etc/ops/motd'), 'utf8'), 'welcome, ops\n');
  assert.equal(mode('etc/ops/motd'), 0o644);
  assert.equal(st('etc/ops/motd').uid, 0);
  assert.equal(mode('usr/local/sbin/ops-tool'), 0o755);
  assert.equal(readFileSync(join(root, 'etc/ops-greeting'), 'utf8'), 'hello from the host\n');
  assert.equal(readFileSync(join(root, 'etc/ops-root-arch'), 'utf8'), 'amd64\n');
  assert.equal(readFileSync(join(root, 'etc/ops-post-root'), 'utf8'), 'post-root\n');
  assert.equal(readFileSync(join(root, 'opt/ops/VERSION'), 'utf8'), '1.2.3\n');
  assert.equal(readFileSync(join(root, 'etc/dib-source-repositories'), 'utf8'), '/opt/ops/VERSION\n');
  // The unit: installed by dib-init-system, enabled with systemctl in the chroot.
  assert.ok(statSync(join(root, 'usr/lib/systemd/system/ops-hello.service')).isFile());
  const wants = 'etc/systemd/system/multi-user.target.wants/ops-hello.service';
  assert.ok(st(wants).isSymbolicLink());
  // bookworm's systemctl writes /lib/..., trixie's /usr/lib/... (the same file with merged /usr).
  assert.match(readlinkSync(join(root, wants)), /^\/(usr\/)?lib\/systemd\/system\/ops-hello\.service$/);
  // Packages: systemd (pre-install.d), nano through pkg-map, rsync for install-static; less filtered out by `when`.
  for (const pkg of ['systemd', 'nano', 'rsync'])
    assert.match(chrootOut(root, 'dpkg', '-s', pkg), /^Status: install ok installed$/m, `${pkg} installed`);
  assert.throws(() => chrootOut(root, 'dpkg', '-s', 'less'), 'less is not installed (when: OPS_WANT_LESS = yes)');
  // What the scripts saw.
  assert.equal(readFileSync(join(root, 'etc/ops/env-seen'), 'utf8'), `debian ${hostRelease()} amd64 dib-test systemd 3 C 1767225600\n`);
  assert.equal(readFileSync(join(root, 'etc/ops/resolv-during-build'), 'utf8'), readFileSync('/etc/resolv.conf', 'utf8'));
  // Helper elements' commands and manifests.
  for (const p of ['usr/local/bin/install-packages', 'usr/local/bin/pkg-map', 'usr/local/bin/svc-map', 'usr/local/bin/dib-init-system'])
    assert.equal(mode(p), p.endsWith('dib-init-system') ? 0o775 : 0o755, p);
  assert.equal(chrootOut(root, 'dib-init-system').trim(), 'systemd');
  assert.equal(chrootOut(root, 'pkg-map', '--element', 'ops-access', 'ops_editor').trim(), 'nano');
  assert.equal(readFileSync(join(root, 'etc/dib-manifests/dib_arguments'), 'utf8'), `${result.elements.join(' ')}\n`);
  assert.equal(mode('etc/dib-manifests/dib_environment'), 0o600);
  assert.match(readFileSync(join(root, 'etc/dib-manifests/dib-manifest-dpkg-dib-test'), 'utf8'), /"package": "nano"/);
  // Build-time things gone: policy-rc.d, the build's apt configuration, lists and caches; resolv.conf restored.
  for (const p of [
    'usr/sbin/policy-rc.d',
    'etc/apt/ramforge-build',
    'etc/apt/apt.conf.d/00ramforge-build',
    'etc/dpkg/dpkg.cfg.d/ramforge-build-unsafe-io',
  ])
    assert.equal(existsSync(join(root, p)), false, `${p} removed`);
  assert.deepEqual(execFileSync('find', [join(root, 'var/lib/apt/lists'), '-type', 'f'], { encoding: 'utf8' }), '');
  assert.deepEqual(execFileSync('find', [join(root, 'var/cache/apt'), '-type', 'f'], { encoding: 'utf8' }), '');
  assert.equal(readFileSync(join(root, 'etc/resolv.conf'), 'utf8'), resolvBefore);
  assert.equal(existsSync(join(root, 'etc/resolv.conf.ORIG')), false);
  assertClean(root);
  assert.equal(existsSync(join(opts.workDir, 'dib_build')), false, 'TMP_BUILD_DIR removed after success');
});

test('a failing script: element, phase, script, exit code and the last 20 lines; exit code 1; nothing mounted', {
  timeout: 120_000,
}, async (t) => {
  const root = await debianRoot(t);
  const site = writeTree(tempDir(t), {
    'bad/install.d/30-bad +x': `${HEADER}for i in $(seq 1 30); do echo "line $i"; done\necho "to stderr" >&2\nexit 3\n`,
    'bad/install.d/40-never +x': `${HEADER}touch /never\n`,
  });
  const { opts } = baseOptions(t, root, site, { elements: ['bad', 'ramforge-debian'] });
  const err = await runElements(opts).then(
    () => assert.fail('the build must fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ElementScriptError, String(err));
  assert.equal(err.exitCode, 1);
  assert.deepEqual(
    { element: err.failure.element, phase: err.failure.phase, script: err.failure.script, exitCode: err.failure.exitCode },
    { element: 'bad', phase: 'install.d', script: '30-bad', exitCode: 3 },
  );
  assert.match(err.message, /^element bad: install\.d\/30-bad exited with code 3; last 20 lines of its output:/);
  assert.match(err.message, /\| line 30\n/);
  assert.match(err.message, /\| to stderr/);
  assert.doesNotMatch(err.message, /\| line 11\n/);
  assert.equal(existsSync(join(root, 'never')), false, 'the next script did not run');
  assert.equal(existsSync(join(root, 'etc/resolv.conf.ORIG')), false, 'resolv.conf restored on failure too');
  assertClean(root);
});

test('block-device.d is refused before anything runs (exit code 2)', { timeout: 60_000 }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'dib-empty-root-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  writeTree(root, { 'usr/bin/': '', 'proc/': '', 'dev/': '', 'sys/': '', 'tmp/': '', 'etc/': '' });
  const site = writeTree(tempDir(t), {
    'disk/block-device.d/10-partition +x': '#!/bin/bash\nexit 0\n',
    'disk/root.d/10-mark +x': '#!/bin/bash\ntouch "$TARGET_ROOT/marked"\n',
  });
  const { opts } = baseOptions(t, root, site, { elements: ['disk', 'ramforge-debian'] });
  await assert.rejects(runElements(opts), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal(e.exitCode, 2);
    assert.match(e.message, /^element disk has block-device\.d .*ramdisks only/);
    return true;
  });
  assert.equal(existsSync(join(root, 'marked')), false);
});

test('an unset `when` variable is an input error (exit code 2), nothing left mounted', { timeout: 120_000 }, async (t) => {
  const root = await debianRoot(t);
  const site = writeTree(tempDir(t), {
    'site-pkgs/package-installs.yaml': 'nano:\n  when: OPS_UNSET_VARIABLE = yes\n',
    'site-pkgs/element-deps': 'package-installs\n',
  });
  const { opts } = baseOptions(t, root, site, { elements: ['site-pkgs', 'ramforge-debian'] });
  await assert.rejects(runElements(opts), (e: unknown) => {
    assert.ok(e instanceof UserError, String(e));
    assert.equal(e.exitCode, 2);
    assert.match(
      e.message,
      /element site-pkgs: package 'nano' has 'when: OPS_UNSET_VARIABLE = yes' but the variable OPS_UNSET_VARIABLE is not set/,
    );
    return true;
  });
  assertClean(root);
});

test('a package that does not exist fails its package-installs script with apt-get output', { timeout: 180_000 }, async (t) => {
  const root = await debianRoot(t);
  const site = writeTree(tempDir(t), {
    'site-pkgs/package-installs.yaml': 'ramforge-no-such-package:\n',
    'site-pkgs/element-deps': 'package-installs\n',
  });
  const { opts } = baseOptions(t, root, site, { elements: ['site-pkgs', 'ramforge-debian'] });
  await assert.rejects(runElements(opts), (e: unknown) => {
    assert.ok(e instanceof ElementScriptError, String(e));
    assert.equal(e.exitCode, 1);
    assert.equal(e.failure.element, 'package-installs');
    assert.equal(e.failure.phase, 'install.d');
    assert.equal(e.failure.script, '01-package-installs');
    assert.match(e.message, /Unable to locate package ramforge-no-such-package/);
    return true;
  });
  assertClean(root);
});

test('an abort stops the running script and leaves nothing mounted', { timeout: 120_000 }, async (t) => {
  const root = await debianRoot(t);
  const site = writeTree(tempDir(t), {
    'slow/pre-install.d/00-slow +x': '#!/bin/bash\necho sleeping\nsleep 600\n',
  });
  const ac = new AbortController();
  const { opts } = baseOptions(t, root, site, {
    elements: ['slow', 'ramforge-debian'],
    signal: ac.signal,
    log: (l) => {
      if (l.endsWith(': sleeping')) ac.abort(new Error('stopped by the test'));
    },
  });
  const t0 = Date.now();
  await assert.rejects(runElements(opts), /stopped by the test/);
  assert.ok(Date.now() - t0 < 100_000);
  assertClean(root);
});
