import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), 'main.ts');

/** A newc archive of `n` empty directories (d00000, d00001, ...), written here so the test needs no builder. */
function newcOfDirs(n: number): Buffer {
  const parts: Buffer[] = [];
  const entry = (name: string, mode: number, ino: number): void => {
    const fields = [ino, mode, 0, 0, 1, 0, 0, 0, 0, 0, 0, name.length + 1, 0];
    const header = '070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join('');
    const head = Buffer.from(header + name + '\0');
    parts.push(head, Buffer.alloc((4 - (head.length % 4)) % 4));
  };
  for (let i = 0; i < n; i++) entry(`d${String(i).padStart(5, '0')}`, 0o40755, i + 1);
  entry('TRAILER!!!', 0, 0);
  return Buffer.concat(parts);
}

test('the CLI writes all of its output before it exits, also into a pipe (ramforge ls of a 6,000-entry image)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-cli-'));
  try {
    const image = join(dir, 'big.cpio');
    writeFileSync(image, newcOfDirs(6000));
    // A reader that starts late, as a pager does: the pipe is full when the CLI is done, the rest still queued.
    const script = `"$0" --import tsx "$1" ls "$2" | (sleep 1; cat) > "$3"; echo "\${PIPESTATUS[0]}"`;
    const out = join(dir, 'out.txt');
    const r = spawnSync('bash', ['-c', script, process.execPath, MAIN, image, out], { encoding: 'utf8' });
    assert.equal(r.stdout.trim(), '0', r.stderr);
    const listing = readFileSync(out, 'utf8');
    assert.equal(listing.split('\n').filter((l) => / d\d{5}$/.test(l)).length, 6000);
    assert.match(listing, / d05999\n/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ramforge ls: a directory, an empty file and zero padding are bad input (exit 2) that says what it is', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-cli-'));
  try {
    writeFileSync(join(dir, 'empty'), '');
    writeFileSync(join(dir, 'zeros'), Buffer.alloc(512));
    for (const [file, why] of [
      [dir, /is not a file/],
      [join(dir, 'empty'), /holds no initramfs member \(it is empty\)/],
      [join(dir, 'zeros'), /holds no initramfs member \(only zero padding\)/],
    ] as const) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'ls', file], { encoding: 'utf8' });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, why);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
