import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareSortN, listEnvironmentFiles, listPhaseScripts } from './run-parts.js';

function gnuSortN(lines: string[]): string[] {
  const out = execFileSync('/usr/bin/sort', ['-n'], { input: `${lines.join('\n')}\n`, env: { LANG: 'C', LC_ALL: 'C' } });
  return out.toString().split('\n').slice(0, -1);
}

const TRICKY = [
  '10-a',
  '9-b',
  '01-x',
  '1-x',
  '1-X',
  'a',
  '_z',
  'Z',
  '-z',
  '-',
  '-5-neg',
  '-05-neg',
  '-10-neg',
  '0',
  '00',
  '000-zero',
  '100',
  '99',
  '99-a',
  '99a',
  '99_b',
  '10',
  '2',
  '20-b',
  '20-a',
  'zz-last',
  'A-first',
  '05-five',
  '5-five',
  '50',
  '12345678901234567890-huge',
  '12345678901234567891-huger',
];

test('compareSortN orders names exactly as LANG=C sort -n does', () => {
  const ours = [...TRICKY].sort(compareSortN);
  assert.deepEqual(ours, gnuSortN(TRICKY));
  // Reversed input, same result: the order does not depend on the input order.
  assert.deepEqual([...TRICKY].reverse().sort(compareSortN), ours);
});

test('compareSortN also matches sort -n on fractions (environment.d names may hold dots)', () => {
  const names = ['1.5-a', '1.10-b', '1.05', '.5', '-.5', '1.', '1.0', '2.0.1', '10.01', '10.1', '-1.5', '-1.25'];
  assert.deepEqual([...names].sort(compareSortN), gnuSortN(names));
});

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'dib-run-parts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a phase runs executable files named [0-9A-Za-z_-]+ only, in sort -n order', (t) => {
  const root = tempDir(t);
  const dir = join(root, 'install.d');
  mkdirSync(dir);
  const exec = ['10-a', '9-b', '01-x', 'a', '_z', '50-foo.sh', '75-has space'];
  for (const n of exec) writeFileSync(join(dir, n), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(join(dir, '20-not-exec'), 'data\n', { mode: 0o644 });
  writeFileSync(join(dir, 'package-installs-foo'), 'vim\n', { mode: 0o644 });
  mkdirSync(join(dir, '30-a-directory'), { mode: 0o755 });
  mkdirSync(join(dir, '40-install-types-dir'));
  symlinkSync('10-a', join(dir, '15-link-to-file'));
  symlinkSync('missing', join(dir, '16-dangling'));
  symlinkSync('30-a-directory', join(dir, '17-link-to-dir'));

  const { scripts, skipped } = listPhaseScripts(dir);
  assert.deepEqual(scripts, gnuSortN(['10-a', '9-b', '01-x', 'a', '_z', '15-link-to-file']));
  assert.deepEqual(scripts, ['_z', 'a', '01-x', '9-b', '10-a', '15-link-to-file']);
  assert.deepEqual(skipped, [
    { name: '20-not-exec', reason: 'not executable' },
    { name: '50-foo.sh', reason: 'name' },
    { name: '75-has space', reason: 'name' },
    { name: 'package-installs-foo', reason: 'not executable' },
  ]);
  chmodSync(join(dir, '20-not-exec'), 0o700);
  assert.ok(listPhaseScripts(dir).scripts.includes('20-not-exec'), 'the executable bit is read at call time');
  assert.deepEqual(listPhaseScripts(join(root, 'post-install.d')), { scripts: [], skipped: [] }, 'a phase nobody has');
});

test('environment.d files: any regular file named [0-9A-Za-z_.-]+, in the byte order of their paths as DIB sorts them', (t) => {
  const root = tempDir(t);
  const dir = join(root, 'environment.d');
  mkdirSync(dir);
  const names = ['10-a.bash', '9-b.bash', '01-x', 'zz', '99-dib-init-system.bash', '11-dib-install-type.bash'];
  for (const n of names) writeFileSync(join(dir, n), 'export A=1\n', { mode: 0o644 });
  writeFileSync(join(dir, '50-bad name'), '', { mode: 0o644 });
  mkdirSync(join(dir, '20-dir'));
  const ours = listEnvironmentFiles(dir);
  // DIB: find "$dir" -maxdepth 1 -xtype f | grep -E '/[0-9A-Za-z_\.-]+$' | LANG=C sort -n (full paths).
  const theirs = gnuSortN(names.map((n) => join(dir, n))).map((p) => p.slice(dir.length + 1));
  assert.deepEqual(ours, theirs);
  assert.deepEqual(ours, ['01-x', '10-a.bash', '11-dib-install-type.bash', '9-b.bash', '99-dib-init-system.bash', 'zz']);
  assert.deepEqual(listEnvironmentFiles(join(root, 'nope')), []);
});
