import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserError } from '../errors.js';
import { buildVmediaCmdline } from './iso-cmdline.js';

describe('buildVmediaCmdline', () => {
  it('puts boot_method=vmedia first and normalises blanks', () => {
    assert.equal(buildVmediaCmdline(undefined), 'boot_method=vmedia');
    assert.equal(buildVmediaCmdline('  console=ttyS0   ipa-debug=1 '), 'boot_method=vmedia console=ttyS0 ipa-debug=1');
  });

  it('keeps a user boot_method instead of adding a second one', () => {
    assert.equal(buildVmediaCmdline('boot_method=foo a=1'), 'boot_method=foo a=1');
  });

  it('refuses characters GRUB would escape and control characters', () => {
    for (const bad of ['a="b c"', "a='b'", 'a=b\\c', 'a=1\nDEFAULT evil', 'a=1\tb=2']) {
      assert.throws(() => buildVmediaCmdline(bad), UserError, JSON.stringify(bad));
    }
  });

  it('refuses command lines the kernel would truncate', () => {
    assert.throws(() => buildVmediaCmdline(`x=${'a'.repeat(2000)}`), /limit is/);
  });
});
