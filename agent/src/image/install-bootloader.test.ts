import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Files, fakeMounts } from '../../test/support/fake-mounts.js';
import type { ProgramRunner } from '../util/exec.js';
import { installBootloader } from './install-bootloader.js';
import { imageGrubAllowed } from './image-grub.js';
import { decodeShimCsv, findEfiBootloaders, fstabWithEsp, parseBootRecords } from './uefi-boot-entries.js';

interface FakeDisk {
  parts: Record<string, Record<string, string>>; // partition → blkid tags
  contents: Record<string, Files>; // partition → its files (updated on umount)
  efibootmgr?: string;
  hasEfibootmgr?: boolean;
}

/** A runner emulating lsblk/blkid/mount/umount/efibootmgr/chroot grub-install over a described disk; records argv. */
function fakeHost(d: FakeDisk): ProgramRunner & { calls: string[] } {
  const calls: string[] = [];
  const mounts = fakeMounts(d.contents);
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
    await mounts(argv);
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
const noEsp = (): FakeDisk => ({ parts: { '/dev/sda1': { UUID: 'root-uuid', PART_ENTRY_NUMBER: '1' } }, contents: {} });
const named = (name: string, re?: RegExp) => (e: unknown) =>
  (e as Error).name === name && (!re || re.test((e as { details?: string }).details ?? ''));

test('UEFI: adds an NVRAM entry for the shim found on the ESP', async () => {
  const run = fakeHost(disk({ 'EFI/debian/shimx64.efi': 'x', 'EFI/debian/grubx64.efi': 'x', 'EFI/BOOT/BOOTX64.EFI': 'x' }));
  await installBootloader(
    { root_uuid: '0x12345678', efi_system_part_uuid: 'ABCD-1234' },
    { device: '/dev/sda', bootMode: 'uefi', imageGrubAllowed: true, run },
  );
  assert.ok(run.calls.includes('efibootmgr -v -c -d /dev/sda -p 1 -w -L ironic1 -l \\EFI\\debian\\shimx64.efi'));
  assert.ok(run.calls.some((c) => c.startsWith('umount ')));
});

test('UEFI: BOOTX64.CSV gives the label; an entry with the same label is removed before the new one is added', async () => {
  const csv = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('shimx64.efi,Fedora,,This is the boot entry for Fedora\n', 'utf16le')]);
  const files = { 'EFI/fedora/shimx64.efi': 'x', 'EFI/fedora/BOOTX64.CSV': csv };
  const run = fakeHost({
    ...disk(files),
    efibootmgr:
      'BootCurrent: 0002\nBoot0001* Fedora\tHD(1,GPT,0000,0x800,0x100)/File(\\EFI\\fedora\\shimx64.efi)\nBoot0002* UEFI QEMU HARDDISK\tPciRoot(0x0)/Pci(0x1,0x1)\n',
  });
  await installBootloader({ efi_system_part_uuid: null }, { device: '/dev/sda', bootMode: 'uefi', imageGrubAllowed: true, run });
  const i = run.calls.indexOf('efibootmgr -b 0001 -B');
  assert.ok(i >= 0, run.calls.join('\n'));
  assert.ok(run.calls.indexOf('efibootmgr -v -c -d /dev/sda -p 1 -w -L Fedora -l \\EFI\\fedora\\shimx64.efi') > i);
  assert.ok(!run.calls.includes('efibootmgr -b 0002 -B'));
  const dir = await mkdtemp(join(tmpdir(), 'rf-esp-t-'));
  try {
    await mkdir(join(dir, 'EFI/fedora'), { recursive: true });
    await writeFile(join(dir, 'EFI/fedora/BOOTX64.CSV'), csv);
    assert.deepEqual(await findEfiBootloaders(dir), [{ path: '\\EFI\\fedora\\shimx64.efi', label: 'Fedora' }]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('UEFI: an image whose only loader is \\EFI\\BOOT\\BOOTX64.EFI gets an entry for it', async () => {
  const run = fakeHost(disk({ 'EFI/BOOT/BOOTX64.EFI': 'x', 'EFI/BOOT/grub.cfg': 'x' }));
  await installBootloader({ root_uuid: '0x12345678' }, { device: '/dev/sda', bootMode: 'uefi', imageGrubAllowed: true, run });
  assert.ok(run.calls.includes('efibootmgr -v -c -d /dev/sda -p 1 -w -L ironic1 -l \\EFI\\BOOT\\BOOTX64.EFI'), run.calls.join('\n'));
});

test("UEFI: of several architectures' fallback loaders only this machine's gets an entry; another's alone is no bootloader", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rf-esp-t-'));
  try {
    await mkdir(join(dir, 'EFI/BOOT'), { recursive: true });
    await writeFile(join(dir, 'EFI/BOOT/BOOTAA64.EFI'), 'arm');
    assert.deepEqual(await findEfiBootloaders(dir, 'x64'), []);
    assert.deepEqual(await findEfiBootloaders(dir, 'arm64'), [{ path: '\\EFI\\BOOT\\BOOTAA64.EFI', label: 'ironic1' }]);
    await writeFile(join(dir, 'EFI/BOOT/BOOTX64.EFI'), 'x86');
    assert.deepEqual(await findEfiBootloaders(dir, 'x64'), [{ path: '\\EFI\\BOOT\\BOOTX64.EFI', label: 'ironic1' }]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const run = fakeHost(disk({ 'EFI/BOOT/BOOTAA64.EFI': 'x', 'EFI/BOOT/BOOTX64.EFI': 'x' }));
  await installBootloader({ root_uuid: '0x12345678' }, { device: '/dev/sda', bootMode: 'uefi', imageGrubAllowed: true, run });
  const created = run.calls.filter((c) => c.startsWith('efibootmgr -v -c'));
  assert.deepEqual(created, ['efibootmgr -v -c -d /dev/sda -p 1 -w -L ironic1 -l \\EFI\\BOOT\\BOOTX64.EFI'], run.calls.join('\n'));
});

test('UEFI: a failed ESP mount leaves no temporary directory behind', async () => {
  // A TMPDIR of its own: other test files make rf-esp- directories in the shared one at the same time.
  const own = await mkdtemp(join(tmpdir(), 'rf-tmp-t-'));
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = own;
  const host = fakeHost(disk({ 'EFI/BOOT/BOOTX64.EFI': 'x' }));
  const run: typeof host = Object.assign(
    async (argv: string[], o?: Parameters<typeof host>[1]) => {
      if (argv[0] === 'mount') throw new Error('mount: wrong fs type');
      return host(argv, o);
    },
    { calls: host.calls },
  );
  try {
    await assert.rejects(
      installBootloader({ root_uuid: '0x12345678' }, { device: '/dev/sda', bootMode: 'uefi', imageGrubAllowed: true, run }),
      named('CommandExecutionError', /wrong fs type/),
    );
    assert.deepEqual(await readdir(own), []);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    await rm(own, { recursive: true, force: true });
  }
});

test('UEFI whole-disk image without an ESP, or with an empty one: a clear error, not a node that cannot boot', async () => {
  await assert.rejects(
    installBootloader(
      { root_uuid: '0x12345678' },
      { device: '/dev/sda', bootMode: 'uefi', imageGrubAllowed: true, run: fakeHost(noEsp()) },
    ),
    named('DeviceNotFound', /No EFI system partition on \/dev\/sda.*boot_mode:bios/),
  );
  await assert.rejects(
    installBootloader(
      { root_uuid: null },
      { device: '/dev/sda', bootMode: 'uefi', imageGrubAllowed: true, run: fakeHost(disk({ 'EFI/empty/readme.txt': 'x' })) },
    ),
    named('InvalidImage', /holds no EFI bootloader/),
  );
  // The operator's override still wins.
  await installBootloader(
    { root_uuid: null, ignore_bootloader_failure: true },
    { device: '/dev/sda', bootMode: 'uefi', imageGrubAllowed: true, run: fakeHost(noEsp()) },
  );
});

test('UEFI without efibootmgr in the ramdisk: a clear error', async () => {
  const run = fakeHost({ ...disk({ 'EFI/BOOT/BOOTX64.EFI': 'x' }), hasEfibootmgr: false });
  await assert.rejects(
    installBootloader({ root_uuid: '0x12345678' }, { device: '/dev/sda', bootMode: 'uefi', imageGrubAllowed: true, run }),
    named('CommandExecutionError', /efibootmgr is not available in the ramdisk/),
  );
});

test('BIOS whole-disk image: nothing to do', async () => {
  const run = fakeHost(disk({}));
  await installBootloader({ root_uuid: '0x00000000' }, { device: '/dev/sda', bootMode: 'bios', imageGrubAllowed: true, run });
  await installBootloader({ root_uuid: null }, { device: '/dev/sda', bootMode: 'bios', imageGrubAllowed: true, run });
  assert.deepEqual(run.calls, []);
});

test("UEFI partition image: the image's /boot/efi is copied onto the new ESP, then the NVRAM entry and the fstab line", async () => {
  const d = disk(
    {},
    {
      'boot/efi/EFI/BOOT/BOOTX64.EFI': 'loader',
      'boot/efi/EFI/BOOT/grub.cfg': 'cfg',
      'etc/fstab': 'UUID=root-uuid / ext4 defaults 0 1\nLABEL=UEFI /boot/efi vfat umask=0077 0 1\n',
    },
  );
  const run = fakeHost(d);
  await installBootloader(
    { root_uuid: 'root-uuid', efi_system_part_uuid: 'ABCD-1234' },
    { device: '/dev/sda', bootMode: 'uefi', imageGrubAllowed: true, run },
  );
  assert.deepEqual(Object.keys(d.contents['/dev/sda1']!).sort(), ['EFI/BOOT/BOOTX64.EFI', 'EFI/BOOT/grub.cfg']);
  assert.equal(String(d.contents['/dev/sda1']!['EFI/BOOT/BOOTX64.EFI']), 'loader');
  assert.ok(run.calls.includes('efibootmgr -v -c -d /dev/sda -p 1 -w -L ironic1 -l \\EFI\\BOOT\\BOOTX64.EFI'));
  assert.equal(
    String(d.contents['/dev/sda2']!['etc/fstab']),
    'UUID=root-uuid / ext4 defaults 0 1\n# replaced by ironic: LABEL=UEFI /boot/efi vfat umask=0077 0 1\nUUID=ABCD-1234\t/boot/efi\tvfat\tumask=0077\t0\t1\n',
  );
  assert.ok(!run.calls.some((c) => c.startsWith('chroot')));
});

test("UEFI partition image with GRUB: its config is made again before the copy, and /boot/grub2's grub.cfg and grubenv go beside the loader", async () => {
  const d = disk(
    {},
    {
      'usr/sbin/grub2-install': '#!',
      'boot/efi/EFI/centos/shimx64.efi': 'shim',
      'boot/efi/EFI/centos/grubx64.efi': 'grub',
      'boot/grub2/grub.cfg': 'from the image builder',
      'boot/grub2/grubenv': 'kernelopts=root=UUID=root-uuid ro',
      'etc/fstab': '# empty\n',
    },
  );
  const host = fakeHost(d);
  // grub2-mkconfig, run in the chroot, writes the image's config again.
  const run: typeof host = Object.assign(
    async (argv: string[], o?: Parameters<typeof host>[1]) => {
      if (argv[0] === 'chroot' && argv[2] === 'grub2-mkconfig')
        await writeFile(join(argv[1]!, 'boot/grub2/grub.cfg'), 'made for this disk');
      return host(argv, o);
    },
    { calls: host.calls },
  );
  await installBootloader(
    { root_uuid: 'root-uuid', efi_system_part_uuid: 'ABCD-1234' },
    { device: '/dev/sda', bootMode: 'uefi', imageGrubAllowed: true, run },
  );
  const chroots = run.calls.filter((c) => c.startsWith('chroot'));
  assert.equal(chroots.length, 1, run.calls.join('\n'));
  assert.match(chroots[0]!, /^chroot \S+ grub2-mkconfig -o \/boot\/grub2\/grub.cfg$/);
  for (const fs of ['dev', 'proc', 'sys', 'run'])
    assert.ok(
      run.calls.some((c) => new RegExp(`^mount --bind /${fs} \\S+/${fs}$`).test(c)),
      fs,
    );
  const esp = d.contents['/dev/sda1']!;
  assert.equal(String(esp['EFI/centos/grub.cfg']), 'made for this disk');
  assert.equal(String(esp['EFI/centos/grubenv']), 'kernelopts=root=UUID=root-uuid ro');
  assert.ok(run.calls.includes('efibootmgr -v -c -d /dev/sda -p 1 -w -L ironic1 -l \\EFI\\centos\\shimx64.efi'), run.calls.join('\n'));
});

test('UEFI partition image without /boot/efi: grub-install --target=x86_64-efi in a chroot, into the ESP', async () => {
  const d = disk({}, { 'usr/sbin/grub-install': '#!', 'usr/lib/grub/x86_64-efi/normal.mod': 'x', 'etc/fstab': '# empty\n' });
  const run = fakeHost(d);
  await installBootloader(
    { root_uuid: 'root-uuid', efi_system_part_uuid: 'ABCD-1234' },
    { device: '/dev/sda', bootMode: 'uefi', imageGrubAllowed: true, run },
  );
  const chroots = run.calls.filter((c) => c.startsWith('chroot'));
  assert.match(chroots[0]!, /^chroot \S+ grub-install --target=x86_64-efi --efi-directory=\/boot\/efi --no-nvram$/);
  assert.match(chroots[1]!, /--removable$/);
  assert.match(chroots[2]!, /grub-mkconfig -o \/boot\/grub\/grub.cfg$/);
  assert.ok(run.calls.some((c) => /^mount \/dev\/sda1 \S+\/boot\/efi$/.test(c)));
  assert.deepEqual(Object.keys(d.contents['/dev/sda1']!).sort(), ['EFI/BOOT/BOOTX64.EFI', 'EFI/debian/grubx64.efi']);
  assert.ok(run.calls.includes('efibootmgr -v -c -d /dev/sda -p 1 -w -L ironic1 -l \\EFI\\debian\\grubx64.efi'));
  assert.match(String(d.contents['/dev/sda2']!['etc/fstab']), /^# empty\nUUID=ABCD-1234\t\/boot\/efi\tvfat/);
});

test('UEFI partition image whose /boot/efi has no loader: mkconfig, then grub-install for EFI, under one set of binds', async () => {
  const d = disk(
    {},
    {
      'usr/sbin/grub-install': '#!',
      'usr/lib/grub/x86_64-efi/normal.mod': 'x',
      'boot/efi/EFI/debian/README': 'no loader here',
      'etc/fstab': '# empty\n',
    },
  );
  const run = fakeHost(d);
  await installBootloader(
    { root_uuid: 'root-uuid', efi_system_part_uuid: 'ABCD-1234' },
    { device: '/dev/sda', bootMode: 'uefi', imageGrubAllowed: true, run },
  );
  const chroots = run.calls.filter((c) => c.startsWith('chroot'));
  assert.match(chroots[0]!, /grub-mkconfig -o \/boot\/grub\/grub.cfg$/, run.calls.join('\n'));
  assert.match(chroots[1]!, /grub-install --target=x86_64-efi/);
  // /dev, /proc, /sys and /run bound once each, not again for the grub-install.
  assert.equal(run.calls.filter((c) => c.startsWith('mount --bind')).length, 4, run.calls.join('\n'));
  assert.ok(Object.keys(d.contents['/dev/sda1']!).includes('EFI/debian/grubx64.efi'));
});

test('UEFI partition image with neither /boot/efi nor GRUB for EFI: InvalidImage naming what is missing', async () => {
  await assert.rejects(
    installBootloader(
      { root_uuid: 'root-uuid' },
      { device: '/dev/sda', bootMode: 'uefi', imageGrubAllowed: true, run: fakeHost(disk({}, { 'etc/os-release': 'x' })) },
    ),
    named('InvalidImage', /no EFI files in \/boot\/efi and no grub-install/),
  );
  await assert.rejects(
    installBootloader(
      { root_uuid: 'root-uuid' },
      { device: '/dev/sda', bootMode: 'uefi', imageGrubAllowed: true, run: fakeHost(disk({}, { 'usr/sbin/grub-install': '#!' })) },
    ),
    named('InvalidImage', /x86_64-efi modules/),
  );
});

test('fstabWithEsp: idempotent, comments out an older /boot/efi line, keeps comments', () => {
  const once = fstabWithEsp('# /boot/efi was on /dev/sda1\nUUID=1111-2222 /boot/efi vfat defaults 0 1', 'ABCD-1234');
  assert.equal(
    once,
    '# /boot/efi was on /dev/sda1\n# replaced by ironic: UUID=1111-2222 /boot/efi vfat defaults 0 1\nUUID=ABCD-1234\t/boot/efi\tvfat\tumask=0077\t0\t1\n',
  );
  assert.equal(fstabWithEsp(once, 'ABCD-1234'), once);
  assert.equal(fstabWithEsp('', 'ABCD-1234'), 'UUID=ABCD-1234\t/boot/efi\tvfat\tumask=0077\t0\t1\n');
});

test('parseBootRecords: efibootmgr -v lines with tabs or spaces', () => {
  assert.deepEqual(
    parseBootRecords(
      'BootCurrent: 0001\nBootOrder: 0003,0001\nBoot0001* UEFI Misc Device\tPciRoot(0x0)/Pci(0x4,0x0){auto_created_boot_option}\nBoot0003* ironic1  HD(1,GPT,6a3c,0x800,0x113000)/File(\\EFI\\BOOT\\BOOTX64.EFI)\n',
    ),
    [
      { num: '0001', label: 'UEFI Misc Device', path: 'PciRoot(0x0)/Pci(0x4,0x0){auto_created_boot_option}' },
      { num: '0003', label: 'ironic1', path: 'HD(1,GPT,6a3c,0x800,0x113000)/File(\\EFI\\BOOT\\BOOTX64.EFI)' },
    ],
  );
});

test('BIOS partition image: grub-install in a chroot of the root partition', async () => {
  const run = fakeHost(disk({}, { 'usr/sbin/grub-install': '#!' }));
  await installBootloader(
    { root_uuid: 'root-uuid', target_boot_mode: 'bios' },
    { device: '/dev/sda', bootMode: 'bios', imageGrubAllowed: true, run },
  );
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
    installBootloader({ root_uuid: 'root-uuid' }, { device: '/dev/sda', bootMode: 'bios', imageGrubAllowed: true, run }),
    (e: unknown) => (e as Error).name === 'InvalidImage',
  );
  await installBootloader(
    { root_uuid: 'root-uuid', ignore_bootloader_failure: true },
    { device: '/dev/sda', bootMode: 'bios', imageGrubAllowed: true, run },
  );
});

test("BOOTX64.CSV: UTF-16LE without a byte order mark (Debian's shim-signed), with one, big-endian, or UTF-8", () => {
  const line = 'shimx64.efi,debian,,This is the boot entry for debian\n';
  assert.equal(decodeShimCsv(Buffer.from(line, 'utf16le')), line);
  assert.equal(decodeShimCsv(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(line, 'utf16le')])), line);
  assert.equal(decodeShimCsv(Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(line, 'utf16le').swap16()])), line);
  assert.equal(decodeShimCsv(Buffer.from(line)), line);
});

test("the CVE-2026-43003 mitigation: without enable_bios_bootloader_install a partition image's GRUB never runs (InvalidImage, IPA's message), a loader already on the ESP still gets its entry", async () => {
  const gated = named('InvalidImage', /CVE-2026-43003 mitigation/);
  // BIOS partition image: nothing mounted, nothing run in a chroot.
  const bios = fakeHost(disk({}, { 'usr/sbin/grub-install': '#!' }));
  await assert.rejects(
    installBootloader({ root_uuid: 'root-uuid' }, { device: '/dev/sda', bootMode: 'bios', imageGrubAllowed: false, run: bios }),
    gated,
  );
  assert.ok(!bios.calls.some((c) => c.startsWith('chroot') || c.startsWith('mount')), bios.calls.join('\n'));
  // ignore_bootloader_failure: skipped, as IPA does, still without running the image's GRUB.
  await installBootloader(
    { root_uuid: 'root-uuid', ignore_bootloader_failure: true },
    { device: '/dev/sda', bootMode: 'bios', imageGrubAllowed: false, run: bios },
  );
  assert.ok(!bios.calls.some((c) => c.startsWith('chroot')));
  // UEFI partition image: its ESP is empty, so its boot setup would be its GRUB's work.
  const uefi = fakeHost(disk({}, { 'usr/sbin/grub-install': '#!', 'boot/efi/EFI/BOOT/BOOTX64.EFI': 'loader' }));
  await assert.rejects(
    installBootloader(
      { root_uuid: 'root-uuid', efi_system_part_uuid: 'ABCD-1234' },
      { device: '/dev/sda', bootMode: 'uefi', imageGrubAllowed: false, run: uefi },
    ),
    gated,
  );
  assert.ok(!uefi.calls.some((c) => c.startsWith('chroot')));
  // A whole-disk image whose ESP holds its loader: only efibootmgr, allowed.
  const whole = fakeHost(disk({ 'EFI/debian/shimx64.efi': 'x', 'EFI/debian/grubx64.efi': 'x' }));
  await installBootloader({ root_uuid: '0x12345678' }, { device: '/dev/sda', bootMode: 'uefi', imageGrubAllowed: false, run: whole });
  assert.ok(whole.calls.includes('efibootmgr -v -c -d /dev/sda -p 1 -w -L ironic1 -l \\EFI\\debian\\shimx64.efi'));
});

test('enable_bios_bootloader_install: the agent option, or the lookup when true (IPA overrides only with true)', () => {
  assert.equal(imageGrubAllowed(false, {}), false);
  assert.equal(imageGrubAllowed(false, { enable_bios_bootloader_install: false }), false);
  assert.equal(imageGrubAllowed(false, { enable_bios_bootloader_install: true }), true);
  assert.equal(imageGrubAllowed(true, { enable_bios_bootloader_install: false }), true);
  assert.equal(imageGrubAllowed(true, {}), true);
});
