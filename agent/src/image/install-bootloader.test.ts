import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProgramRunner } from '../util/exec.js';
import { installBootloader } from './install-bootloader.js';
import { decodeShimCsv, findEfiBootloaders } from './uefi-boot-entries.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';

type Files = Record<string, string | Buffer>;
interface FakeDisk {
  parts: Record<string, Record<string, string>>; // partition → blkid tags
  contents: Record<string, Files>; // partition → files seen when mounted
  efibootmgr?: string;
  hasEfibootmgr?: boolean;
}

/** A runner emulating lsblk/blkid/mount/efibootmgr over a described disk; records argv. */
function fakeHost(d: FakeDisk): ProgramRunner & { calls: string[] } {
  const calls: string[] = [];
  const ok = (stdout = '') => ({ stdout, stderr: '', code: 0 });
  const fn = (async (argv: string[]) => {
    calls.push(argv.join(' '));
    const [cmd, ...a] = argv;
    if (cmd === 'lsblk')
      return ok(
        Object.keys(d.parts)
          .map((p) => `${p} part`)
          .join('\n'),
      );
    if (cmd === 'blkid') return ok(d.parts[a.at(-1)!]?.[a[a.indexOf('-s') + 1]!] ?? '');
    if (cmd === 'efibootmgr') {
      if (d.hasEfibootmgr === false) throw new Error('efibootmgr: not found');
      return ok(a[0] === '-v' && a.length === 1 ? (d.efibootmgr ?? '') : '');
    }
    if (cmd === 'mount' && a[0] !== '--bind') {
      for (const [f, c] of Object.entries(d.contents[a[0]!] ?? {})) {
        await mkdir(join(a[1]!, f, '..'), { recursive: true });
        await writeFile(join(a[1]!, f), c);
      }
    }
    return ok();
  }) as ProgramRunner & { calls: string[] };
  fn.calls = calls;
  return fn;
}

const ESP_TYPE = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';
const disk = (espFiles: Files, rootFiles: Files = {}): FakeDisk => ({
  parts: {
    '/dev/sda1': { PART_ENTRY_TYPE: ESP_TYPE, UUID: 'ABCD-1234', PART_ENTRY_NUMBER: '1' },
    '/dev/sda2': { UUID: 'root-uuid', PART_ENTRY_NUMBER: '2' },
  },
  contents: { '/dev/sda1': espFiles, '/dev/sda2': rootFiles },
});

test('UEFI: adds an NVRAM entry for the shim found on the ESP', async () => {
  const run = fakeHost(disk({ 'EFI/debian/shimx64.efi': 'x', 'EFI/debian/grubx64.efi': 'x', 'EFI/BOOT/BOOTX64.EFI': 'x' }));
  await installBootloader({ root_uuid: '0x12345678', efi_system_part_uuid: 'ABCD-1234' }, { device: '/dev/sda', bootMode: 'uefi', run });
  assert.ok(run.calls.includes('efibootmgr -v -c -d /dev/sda -p 1 -w -L ironic1 -l \\EFI\\debian\\shimx64.efi'));
  assert.ok(run.calls.some((c) => c.startsWith('umount ')));
});

test('UEFI: an existing entry is left alone; BOOTX64.CSV gives the label', async () => {
  const csv = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('shimx64.efi,Fedora,,This is the boot entry for Fedora\n', 'utf16le')]);
  const files = { 'EFI/fedora/shimx64.efi': 'x', 'EFI/fedora/BOOTX64.CSV': csv };
  const run = fakeHost({ ...disk(files), efibootmgr: 'Boot0001* Fedora HD(1,GPT,...)/File(\\EFI\\fedora\\shimx64.efi)' });
  await installBootloader({ efi_system_part_uuid: null }, { device: '/dev/sda', bootMode: 'uefi', run });
  assert.ok(!run.calls.some((c) => c.includes(' -c ')));
  const dir = await mkdtemp(join(tmpdir(), 'rf-esp-t-'));
  try {
    await mkdir(join(dir, 'EFI/fedora'), { recursive: true });
    await writeFile(join(dir, 'EFI/fedora/BOOTX64.CSV'), csv);
    assert.deepEqual(await findEfiBootloaders(dir), [{ path: '\\EFI\\fedora\\shimx64.efi', label: 'Fedora' }]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('whole-disk image without a UEFI bootloader: nothing to do', async () => {
  const run = fakeHost(disk({}));
  await installBootloader({ root_uuid: '0x00000000' }, { device: '/dev/sda', bootMode: 'bios', run });
  await installBootloader({ root_uuid: null }, { device: '/dev/sda', bootMode: 'uefi', run });
  assert.ok(!run.calls.some((c) => c.startsWith('chroot') || c.includes(' -c ')));
});

test('BIOS partition image: grub-install in a chroot of the root partition', async () => {
  const run = fakeHost(disk({}, { 'usr/sbin/grub-install': '#!' }));
  await installBootloader({ root_uuid: 'root-uuid', target_boot_mode: 'bios' }, { device: '/dev/sda', bootMode: 'bios', run });
  const chroots = run.calls.filter((c) => c.startsWith('chroot'));
  assert.equal(chroots.length, 2);
  assert.match(chroots[0]!, /^chroot \S+ grub-install \/dev\/sda$/);
  assert.match(chroots[1]!, /^chroot \S+ grub-mkconfig -o \/boot\/grub\/grub.cfg$/);
  assert.equal(run.calls.filter((c) => c.startsWith('mount --bind')).length, 4);
  assert.equal(run.calls.filter((c) => c.startsWith('umount')).length, 5);
});

test('BIOS partition image without GRUB: InvalidImage unless ignore_bootloader_failure', async () => {
  const run = fakeHost(disk({}, { 'etc/os-release': 'x' }));
  await assert.rejects(
    installBootloader({ root_uuid: 'root-uuid' }, { device: '/dev/sda', bootMode: 'bios', run }),
    (e: unknown) => (e as Error).name === 'InvalidImage',
  );
  await installBootloader({ root_uuid: 'root-uuid', ignore_bootloader_failure: true }, { device: '/dev/sda', bootMode: 'bios', run });
});

test("BOOTX64.CSV: UTF-16LE without a byte order mark (Debian's shim-signed), with one, big-endian, or UTF-8", () => {
  const line = 'shimx64.efi,debian,,This is the boot entry for debian\n';
  assert.equal(decodeShimCsv(Buffer.from(line, 'utf16le')), line);
  assert.equal(decodeShimCsv(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(line, 'utf16le')])), line);
  assert.equal(decodeShimCsv(Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(line, 'utf16le').swap16()])), line);
  assert.equal(decodeShimCsv(Buffer.from(line)), line);
});
