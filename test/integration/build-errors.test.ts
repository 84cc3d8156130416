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
  assert.match(r.stderr, /spec\.yaml: ssh\.authorizedKeys\[0\]: .*keys\.pub line 1: this is a private key: give the public one/);
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
