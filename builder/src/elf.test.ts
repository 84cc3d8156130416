import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNeeded } from './elf.js';

test('readNeeded lists the shared libraries of a dynamic binary', async () => {
  const needed = await readNeeded(process.execPath);
  assert.ok(needed?.includes('libc.so.6'), String(needed));
});

test('readNeeded: a script is not ELF, a static binary needs nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'elf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 's'), '#!/bin/sh\necho hi\n');
  assert.equal(await readNeeded(join(dir, 's')), undefined);
  assert.deepEqual(await readNeeded('/bin/busybox'), []);
});
