/**
 * A dib build as an ordinary user (issue 9, item 5): a throwaway system user
 * with a subordinate uid/gid range builds a small dib ramdisk (its own
 * cache, so the Debian base goes through mmdebstrap's unshare mode, and the
 * element runner through a user namespace: userns.ts). The initramfs is
 * read back: a file owned by a user the element made keeps that uid and its
 * modes, root's files are root's, setuid bits survive, and no uid of the
 * host's subordinate range or of the caller leaks into the archive.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../builder/src/agent-bundle.js';
import { listInitramfs, type InitramfsListEntry } from '../../builder/src/archive/initramfs-list.js';

const USER = `rfdib${process.pid}`;
// A range far from the usual 100000.. ones, so it cannot overlap a real user's.
const SUB = 3_500_000_000 + (process.pid % 1000) * 65536;
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root to make a throwaway user (useradd, runuser)';
  for (const t of ['useradd', 'usermod', 'userdel', 'runuser', 'newuidmap', 'newgidmap', 'unshare', 'mmdebstrap'])
    if (!has(t)) return `${t} is not installed`;
  return false;
}
const skip = skipReason();

let dir = '';
let made = false;

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'ramforge-rootless-'));
  chmodSync(dir, 0o755);
  const sh = (argv: string[]) => {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    assert.equal(r.status, 0, `${argv.join(' ')}: ${r.stderr}`);
  };
  sh(['useradd', '--system', '--create-home', '--home-dir', join(dir, 'home'), '--shell', '/bin/bash', USER]);
  made = true;
  sh(['usermod', '--add-subuids', `${SUB}-${SUB + 65535}`, '--add-subgids', `${SUB}-${SUB + 65535}`, USER]);
  const el = join(dir, 'elements', 'site-owner', 'install.d');
  mkdirSync(el, { recursive: true });
  writeFileSync(
    join(el, '50-owner'),
    [
      '#!/bin/bash',
      'set -eux',
      'useradd -m -u 1234 opsuser',
      'install -d -o opsuser -g opsuser -m 0750 /home/opsuser/data',
      'echo hi > /home/opsuser/data/f',
      'chown 1234:1234 /home/opsuser/data/f',
      'chmod 0640 /home/opsuser/data/f',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  writeFileSync(
    join(dir, 'spec.yaml'),
    'flavor: dib\nname: rootless\niso: false\nsourceDateEpoch: 1700000000\ndib:\n  elementsPath: [elements]\n  elements: [site-owner]\n',
  );
  mkdirSync(join(dir, 'cache'));
  sh(['chown', '-R', `${USER}:`, dir]);
});

after(() => {
  if (made) spawnSync('userdel', [USER]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('dib as an ordinary user with a subuid range: real owners and modes in the initramfs', { skip, timeout: 20 * 60_000 }, async () => {
  const t0 = Date.now();
  const r = spawnSync(
    'runuser',
    [
      '-u',
      USER,
      '--',
      'env',
      '-i',
      `PATH=${process.env.PATH}`,
      `HOME=${join(dir, 'home')}`,
      `RAMFORGE_CACHE=${join(dir, 'cache')}`,
      `TMPDIR=${dir}`,
      'CI=1',
      process.execPath,
      '--import',
      join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs'),
      join(REPO_ROOT, 'builder/src/cli/main.ts'),
      'build',
      '--spec',
      'spec.yaml',
      '--no-install',
    ],
    { cwd: dir, encoding: 'utf8', timeout: 19 * 60_000, maxBuffer: 256 * 1024 * 1024 },
  );
  assert.equal(r.status, 0, `${r.stderr.slice(-3000)}\n${r.stdout.slice(-3000)}`);
  process.stderr.write(`[dib-rootless] build as ${USER}: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  const initrd = join(dir, 'output', 'rootless', 'rootless.initramfs');
  assert.ok(existsSync(initrd), `no ${initrd}`);
  const entries = new Map<string, InitramfsListEntry>();
  for (const m of await listInitramfs(initrd)) for (const e of m.entries) entries.set(e.path.replace(/^\.?\//, ''), e);
  const get = (p: string) => {
    const e = entries.get(p);
    assert.ok(e, `${p} is not in the initramfs`);
    return e;
  };
  const own = (p: string, uid: number, gid: number, mode: number) => {
    const e = get(p);
    assert.deepEqual([e.uid, e.gid, e.mode.toString(8)], [uid, gid, mode.toString(8)], p);
  };
  own('home/opsuser/data/f', 1234, 1234, 0o640);
  own('home/opsuser/data', 1234, 1234, 0o750);
  own('usr/bin/passwd', 0, 0, 0o4755);
  own('etc/passwd', 0, 0, 0o644);
  own('root', 0, 0, 0o700);
  // mmdebstrap's sync-in made this with the caller's own uid in unshare mode (mmdebstrap.ts chowns it back).
  own('var/cache/apt/archives', 0, 0, 0o755);
  assert.equal(get('etc/shadow').uid, 0);
  assert.notEqual(get('etc/shadow').gid, 0, '/etc/shadow keeps group shadow');
  const leaked = [...entries.values()].filter((e) => e.uid >= 65536 || e.gid >= 65536);
  assert.deepEqual(
    leaked.slice(0, 5).map((e) => `${e.path} ${e.uid}:${e.gid}`),
    [],
    'no uid of the subordinate range in the archive',
  );
  const dev = get('dev/console');
  assert.equal(dev.type, 'char');
});
