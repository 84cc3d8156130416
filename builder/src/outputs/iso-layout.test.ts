import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EFI_SYSTEM_PARTITION_GUID,
  escapeGraftPath,
  isoDateString,
  renderIsolinuxConfig,
  seedGuid,
  xorrisoArgv,
  type IsoLayout,
} from './iso-layout.js';

const layout: IsoLayout = {
  out: '/out/x.iso.partial',
  label: 'VMEDIA_BOOT_ISO',
  epoch: 1700000000,
  diskGuid: '01234567-89ab-4def-8123-456789abcdef',
  stageDir: '/w/root',
  grafts: [
    { isoPath: '/vmlinuz', source: '/in/vmlinuz' },
    { isoPath: '/initrd', source: '/in/a=b.img' },
  ],
  isohybridMbr: '/usr/lib/ISOLINUX/isohdpfx.bin',
  espImage: '/w/esp.img',
};

/** The value that follows `flag` in argv. */
function after(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i < 0 ? undefined : argv[i + 1];
}

describe('xorrisoArgv', () => {
  const argv = xorrisoArgv(layout);

  it('runs xorriso in mkisofs mode without startup files', () => {
    assert.deepEqual(argv.slice(0, 4), ['xorriso', '-no_rc', '-as', 'mkisofs']);
    assert.equal(after(argv, '-o'), '/out/x.iso.partial');
    assert.equal(after(argv, '-volid'), 'VMEDIA_BOOT_ISO');
  });

  it('wires BIOS El Torito and the isohybrid MBR', () => {
    assert.equal(after(argv, '-eltorito-boot'), 'isolinux/isolinux.bin');
    assert.equal(after(argv, '-eltorito-catalog'), 'isolinux/boot.cat');
    assert.equal(after(argv, '-isohybrid-mbr'), '/usr/lib/ISOLINUX/isohdpfx.bin');
    assert.ok(argv.includes('-boot-info-table'));
    assert.equal(after(argv, '-boot-load-size'), '4');
  });

  it('appends the ESP as partition 2 and names it as the UEFI El Torito image', () => {
    const i = argv.indexOf('-append_partition');
    assert.deepEqual(argv.slice(i, i + 4), ['-append_partition', '2', EFI_SYSTEM_PARTITION_GUID, '/w/esp.img']);
    const alt = argv.indexOf('-eltorito-alt-boot');
    assert.ok(alt > argv.indexOf('-eltorito-boot'), 'alt boot comes after the BIOS entry');
    assert.deepEqual(argv.slice(alt, alt + 4), ['-eltorito-alt-boot', '-e', '--interval:appended_partition_2:all::', '-no-emul-boot']);
    // -isohybrid-gpt-basdat marks the *current* boot image, so it must follow -e.
    assert.ok(argv.indexOf('-isohybrid-gpt-basdat') > alt);
  });

  it('fixes dates, GUIDs, owners and modes', () => {
    assert.ok(argv.includes('--modification-date=2023111422132000'));
    assert.equal(after(argv, '--set_all_file_dates'), '=1700000000');
    assert.equal(after(argv, '--gpt_disk_guid'), layout.diskGuid);
    assert.equal(after(argv, '-uid'), '0');
    assert.equal(after(argv, '-file-mode'), '0444');
    assert.equal(after(argv, '-dir-mode'), '0555');
  });

  it('grafts the stage dir at / and the big files sorted, escaping =', () => {
    const g = argv.slice(argv.indexOf('-graft-points') + 1);
    assert.deepEqual(g, ['/=/w/root', '/initrd=/in/a\\=b.img', '/vmlinuz=/in/vmlinuz']);
  });
});

describe('iso helpers', () => {
  it('formats the xorriso date in GMT', () => {
    assert.equal(isoDateString(0), '1970010100000000');
    assert.equal(isoDateString(315532800), '1980010100000000');
  });

  it('derives stable, distinct RFC 4122 GUIDs from seeds', () => {
    const a = seedGuid('a');
    assert.equal(a, seedGuid('a'));
    assert.notEqual(a, seedGuid('b'));
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('escapes graft-point specials', () => {
    assert.equal(escapeGraftPath('/a=b\\c'), '/a\\=b\\\\c');
  });

  it('writes isolinux.cfg with boot_method=vmedia and the initrd', () => {
    const cfg = renderIsolinuxConfig({ cmdline: 'boot_method=vmedia console=ttyS0', timeoutSeconds: 0 });
    assert.match(cfg, /^SERIAL 0 115200\n/);
    assert.match(cfg, /\n {2}APPEND initrd=\/initrd boot_method=vmedia console=ttyS0\n/);
    assert.match(cfg, /\nPROMPT 0\nTIMEOUT 0\n/);
    assert.match(renderIsolinuxConfig({ cmdline: 'x', timeoutSeconds: 1.5 }), /\nPROMPT 1\nTIMEOUT 15\n/);
  });
});
