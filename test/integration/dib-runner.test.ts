/**
 * The dib element runner on a real Debian root (mmdebstrap minbase of the
 * host's release, from the host's mirror; test/support/debian-rootfs.ts),
 * as root: site elements written the way DIB's upstream elements are
 * (environment.d, root.d, extra-data.d, install.d, post-install.d,
 * post-root.d, finalise.d, static/, init-scripts/, package-installs.yaml
 * with a pkg-map rename, pkg-map called for other targets and a map file,
 * source-repository-*, svc-map) over the built-in helper elements; the
 * result checked file by file. Then the bad inputs:
 * a failing script, block-device.d, an unset `when` variable, a package
 * that does not exist, an abort; none leaves a mount behind.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultCacheDir } from '../../builder/src/defaults.js';
import { AptRepo } from '../../builder/src/debian/apt.js';
import { readHostSources } from '../../builder/src/debian/sources.js';
import { UserError } from '../../builder/src/errors.js';
import { mountsUnder, runElements, type RunElementsOptions } from '../../builder/src/flavors/dib/elements/runner.js';
import { ElementScriptError } from '../../builder/src/flavors/dib/elements/script-error.js';
import { tempDir, writeTree } from '../../builder/src/flavors/dib/elements/test-trees.js';
import { debianBaseTar, debianRoot, hostRelease } from '../support/debian-rootfs.js';
import { fetchNodeRuntime } from '../../builder/src/node-runtime.js';
import { DEFAULT_NODE_VERSION } from '../../builder/src/flavors/tinyipa/spec.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBn3yNbPRVG4aCYWIpqnKRxWRZOyXPHCM71lUp/Iv+Ky ops@example\n';
const HEADER = '#!/bin/bash\nif [ ${DIB_DEBUG_TRACE:-1} -gt 0 ]; then set -x; fi\nset -eu\nset -o pipefail\n';

/** The site elements of the happy path. */
const SITE = {
  'ops-access/element-deps': 'install-static\npackage-installs\ndib-init-system\nsvc-map\nsource-repositories\ninstall-types\n',
  'ops-access/README.rst': 'ops-access: an ops user with SSH and sudo, a unit, a tool\n',
  'ops-access/ops-access.pub': KEY,
  'ops-access/environment.d/10-ops-access.bash': 'export OPS_USER=${OPS_USER:-ops}\nexport OPS_UID=1500\nOPS_NOT_EXPORTED=secret\n',
  'ops-access/root.d/20-ops-root +x': `${HEADER}[ -f "$TARGET_ROOT/etc/debian_version" ]\necho "$ARCH" | sudo tee "$TARGET_ROOT/etc/ops-root-arch" >/dev/null\necho outside > "$TARGET_ROOT/etc/ops-umask-outside"\n`,
  'ops-access/extra-data.d/20-ops-data +x': `${HEADER}mkdir -p "$TMP_HOOKS_PATH/ops-data"\necho "hello from the host" > "$TMP_HOOKS_PATH/ops-data/greeting"\n`,
  'ops-access/install.d/50-ops-user +x': `${HEADER}[ -z "\${OPS_NOT_EXPORTED:-}" ]
groupadd -g 1600 opsgrp
useradd -m -u "$OPS_UID" -g opsgrp -s /bin/bash "$OPS_USER"
install -d -m 0700 -o "$OPS_USER" -g opsgrp "/home/$OPS_USER/.ssh"
install -m 0600 -o "$OPS_USER" -g opsgrp "$(dirname $0)/../ops-access.pub" "/home/$OPS_USER/.ssh/authorized_keys"
cp "$(dirname $0)/../ops-data/greeting" /etc/ops-greeting
echo inside > /etc/ops-umask-inside
mkdir /etc/ops-umask-dir
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
echo leftover > /tmp/ops-leftover
echo logged > /var/log/ops.log
echo logged > /root/ops-build.log
`,
  'ops-access/init-scripts/systemd/ops-hello.service':
    '[Unit]\nDescription=ops hello\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n',
  'ops-access/static/etc/ops/motd': 'welcome, ops\n',
  'ops-access/static/usr/local/sbin/ops-tool +x': '#!/bin/sh\necho ops\n',
  'ops-access/svc-map': 'ops-hello:\n  default: ops-hello\n',
  'ops-access/package-installs.yaml': 'systemd:\n  phase: pre-install.d\nops_editor:\nless:\n  when: OPS_WANT_LESS = yes\n',
  'ops-access/pkg-map': JSON.stringify({
    family: { debian: { ops_editor: 'nano', ops_legacy_tool: 'ed' }, redhat: { ops_editor: 'vim-minimal' } },
    distro: { fedora: { ops_editor: 'vim-enhanced' } },
    release: { ubuntu: { noble: { ops_editor: 'nano-noble' } } },
  }),
  // pkg-map at run time, as DIB's: another element's target, and a map file written by the script itself.
  'ops-access/post-install.d/60-ops-pkg-map +x': `${HEADER}mkdir -p /etc/ops
{
    pkg-map --element ops-access --distro ubuntu --release noble ops_editor ops_legacy_tool
    pkg-map --element ops-access --distro fedora --release 40 --missing-ok --prefix fedora: ops_editor ops_legacy_tool
    pkg-map --element ops-access --distro centos --release 9 ops_editor
} > /etc/ops/pkg-map-other-targets
printf '%s' '{"default": {"ops_pager": "most"}, "distro": {"debian": {"ops_pager": "less"}}, "release": {"debian": {"sid": {"ops_pager": ""}}}}' > /tmp/ops-own-map.json
{
    pkg-map --pkg-map /tmp/ops-own-map.json ops_pager
    pkg-map --pkg-map /tmp/ops-own-map.json --distro gentoo ops_pager
    pkg-map --pkg-map /tmp/ops-own-map.json --release sid ops_pager
    echo end
} > /etc/ops/pkg-map-file
rc=0; pkg-map --element ops-access no_such_name 2>/dev/null || rc=$?
echo "unmapped $rc" > /etc/ops/pkg-map-rc
rc=0; pkg-map --element no-such-element x 2>/dev/null || rc=$?
echo "no map $rc" >> /etc/ops/pkg-map-rc
rc=0; pkg-map --pkg-map /tmp/ops-own-map.json --element ops-access x 2>/dev/null || rc=$?
echo "both $rc" >> /etc/ops/pkg-map-rc
! cp /bin/true /tmp/in_target.d/ramforge-runtime/node 2>/dev/null
`,
  // DIB's deprecated list form: installed at the start of install.d (mapped), `-bc` removed again at its end.
  'ops-access/install.d/package-installs-ops-access': '# the old form\nops_legacy_tool\n-bc\n',
  'ops-access/source-repository-ops':
    'ops-version file /opt/ops/VERSION file://$OPS_VERSION_FILE\nops-git git /opt/ops/git $OPS_GIT_REPO main\nops-tar tar /opt/ops/tar file://$OPS_TARBALL\nops-pkg package /opt/ops/pkg\n',
  // install-types: the default type (source) is linked into install.d, the other is not.
  'ops-access/install.d/ops-source-install/75-ops-from-source +x': `${HEADER}echo source > /etc/ops-install-type\n`,
  'ops-access/install.d/ops-package-install/75-ops-from-package +x': `${HEADER}echo package > /etc/ops-install-type\n`,
};

/** ramforge's own cache: the shared apt cache (DIB_APT_LOCAL_CACHE) is reused from test to test and run to run. */
const cacheDir = defaultCacheDir();
/** The pinned Node the dib flavor gives in-chroot helpers (pkg-map), as a build has it. */
let node: string | undefined;

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
    cacheDir,
    epoch: 1767225600,
    ...(node !== undefined ? { node } : {}),
    log: (l) => lines.push(l),
    signal: new AbortController().signal,
    ...extra,
  };
  return { opts, lines, work };
}

function chrootOut(root: string, ...argv: string[]): string {
  return execFileSync('chroot', [root, ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

function assertClean(root: string) {
  assert.deepEqual(mountsUnder(root), [], 'no mount left under the root');
  assert.equal(existsSync(join(root, 'tmp/in_target.d')), false, '/tmp/in_target.d removed');
}

test('prepare the Debian base and the Node runtime (cached)', { timeout: 300_000 }, async () => {
  await debianBaseTar();
  node = (await fetchNodeRuntime(DEFAULT_NODE_VERSION, cacheDir)).binary;
});

test('site elements over the built-in helpers, checked file by file', { timeout: 300_000 }, async (t) => {
  const root = await debianRoot(t);
  const resolvBefore = readFileSync(join(root, 'etc/resolv.conf'), 'utf8');
  const site = writeTree(tempDir(t), SITE);
  // An element checked out by an ordinary user: install-static still installs root-owned files.
  execFileSync('chown', ['-R', '1234:1234', join(site, 'ops-access/static')]);
  const versionFile = join(site, 'VERSION');
  writeTree(site, { VERSION: '1.2.3\n' });
  // A local git repository (branch main) and a tarball with one top directory, as source repositories.
  const repo = join(site, 'ops-git-repo');
  const git = (...a: string[]) => execFileSync('git', ['-C', repo, ...a], { stdio: 'ignore' });
  writeTree(site, { 'ops-git-repo/README': 'from git\n', 'tarball/ops-1.0/INSTALL': 'from tar\n' });
  execFileSync('git', ['init', '-q', '-b', 'main', repo]);
  git('add', 'README');
  git('-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '-q', '-m', 'x');
  execFileSync('tar', ['-C', join(site, 'tarball'), '-czf', join(site, 'ops.tar.gz'), 'ops-1.0']);
  const { opts, lines } = baseOptions(t, root, site, {
    environment: {
      OPS_WANT_LESS: 'no',
      OPS_VERSION_FILE: versionFile,
      OPS_GIT_REPO: repo,
      OPS_TARBALL: join(site, 'ops.tar.gz'),
      DIB_DEBUG_TRACE: '0',
    },
  });
  const aptSources = (r: string) =>
    readdirSync(join(r, 'etc/apt/sources.list.d')).map((f) => `${f}: ${readFileSync(join(r, 'etc/apt/sources.list.d', f), 'utf8')}`);
  const baseSources = aptSources(root);
  // The caller's umask is 0002 (a user's usual): the scripts still make 0644 files and 0755 directories (DIB's sudo).
  const umask = process.umask(0o002);
  const result = await runElements(opts).finally(() => process.umask(umask));

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
  assert.ok(ran.includes('install.d/75-ops-from-source@ops-access'), 'linked by install-types, named after its element');
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
  assert.equal(st('usr/local/sbin/ops-tool').uid, 0);
  assert.equal(st('etc/ops/motd').gid, 0);
  assert.equal(readFileSync(join(root, 'etc/ops-greeting'), 'utf8'), 'hello from the host\n');
  for (const [p, m] of [
    ['etc/ops-umask-outside', 0o644],
    ['etc/ops-umask-inside', 0o644],
    ['etc/ops-umask-dir', 0o755],
  ] as const)
    assert.equal(mode(p), m, `${p}: made under umask 022 although the caller's is 0002`);
  assert.equal(readFileSync(join(root, 'etc/ops-root-arch'), 'utf8'), 'amd64\n');
  assert.equal(readFileSync(join(root, 'etc/ops-post-root'), 'utf8'), 'post-root\n');
  assert.equal(readFileSync(join(root, 'opt/ops/VERSION'), 'utf8'), '1.2.3\n');
  assert.equal(readFileSync(join(root, 'opt/ops/git/README'), 'utf8'), 'from git\n');
  assert.equal(readFileSync(join(root, 'opt/ops/tar/INSTALL'), 'utf8'), 'from tar\n');
  assert.equal(readFileSync(join(root, 'etc/dib-source-repositories'), 'utf8'), '/opt/ops/VERSION\n/opt/ops/git\n/opt/ops/tar\n');
  assert.equal(readFileSync(join(root, 'etc/ops-install-type'), 'utf8'), 'source\n');
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
  // The deprecated list: ed (ops_legacy_tool through the pkg-map) stays, bc was installed for the phase, then removed.
  assert.match(chrootOut(root, 'dpkg', '-s', 'ed'), /^Status: install ok installed$/m);
  assert.ok(
    lines.some((l) => /^install\.d\/01-package-installs: Setting up bc /.test(l)),
    'bc installed during install.d',
  );
  const bc = spawnSync('chroot', [root, 'dpkg-query', '-W', '-f=${db:Status-Abbrev}', 'bc'], { encoding: 'utf8' }).stdout;
  assert.ok(!bc.startsWith('ii'), `bc removed at the end of install.d (status ${bc})`);
  assert.ok(lines.some((l) => l.startsWith('package-installs install.d/package-installs-ops-access (deprecated list')));
  // What the scripts saw.
  assert.equal(readFileSync(join(root, 'etc/ops/env-seen'), 'utf8'), `debian ${hostRelease()} amd64 dib-test systemd 3 C 1767225600\n`);
  assert.equal(readFileSync(join(root, 'etc/ops/resolv-during-build'), 'utf8'), readFileSync('/etc/resolv.conf', 'utf8'));
  // Helper elements' commands and manifests.
  for (const p of ['usr/local/bin/install-packages', 'usr/local/bin/pkg-map', 'usr/local/bin/svc-map', 'usr/local/bin/dib-init-system'])
    assert.equal(mode(p), p.endsWith('dib-init-system') ? 0o775 : 0o755, p);
  assert.equal(chrootOut(root, 'dib-init-system').trim(), 'systemd');
  // pkg-map read the maps in the chroot at run time: other targets than the build's, a map file the script wrote.
  assert.equal(
    readFileSync(join(root, 'etc/ops/pkg-map-other-targets'), 'utf8'),
    'nano-noble\ned\nfedora:vim-enhanced\nfedora:ops_legacy_tool\nvim-minimal\n',
  );
  assert.equal(readFileSync(join(root, 'etc/ops/pkg-map-file'), 'utf8'), 'less\nmost\nend\n');
  assert.equal(readFileSync(join(root, 'etc/ops/pkg-map-rc'), 'utf8'), 'unmapped 1\nno map 2\nboth 1\n');
  // The image holds what DIB's does: the maps as JSON and the command; none of its runtime.
  assert.deepEqual(readdirSync(join(root, 'usr/share/pkg-map')), ['ops-access']);
  assert.equal(readFileSync(join(root, 'usr/share/pkg-map/ops-access'), 'utf8'), SITE['ops-access/pkg-map']);
  const after = spawnSync('chroot', [root, 'pkg-map', '--element', 'ops-access', 'ops_editor'], { encoding: 'utf8' });
  assert.equal(after.status, 1, 'outside the build pkg-map has no runtime');
  assert.match(after.stderr, /no runtime at \/tmp\/in_target\.d\/ramforge-runtime/);
  assert.equal(execFileSync('find', [root, '-xdev', '-name', 'ramforge-runtime'], { encoding: 'utf8' }), '');
  assert.equal(readFileSync(join(root, 'etc/dib-manifests/dib_arguments'), 'utf8'), `${result.elements.join(' ')}\n`);
  assert.equal(mode('etc/dib-manifests/dib_environment'), 0o600);
  assert.match(readFileSync(join(root, 'etc/dib-manifests/dib-manifest-dpkg-dib-test'), 'utf8'), /"package": "nano"/);
  // Build-time things gone: policy-rc.d, the build's apt configuration, lists and caches; resolv.conf restored.
  for (const p of [
    'usr/sbin/policy-rc.d',
    'etc/apt/ramforge-build',
    'etc/apt/apt.conf.d/00ramforge-build',
    'etc/apt/sources.list.d/ramforge-build.sources',
    'etc/dpkg/dpkg.cfg.d/ramforge-build-unsafe-io',
  ])
    assert.equal(existsSync(join(root, p)), false, `${p} removed`);
  assert.deepEqual(aptSources(root), baseSources, "the base's own apt sources are back, unchanged");
  assert.deepEqual(execFileSync('find', [join(root, 'var/lib/apt/lists'), '-type', 'f'], { encoding: 'utf8' }), '');
  assert.deepEqual(execFileSync('find', [join(root, 'var/cache/apt'), '-type', 'f'], { encoding: 'utf8' }), '');
  // ... the downloads are in the shared apt cache instead.
  assert.match(execFileSync('find', [join(cacheDir, 'dib/image-cache/apt'), '-name', 'nano_*.deb'], { encoding: 'utf8' }), /nano_/);
  assert.equal(readFileSync(join(root, 'etc/resolv.conf'), 'utf8'), resolvBefore);
  assert.equal(existsSync(join(root, 'etc/resolv.conf.ORIG')), false);
  // DIB's finalise_base: /tmp emptied, log files truncated, /root logs deleted.
  assert.deepEqual(readdirSync(join(root, 'tmp')), []);
  assert.equal(statSync(join(root, 'var/log/ops.log')).size, 0);
  assert.equal(existsSync(join(root, 'root/ops-build.log')), false);
  assertClean(root);
  assert.equal(existsSync(join(opts.workDir, 'dib_build')), false, 'TMP_BUILD_DIR removed after success');
});

/**
 * DIB's own elements, unchanged: devuser (a user, sudo, an SSH key; package-installs
 * with a pkg-map), dynamic-login (a systemd unit enabled in install.d, static
 * files) and what it pulls in, openssh-server (sshd enabled, its config hardened)
 * and runtime-ssh-host-keys (host keys removed by a cleanup.d script outside the
 * chroot, generated at boot), from Debian's python3-diskimage-builder package
 * (fetched from the host's mirror, only unpacked: none of DIB's Python runs).
 */
test("DIB's devuser, dynamic-login, openssh-server and runtime-ssh-host-keys run unchanged", { timeout: 300_000 }, async (t) => {
  const repo = new AptRepo({ cacheDir: defaultCacheDir(), sources: await readHostSources() });
  const resolved = (await repo.resolve(['python3-diskimage-builder'])).filter((p) => p.name === 'python3-diskimage-builder');
  const [deb] = await repo.download(resolved);
  assert.ok(deb);
  const unpacked = tempDir(t, 'dib-upstream-');
  execFileSync('dpkg-deb', ['-x', deb.path, unpacked]);
  const upstream = join(unpacked, 'usr/lib/python3/dist-packages/diskimage_builder/elements');
  const site = writeTree(tempDir(t), {
    'with-systemd/element-deps': 'package-installs\n',
    'with-systemd/package-installs.yaml': 'systemd:\n  phase: pre-install.d\n',
    'keys/devuser.pub': KEY,
  });
  // Only these two of DIB's elements: its dpkg, package-installs, ... would need DIB's Python; ours stand in.
  for (const e of ['devuser', 'dynamic-login', 'openssh-server', 'runtime-ssh-host-keys']) symlinkSync(join(upstream, e), join(site, e));
  const root = await debianRoot(t);
  const { opts } = baseOptions(t, root, site, {
    elements: ['devuser', 'dynamic-login', 'with-systemd', 'ramforge-debian'],
    // DIB's base would pull these in; here they come through dynamic-login → openssh-server.
    environment: {
      DIB_DEV_USER_USERNAME: 'devuser',
      DIB_DEV_USER_SHELL: '/bin/bash',
      DIB_DEV_USER_PWDLESS_SUDO: 'yes',
      DIB_DEV_USER_AUTHORIZED_KEYS: join(site, 'keys/devuser.pub'),
    },
  });
  const result = await runElements(opts);
  assert.ok(result.scripts.some((s) => s.element === 'devuser' && s.phase === 'install.d'));
  const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
  const m = /^devuser:x:(\d+):(\d+):.*:\/home\/devuser:\/bin\/bash$/m.exec(passwd);
  assert.ok(m, passwd);
  const [uid, gid] = [Number(m[1]), Number(m[2])];
  for (const p of ['home/devuser', 'home/devuser/.ssh', 'home/devuser/.ssh/authorized_keys']) {
    assert.equal(lstatSync(join(root, p)).uid, uid, `${p} owned by devuser`);
    assert.equal(lstatSync(join(root, p)).gid, gid, `${p} group devuser`);
  }
  assert.equal(readFileSync(join(root, 'home/devuser/.ssh/authorized_keys'), 'utf8'), KEY);
  assert.equal(readFileSync(join(root, 'etc/sudoers.d/devuser'), 'utf8'), 'devuser ALL=(ALL) NOPASSWD:ALL\n');
  assert.equal(lstatSync(join(root, 'etc/sudoers.d/devuser')).mode & 0o7777, 0o440);
  assert.match(chrootOut(root, 'dpkg', '-s', 'sudo'), /^Status: install ok installed$/m);
  assert.ok(lstatSync(join(root, 'usr/local/bin/dynamic-login')).isFile());
  const wants = join(root, 'etc/systemd/system/multi-user.target.wants');
  for (const unit of ['dynamic-login.service', 'ssh.service']) assert.ok(lstatSync(join(wants, unit)).isSymbolicLink(), `${unit} enabled`);
  assert.ok(
    readdirSync(join(root, 'etc/systemd/system')).some((d) => isLink(join(root, 'etc/systemd/system', d, 'ssh-keygen.service'))),
    'ssh-keygen.service enabled',
  );
  assert.match(chrootOut(root, 'dpkg', '-s', 'openssh-server'), /^Status: install ok installed$/m);
  assert.match(readFileSync(join(root, 'etc/ssh/sshd_config'), 'utf8'), /^MACs hmac-sha2-512-etm@openssh\.com/m);
  assert.deepEqual(
    readdirSync(join(root, 'etc/ssh')).filter((f) => f.startsWith('ssh_host')),
    [],
    'no host key baked in',
  );
  assertClean(root);
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

test('a source repository on the network is refused with the override to set', { timeout: 120_000 }, async (t) => {
  const root = await debianRoot(t);
  const site = writeTree(tempDir(t), {
    'site-src/element-deps': 'source-repositories\n',
    'site-src/source-repository-site-src': 'site-src git /opt/site https://git.example.invalid/site.git\n',
  });
  const { opts } = baseOptions(t, root, site, { elements: ['site-src', 'ramforge-debian'] });
  await assert.rejects(runElements(opts), (e: unknown) => {
    assert.ok(e instanceof ElementScriptError, String(e));
    assert.equal(e.failure.element, 'source-repositories');
    assert.equal(e.failure.phase, 'extra-data.d');
    assert.match(e.message, /site-src: 'https:\/\/git\.example\.invalid\/site\.git' is not a local path or file:\/\/ URL/);
    assert.match(e.message, /DIB_REPOLOCATION_site_src/);
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
