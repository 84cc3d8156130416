/**
 * The built-in `base` element's install.d/10-cloud-init (DIB's
 * DIB_CLOUD_INIT_ETC_HOSTS) on a real Debian root (test/support/debian-rootfs.ts),
 * as root: first the hook itself in a chroot, each case read back from the
 * tree; then a whole element run with `base`, the variable given as a spec's
 * environment would give it.
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { defaultCacheDir } from '../../builder/src/defaults.js';
import { BUILTIN_ELEMENTS_DIR, mountsUnder, runElements } from '../../builder/src/flavors/dib/elements/runner.js';
import { tempDir, writeTree } from '../../builder/src/flavors/dib/elements/test-trees.js';
import { debianBaseTar, debianRoot, hostRelease } from '../support/debian-rootfs.js';

const HOOK = join(BUILTIN_ELEMENTS_DIR, 'base/install.d/10-cloud-init');
const CFG_DIR = 'etc/cloud/cloud.cfg.d';
const HOSTS_CFG = `${CFG_DIR}/10_etc_hosts.cfg`;

test('prepare the Debian base (cached)', { timeout: 300_000 }, async () => {
  await debianBaseTar();
});

test('10-cloud-init: manage_etc_hosts written only when DIB_CLOUD_INIT_ETC_HOSTS is set and not empty', { timeout: 120_000 }, async (t) => {
  const root = await debianRoot(t);
  copyFileSync(HOOK, join(root, 'tmp/10-cloud-init'));
  chmodSync(join(root, 'tmp/10-cloud-init'), 0o755);
  /** The hook in the chroot, as install.d runs it: `value` undefined leaves the variable unset. */
  const runHook = (value: string | undefined) => {
    const env: Record<string, string> = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root' };
    if (value !== undefined) env.DIB_CLOUD_INIT_ETC_HOSTS = value;
    const r = spawnSync('chroot', [root, '/bin/bash', '-c', 'umask 022; exec /tmp/10-cloud-init'], {
      encoding: 'utf8',
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.equal(r.status, 0, r.stderr);
  };
  const fresh = () => rmSync(join(root, 'etc/cloud'), { recursive: true, force: true });
  const read = (p: string) => readFileSync(join(root, p), 'utf8');

  // No cloud-init in the image, variable unset (the default) or empty: the directory is made, nothing written in it.
  assert.equal(existsSync(join(root, 'etc/cloud')), false, 'minbase has no cloud-init');
  for (const value of [undefined, '']) {
    fresh();
    runHook(value);
    assert.ok(statSync(join(root, CFG_DIR)).isDirectory(), `${CFG_DIR} made (${value === undefined ? 'unset' : 'empty'})`);
    assert.deepEqual(readdirSync(join(root, CFG_DIR)), [], `nothing written (${value === undefined ? 'unset' : 'empty'})`);
  }

  // Set: the one line, the value as given, a 0644 root file; with or without cloud-init's directory beforehand.
  fresh();
  runHook('localhost');
  assert.equal(read(HOSTS_CFG), 'manage_etc_hosts: localhost\n');
  assert.equal(statSync(join(root, HOSTS_CFG)).mode & 0o7777, 0o644);
  assert.equal(statSync(join(root, HOSTS_CFG)).uid, 0);

  // An image with cloud-init's directory (its own drop-in and an older hosts setting): the setting replaced, the rest kept.
  fresh();
  mkdirSync(join(root, CFG_DIR), { recursive: true });
  writeFileSync(join(root, CFG_DIR, '05_logging.cfg'), 'output: {all: ">> /var/log/cloud-init-output.log"}\n');
  writeFileSync(join(root, HOSTS_CFG), 'manage_etc_hosts: true\n');
  runHook('template');
  assert.equal(read(HOSTS_CFG), 'manage_etc_hosts: template\n');
  assert.equal(read(`${CFG_DIR}/05_logging.cfg`), 'output: {all: ">> /var/log/cloud-init-output.log"}\n');
  // ... and unset or empty there: the existing files are left as they are.
  for (const value of [undefined, '']) {
    runHook(value);
    assert.equal(read(HOSTS_CFG), 'manage_etc_hosts: template\n');
    assert.deepEqual(readdirSync(join(root, CFG_DIR)).sort(), ['05_logging.cfg', '10_etc_hosts.cfg']);
  }
});

/** A run of `base` (with the package update and open-iscsi skipped, to keep it short) over a root where an element left cloud-init's directory. */
async function runBase(t: { after: (fn: () => void) => void }, environment: Record<string, string>) {
  const root = await debianRoot(t);
  const site = writeTree(tempDir(t), {
    'fake-cloud-init/pre-install.d/50-cloud-dir +x':
      '#!/bin/bash\nset -eu\nmkdir -p /etc/cloud/cloud.cfg.d\necho "datasource_list: [ConfigDrive]" > /etc/cloud/cloud.cfg.d/90_ds.cfg\n',
  });
  const work = tempDir(t, 'dib-base-work-');
  const result = await runElements({
    root,
    elements: ['base', 'fake-cloud-init', 'ramforge-debian'],
    elementsPath: [site],
    environment: { DIB_AVOID_PACKAGES_UPDATE: '1', DIB_SKIP_BASE_PACKAGE_INSTALL: '1', DIB_DEBUG_TRACE: '0', ...environment },
    release: hostRelease(),
    arch: 'amd64',
    imageName: 'dib-base-test',
    workDir: join(work, 'work'),
    cacheDir: defaultCacheDir(),
    epoch: 1767225600,
    log: () => {},
    signal: new AbortController().signal,
  });
  assert.ok(
    result.scripts.some((s) => s.phase === 'install.d' && s.script === '10-cloud-init' && s.element === 'base'),
    'install.d/10-cloud-init ran, from base',
  );
  assert.deepEqual(mountsUnder(root), []);
  return root;
}

test('a build with base: DIB_CLOUD_INIT_ETC_HOSTS set writes the setting into the image', { timeout: 600_000 }, async (t) => {
  const root = await runBase(t, { DIB_CLOUD_INIT_ETC_HOSTS: 'localhost' });
  assert.equal(readFileSync(join(root, HOSTS_CFG), 'utf8'), 'manage_etc_hosts: localhost\n');
  assert.equal(readFileSync(join(root, CFG_DIR, '90_ds.cfg'), 'utf8'), 'datasource_list: [ConfigDrive]\n');
});

test('a build with base: DIB_CLOUD_INIT_ETC_HOSTS unset writes nothing', { timeout: 600_000 }, async (t) => {
  const root = await runBase(t, {});
  assert.deepEqual(readdirSync(join(root, CFG_DIR)), ['90_ds.cfg']);
});
