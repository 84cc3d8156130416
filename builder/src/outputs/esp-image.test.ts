import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FAT_MIN_EPOCH, espCommands, espPlan } from './esp-image.js';

const efi = { source: '/w/BOOTX64.EFI', target: 'EFI/BOOT/BOOTX64.EFI', size: 692224 };

describe('espPlan', () => {
  it('sizes the image to fit with room, in 256 KiB steps', () => {
    const p = espPlan({ files: [efi], seed: 's', epoch: 1700000000 });
    assert.equal(p.sizeKiB % 256, 0);
    assert.ok(p.sizeKiB * 1024 >= efi.size + 64 * 1024, `${p.sizeKiB} KiB too small`);
    assert.ok(p.sizeKiB <= 2048, `${p.sizeKiB} KiB is wasteful for a 676 KiB file`);
    const big = espPlan({ files: [{ ...efi, size: 10 * 1024 * 1024 }], seed: 's', epoch: 0 });
    assert.ok(big.sizeKiB * 1024 > 10 * 1024 * 1024 * 1.05);
  });

  it('creates parent directories first and sorts files', () => {
    const p = espPlan({
      files: [{ ...efi, target: 'EFI/BOOT/b.cfg', size: 1 }, efi, { ...efi, target: 'EFI/x/y/z.efi' }],
      seed: 's',
      epoch: 0,
    });
    assert.deepEqual(p.dirs, ['EFI', 'EFI/BOOT', 'EFI/x', 'EFI/x/y']);
    assert.deepEqual(
      p.files.map((f) => f.target),
      ['EFI/BOOT/BOOTX64.EFI', 'EFI/BOOT/b.cfg', 'EFI/x/y/z.efi'],
    );
  });

  it('derives the volume serial from the seed', () => {
    const a = espPlan({ files: [efi], seed: 'one', epoch: 0 });
    assert.match(a.volumeId, /^[0-9a-f]{8}$/);
    assert.equal(a.volumeId, espPlan({ files: [efi], seed: 'one', epoch: 0 }).volumeId);
    assert.notEqual(a.volumeId, espPlan({ files: [efi], seed: 'two', epoch: 0 }).volumeId);
  });

  it('clamps dates to what FAT can store and pins mtools to UTC', () => {
    assert.equal(espPlan({ files: [efi], seed: 's', epoch: 0 }).fatEpoch, FAT_MIN_EPOCH);
    const p = espPlan({ files: [efi], seed: 's', epoch: 1700000001 });
    assert.equal(p.fatEpoch, 1700000000);
    assert.deepEqual(p.env, { SOURCE_DATE_EPOCH: '1700000000', TZ: 'UTC', MTOOLS_SKIP_CHECK: '1' });
  });
});

describe('espCommands', () => {
  it('formats with fixed ids, then mmd, then mcopy -m', () => {
    const p = espPlan({ files: [efi], seed: 's', epoch: 0 });
    const cmds = espCommands(p, '/w/esp.img');
    assert.deepEqual(cmds[0], ['mkfs.vfat', '-C', '--invariant', '-i', p.volumeId, '-n', 'RAMFORGEESP', '/w/esp.img', String(p.sizeKiB)]);
    assert.deepEqual(cmds[1], ['mmd', '-i', '/w/esp.img', '::/EFI', '::/EFI/BOOT']);
    assert.deepEqual(cmds[2], ['mcopy', '-m', '-o', '-i', '/w/esp.img', '/w/BOOTX64.EFI', '::/EFI/BOOT/BOOTX64.EFI']);
    assert.equal(cmds.length, 3);
  });
});
