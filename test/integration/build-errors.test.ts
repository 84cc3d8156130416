/**
 * Bad input through the real CLI: one clear error line naming the cause and
 * the fix, the right exit code, and output/ exactly as it was before.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../builder/src/agent-bundle.js';
import { sharedBuild } from '../support/shared-build.js';

const CLI = join(REPO_ROOT, 'ramforge');

function snapshot(dir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(`${p.slice(dir.length)} ${statSync(p).size} ${readFileSync(p, 'utf8')}`);
    }
  };
  walk(dir);
  return out.join('\n');
}

const projects: string[] = [];
after(() => {
  for (const d of projects.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A project dir whose output/ already holds a previous build; removed after the last test. */
function project(spec: string): { dir: string; before: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-bad-'));
  projects.push(dir);
  mkdirSync(join(dir, 'output', 'tinyipa'), { recursive: true });
  writeFileSync(join(dir, 'output', 'tinyipa', 'tinyipa.initramfs'), 'previous build\n');
  writeFileSync(join(dir, 'spec.yaml'), spec);
  return { dir, before: snapshot(join(dir, 'output')) };
}

function ramforge(dir: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(CLI, args, { cwd: dir, encoding: 'utf8', env: { ...process.env, CI: '1', ...env }, timeout: 15 * 60_000 });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

function expectFailure(spec: string, code: number, pattern: RegExp, extraArgs: string[] = []): string {
  const p = project(spec);
  const r = ramforge(p.dir, ['build', '--spec', 'spec.yaml', '--no-install', ...extraArgs]);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('ramforge: error:'));
  assert.equal(r.code, code, `exit code; stderr:\n${r.stderr.slice(-3000)}`);
  assert.ok(errors.length >= 1, `an error line; stderr:\n${r.stderr.slice(-3000)}`);
  assert.match(errors.join('\n'), pattern);
  assert.equal(snapshot(join(p.dir, 'output')), p.before, 'output/ must be unchanged');
  assert.deepEqual(readdirSync(join(p.dir, '.workspace')).length, 0, 'no workspace left behind');
  return r.stderr;
}

before(
  async () => {
    await sharedBuild();
  },
  { timeout: 30 * 60_000 },
); // warms the package cache

test('bad input: an unknown flavor (exit 2, names the known ones)', () => {
  const p = project('flavor: tinyipaa\n');
  const r = ramforge(p.dir, ['build', '--spec', 'spec.yaml', '--no-install']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /flavor: "tinyipaa" is not one of tinyipa, dib, coreos \(did you mean 'tinyipa'\?\)/);
  assert.equal(snapshot(join(p.dir, 'output')), p.before);
});

test('bad input: a spec field of the wrong type (exit 2, names the path)', () => {
  const p = project('tinyipa:\n  kernel:\n    modules: net\n');
  const r = ramforge(p.dir, ['build', '--spec', 'spec.yaml']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /spec\.yaml: tinyipa\.kernel\.modules: expected an? array, got string/);
});

test('bad input: a key from before the flavor sections (exit 2, names its new place)', () => {
  const p = project('kernel:\n  package: linux-image-amd64\n  cmdline: quiet\n');
  const r = ramforge(p.dir, ['build', '--spec', 'spec.yaml', '--no-install']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /spec\.yaml: kernel\.cmdline: moved to cmdline/);
  assert.match(r.stderr, /spec\.yaml: kernel: moved to tinyipa\.kernel \(write it under 'tinyipa:' as 'kernel:'/);
  assert.equal(snapshot(join(p.dir, 'output')), p.before);
});

test('bad input: an SSH key that is not a public key (exit 2, names the entry)', () => {
  const p = project('ssh:\n  authorizedKeys: [keys.pub]\n');
  writeFileSync(join(p.dir, 'keys.pub'), '-----BEGIN OPENSSH PRIVATE KEY-----\n');
  const r = ramforge(p.dir, ['build', '--spec', 'spec.yaml', '--no-install']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /spec\.yaml: ssh\.authorizedKeys\[0\]: .*keys\.pub is a private key \(give the public key/);
  assert.equal(r.stderr.match(/private key/g)?.length, 1, 'said once, not per line of the key');
  assert.equal(snapshot(join(p.dir, 'output')), p.before);
});

test('bad input: a kernel package that does not exist (exit 2)', { timeout: 10 * 60_000 }, () => {
  expectFailure('tinyipa:\n  kernel:\n    package: linux-image-does-not-exist\n', 2, /linux-image-does-not-exist/);
});

test('bad input: an unreachable mirror (exit 1, names the mirror)', { timeout: 10 * 60_000 }, () => {
  // Port 9 on loopback: nothing listens there, so the connection is refused at once.
  expectFailure('tinyipa:\n  debian:\n    mirror: http://127.0.0.1:9/debian\n', 1, /127\.0\.0\.1:9/, []);
});

test('bad input: a tarball layer escaping the root (exit 2, names the entry)', { timeout: 10 * 60_000 }, async () => {
  const p = project('tarballs:\n  - src: evil.tar\n');
  const { pack } = await import('tar-stream');
  const tar = pack();
  tar.entry({ name: 'ok.txt' }, 'fine');
  tar.entry({ name: '../../escaped.txt' }, 'bad');
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const c of tar) chunks.push(c as Buffer);
  writeFileSync(join(p.dir, 'evil.tar'), Buffer.concat(chunks));
  const r = ramforge(p.dir, ['build', '--spec', 'spec.yaml', '--no-install']);
  assert.equal(r.code, 2, r.stderr.slice(-2000));
  assert.match(r.stderr, /escaped\.txt/);
  assert.equal(snapshot(join(p.dir, 'output')), p.before);
});

test('bad input: the disk fills up while writing (exit 1, says so, output/ unchanged)', {
  timeout: 10 * 60_000,
  skip: process.getuid?.() !== 0 ? 'needs root to mount a small tmpfs' : false,
}, () => {
  const p = project('name: tinyipa\n');
  const mnt = join(p.dir, 'small');
  mkdirSync(mnt);
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', mnt]);
  assert.equal(mount.status, 0, String(mount.stderr));
  try {
    mkdirSync(join(mnt, 'output', 'tinyipa'), { recursive: true });
    writeFileSync(join(mnt, 'output', 'tinyipa', 'tinyipa.initramfs'), 'previous build\n');
    const before = snapshot(join(mnt, 'output'));
    const r = ramforge(p.dir, ['build', '--spec', 'spec.yaml', '--no-install', '--output', join(mnt, 'output')]);
    assert.equal(r.code, 1, r.stderr.slice(-3000));
    assert.match(r.stderr, /no space left on device/);
    assert.match(r.stderr, /hint: free disk space/);
    assert.equal(snapshot(join(mnt, 'output')), before, 'output/ must be unchanged');
    assert.equal(readdirSync(join(mnt, '.workspace')).length, 0, 'no workspace left behind');
  } finally {
    spawnSync('umount', [mnt]);
  }
});

// The dib flavor (issue 9, "Bad input"): element mistakes are found from the element directories before any
// slow work; a failing script and an unset `when` are found while the elements run. Each: one error line,
// exit 2 for input / 1 for a failed script, output/ unchanged, no workspace and no mount left.
const DIB_SPEC = 'flavor: dib\nname: bad-dib\niso: false\ndib:\n  elementsPath: [elements]\n';

/** `errorLines`: the headline plus, for a failed script, the last lines of its output (each prefixed by the CLI). */
function dibFailure(elements: string[], files: Record<string, string>, code: number, pattern: RegExp, errorLines = 1): string {
  const p = project(`${DIB_SPEC}  elements: [${elements.join(', ')}]\n`);
  for (const [rel, text] of Object.entries(files)) {
    const [path, exec] = rel.split(' ');
    mkdirSync(join(p.dir, 'elements', path!, '..'), { recursive: true });
    writeFileSync(join(p.dir, 'elements', path!), text, { mode: exec === '+x' ? 0o755 : 0o644 });
  }
  mkdirSync(join(p.dir, 'elements'), { recursive: true });
  const t0 = Date.now();
  const r = ramforge(p.dir, ['build', '--spec', 'spec.yaml', '--no-install']);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('ramforge: error:'));
  assert.equal(r.code, code, `exit code; stderr:\n${r.stderr.slice(-3000)}`);
  assert.equal(errors.length, errorLines, `error lines; stderr:\n${r.stderr.slice(-3000)}`);
  assert.match(errors[0]!, pattern);
  assert.equal(snapshot(join(p.dir, 'output')), p.before, 'output/ must be unchanged');
  assert.deepEqual(readdirSync(join(p.dir, '.workspace')), [], 'no workspace left behind');
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(p.dir));
  assert.deepEqual(mounts, [], 'nothing left mounted');
  process.stderr.write(`[build-errors] dib ${pattern}: exit ${r.code} after ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  return r.stderr;
}

const dibSkip = process.getuid?.() !== 0 ? 'the dib flavor builds as root' : false;

test('bad input, dib: an unknown element (exit 2, names it and every path searched, before any slow work)', { skip: dibSkip }, () => {
  const err = dibFailure(['no-such-element'], { 'present/element-deps': '' }, 2, /element 'no-such-element'.*not found/i);
  assert.match(err, /\/elements\b/);
  assert.doesNotMatch(err, /debian base|mmdebstrap/, 'found before the Debian base');
});

test('bad input, dib: a second provider of operating-system (exit 2, names both)', { skip: dibSkip }, () => {
  dibFailure(
    ['other-os'],
    { 'other-os/element-provides': 'operating-system\n' },
    2,
    /elements (ramforge-debian and other-os|other-os and ramforge-debian) both provide 'operating-system'/,
  );
});

test('bad input, dib: the same hook in two elements (exit 2, names both)', { skip: dibSkip }, () => {
  dibFailure(
    ['site-a', 'site-b'],
    { 'site-a/install.d/50-same +x': '#!/bin/bash\ntrue\n', 'site-b/install.d/50-same +x': '#!/bin/bash\ntrue\n' },
    2,
    /install\.d\/50-same.*(site-a.*site-b|site-b.*site-a)/,
  );
});

test('bad input, dib: an element with block-device.d (exit 2)', { skip: dibSkip }, () => {
  dibFailure(['disk'], { 'disk/block-device.d/10-partition +x': '#!/bin/bash\ntrue\n' }, 2, /element disk has block-device\.d/);
});

test('bad input, dib: a failing element script (exit 1, names element, phase, script; its last lines follow)', {
  skip: dibSkip,
  timeout: 10 * 60_000,
}, () => {
  const err = dibFailure(
    ['fails'],
    { 'fails/root.d/10-fails +x': '#!/bin/bash\nfor i in $(seq 1 25); do echo "fails line $i"; done\nexit 3\n' },
    1,
    /^ramforge: error: element fails: root\.d\/10-fails exited with code 3; last 20 lines of its output:$/,
    21,
  );
  const tail = err.split('\n').filter((l) => l.startsWith('ramforge: error:   | '));
  assert.deepEqual(
    tail.map((l) => l.slice('ramforge: error:   | '.length)),
    Array.from({ length: 20 }, (_, i) => `fails line ${i + 6}`),
  );
});

test('bad input, dib: a package-installs `when` on an unset variable (exit 2, names it)', { skip: dibSkip, timeout: 10 * 60_000 }, () => {
  dibFailure(
    ['site-pkgs'],
    { 'site-pkgs/package-installs.yaml': 'nano:\n  when: OPS_UNSET_VARIABLE = yes\n', 'site-pkgs/element-deps': 'package-installs\n' },
    2,
    /element site-pkgs: package 'nano' has 'when: OPS_UNSET_VARIABLE = yes' but the variable OPS_UNSET_VARIABLE is not set/,
  );
});

test('bad input, dib: as an ordinary user without a subuid range, one error line naming both fixes before any slow work', {
  skip: dibSkip,
  timeout: 5 * 60_000,
}, () => {
  const p = project(DIB_SPEC.replace('  elementsPath: [elements]\n', '  elements: []\n'));
  const cache = join(p.dir, 'cache');
  mkdirSync(cache);
  spawnSync('chmod', ['-R', 'a+rwX', p.dir]);
  const r = spawnSync('runuser', ['-u', 'nobody', '--', CLI, 'build', '--spec', 'spec.yaml', '--no-install'], {
    cwd: p.dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, CI: '1', HOME: p.dir, RAMFORGE_CACHE: cache, TMPDIR: p.dir },
    timeout: 5 * 60_000,
  });
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('ramforge: error:'));
  assert.equal(r.status, 2, r.stderr.slice(-3000));
  assert.equal(errors.length, 1, r.stderr.slice(-3000));
  assert.match(errors[0]!, /dib element runner: .*as uid \d+ needs a user namespace: missing a range for nobody in \/etc\/subuid/);
  assert.match(r.stderr, /hint: run the build as root .*or install uidmap .*\/etc\/subuid/);
  assert.deepEqual(readdirSync(cache), [], 'nothing fetched or built');
  assert.equal(snapshot(join(p.dir, 'output')), p.before, 'output/ must be unchanged');
});
