import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { dirEntries, sleepUntilDirChanges } from './dir-change.js';

test('sleepUntilDirChanges: ends as soon as an entry appears, else after its time; no directory is a plain sleep', async () => {
  const root = mkdtempSync(join(tmpdir(), 'dirchange-'));
  try {
    const dir = join(root, 'block');
    mkdirSync(join(dir, 'loop0'), { recursive: true });
    const before = await dirEntries(dir);
    assert.equal(before, 'loop0');
    // A disk appears 100 ms in: the 10 s wait ends long before its time.
    let t0 = Date.now();
    setTimeout(() => mkdirSync(join(dir, 'vda')), 100);
    await sleepUntilDirChanges(dir, before, 10_000);
    assert.ok(Date.now() - t0 < 5_000, `waited ${Date.now() - t0} ms for a change made after 100 ms`);
    assert.equal(await dirEntries(dir), 'loop0 vda');
    // Nothing changes: the whole time is slept.
    t0 = Date.now();
    await sleepUntilDirChanges(dir, 'loop0 vda', 200);
    assert.ok(Date.now() - t0 >= 190, `returned after ${Date.now() - t0} ms of 200`);
    // No such directory (a fixture root without /sys/block): '' stays '', a plain sleep.
    assert.equal(await dirEntries(join(root, 'none')), '');
    t0 = Date.now();
    await sleepUntilDirChanges(join(root, 'none'), '', 120);
    assert.ok(Date.now() - t0 >= 110);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
