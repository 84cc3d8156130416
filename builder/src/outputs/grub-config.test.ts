import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GRUB_EFI_MODULES, grubMkimageArgv, quoteGrubWord, renderGrubConfig, renderGrubEarlyConfig } from './grub-config.js';

const search = { idFile: '/.ramforge/0123456789abcdef', label: 'VMEDIA_BOOT_ISO' };

describe('renderGrubEarlyConfig', () => {
  const cfg = renderGrubEarlyConfig(search);

  it('searches the label, then lets the id file win, then loads the ISO grub.cfg', () => {
    const lines = cfg.split('\n');
    assert.equal(lines[0], 'search --no-floppy --set=root --label VMEDIA_BOOT_ISO');
    assert.equal(lines[1], 'search --no-floppy --set=root --file /.ramforge/0123456789abcdef');
    assert.ok(lines.includes('configfile ($root)/boot/grub/grub.cfg'));
  });

  it('uses only rescue-parser syntax (no if/then, which the embedded config cannot run)', () => {
    assert.doesNotMatch(cfg, /^\s*(if|then|else|fi)\b/m);
  });
});

describe('renderGrubConfig', () => {
  const cfg = renderGrubConfig({
    ...search,
    kernelPath: '/vmlinuz',
    initrdPath: '/initrd',
    cmdline: 'boot_method=vmedia console=ttyS0 ipa-api-url=http://10.0.2.2:6385 x=$y;z',
    timeoutSeconds: 0,
    title: 'ramforge',
  });

  it('boots the kernel and initrd from the ISO with the whole command line', () => {
    assert.match(cfg, /^set timeout=0$/m);
    assert.match(cfg, /^ {2}linux \/vmlinuz boot_method=vmedia console=ttyS0 ipa-api-url=http:\/\/10\.0\.2\.2:6385 'x=\$y;z'$/m);
    assert.match(cfg, /^ {2}initrd \/initrd$/m);
  });

  it('points root at the ISO, by id file then label', () => {
    assert.match(cfg, /search --no-floppy --set=isoroot --file \/\.ramforge\/0123456789abcdef/);
    assert.match(cfg, /search --no-floppy --set=isoroot --label VMEDIA_BOOT_ISO/);
  });
});

describe('quoteGrubWord', () => {
  it('leaves plain words alone and single-quotes the rest', () => {
    assert.equal(quoteGrubWord('a=b,c:/d'), 'a=b,c:/d');
    assert.equal(quoteGrubWord('$x'), "'$x'");
    assert.equal(quoteGrubWord("it's"), "'it'\\''s'");
  });
});

describe('grubMkimageArgv', () => {
  it('builds an x86_64-efi image with the embedded config and sorted modules, no memdisk', () => {
    const argv = grubMkimageArgv({ out: '/w/BOOTX64.EFI', earlyConfig: '/w/early.cfg' });
    assert.deepEqual(argv.slice(0, 7), [
      'grub-mkimage',
      '--format=x86_64-efi',
      '--directory=/usr/lib/grub/x86_64-efi',
      '--config=/w/early.cfg',
      '--prefix=/boot/grub',
      '--output=/w/BOOTX64.EFI',
      'all_video',
    ]);
    assert.deepEqual(argv.slice(6), [...GRUB_EFI_MODULES].sort());
    assert.ok(!argv.some((a) => a.startsWith('--memdisk')));
    for (const m of ['search_fs_file', 'search_label', 'iso9660', 'linux', 'configfile', 'normal']) assert.ok(argv.includes(m), m);
  });
});
