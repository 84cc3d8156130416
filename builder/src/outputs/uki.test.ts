import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { makeUki } from './uki.js';

const dir = mkdtempSync(join(tmpdir(), 'rf-uki-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('makeUki: a missing kernel or initramfs is a UserError naming it, before anything is written', async () => {
  const initrd = join(dir, 'initrd');
  writeFileSync(initrd, 'x');
  const out = join(dir, 'out.efi');
  for (const [kernel, rd, what] of [
    [join(dir, 'no-vmlinuz'), initrd, 'kernel'],
    [initrd, join(dir, 'no-initrd'), 'initrd'],
    [dir, initrd, 'kernel'],
  ] as const) {
    await assert.rejects(makeUki({ kernel, initrd: rd, cmdline: '', out, workDir: dir }), (e: unknown) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match(e.message, new RegExp(`cannot read the ${what} '`));
      return true;
    });
  }
  assert.equal(existsSync(out), false);
  assert.equal(existsSync(`${out}.partial`), false);
});
