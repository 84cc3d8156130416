import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Files, fakeMounts } from '../../test/support/fake-mounts.js';
import { CommandExecutionError, InvalidImage } from '../errors.js';
import { ExecError, type ProgramRunner } from '../util/exec.js';
import {
  addBiosBootPartitions,
  appendGrubCmdline,
  espEntryTargets,
  espMirrorArgv,
  espPartitionArgv,
  installBootloaderOnRaid,
  parseExamineScanUuids,
} from './install-bootloader-raid.js';
import { IMAGE_GRUB_DISABLED } from './image-grub.js';
import { bootEntries } from './uefi-boot-entries.js';

function recorder(answers: Record<string, string> = {}): { run: ProgramRunner; calls: string[] } {
  const calls: string[] = [];
  const run: ProgramRunner = async (argv) => {
    const line = argv.join(' ');
    calls.push(line);
    for (const [prefix, out] of Object.entries(answers)) {
      if (line.startsWith(prefix)) {
        if (out === '!fail') throw new ExecError(argv, 1, '', 'failed');
        return { stdout: out, stderr: '', code: 0 };
      }
    }
    return { stdout: '', stderr: '', code: 0 };
  };
  return { run, calls };
}

test('bios_boot partitions: only on GPT holders, in the first free space, labelled per holder', async () => {
  const r = recorder({
    'blkid -p -o value -s PTTYPE /dev/sda': 'gpt\n',
    'blkid -p -o value -s PTTYPE /dev/sdb': 'dos\n',
    'sgdisk -F /dev/sda': 'Creating new GPT entries in memory.\n2048\n',
  });
  await addBiosBootPartitions(['/dev/sda', '/dev/sdb'], r.run);
  assert.ok(r.calls.includes('sgdisk -n 0:2048:+2MiB -t 0:ef02 -c 0:bios-boot-part-0 /dev/sda'), r.calls.join('\n'));
  assert.ok(!r.calls.some((c) => c.startsWith('sgdisk') && c.endsWith('/dev/sdb')), 'msdos holders keep the gap after the MBR');
});

test('no root UUID installs nothing (BIOS); no members is an error', async () => {
  const r = recorder();
  await installBootloaderOnRaid('/dev/md0', { root_uuid: '0x00000000', target_boot_mode: 'bios' }, r.run);
  await installBootloaderOnRaid('/dev/md0', { root_uuid: null }, r.run);
  assert.deepEqual(r.calls, []);
  const empty = recorder({ 'mdadm --detail /dev/md0': '/dev/md0:\n  Raid Level : raid1\n' });
  await assert.rejects(
    installBootloaderOnRaid('/dev/md0', { root_uuid: '0x1234abcd' }, empty.run, undefined, undefined, true),
    (e: unknown) => e instanceof CommandExecutionError && /holder disks of \/dev\/md0/.test(e.details),
  );
});

test("the CVE-2026-43003 mitigation: without enable_bios_bootloader_install the image's GRUB never runs on an array (BIOS, or UEFI with no ESP in the image): InvalidImage before any disk is touched", async () => {
  const r = recorder();
  await assert.rejects(
    installBootloaderOnRaid('/dev/md0', { root_uuid: '0x1234abcd', target_boot_mode: 'bios' }, r.run),
    (e: unknown) => e instanceof InvalidImage && e.details === IMAGE_GRUB_DISABLED,
  );
  assert.deepEqual(r.calls, []);
  const contents: Record<string, Files> = { '/dev/md127p1': { 'usr/sbin/grub-install': '#!', 'etc/fstab': '' } };
  const h = raidHost({ blkid: { ...holderParts, '/dev/md127p1': { UUID: 'root-uuid' }, '/dev/md0': { UUID: 'ef00-0001' } }, contents });
  await assert.rejects(
    installBootloaderOnRaid('/dev/md127', { root_uuid: 'root-uuid', target_boot_mode: 'uefi' }, h.run, undefined, 'x86_64-efi'),
    (e: unknown) => e instanceof InvalidImage && e.details === IMAGE_GRUB_DISABLED,
  );
  assert.ok(!h.calls.some((l) => /^(chroot|sgdisk -n|mdadm --create|mkfs|wipefs)/.test(l)), h.calls.join('\n'));
});

test('UEFI plan: an ESP partition per holder in the kept room, a RAID-1 with metadata 1.0 named esp, an entry per member disk', () => {
  assert.deepEqual(espPartitionArgv('/dev/nvme1n1', 1, '2048s'), [
    'sgdisk',
    '-n',
    '0:2048s:+550MiB',
    '-t',
    '0:ef00',
    '-c',
    '0:uefi-holder-1',
    '/dev/nvme1n1',
  ]);
  assert.equal(
    espMirrorArgv('/dev/md1', ['/dev/sda2', '/dev/nvme1n1p2']).join(' '),
    'mdadm --create /dev/md1 --force --run --metadata=1.0 --level 1 --name esp --raid-devices 2 /dev/sda2 /dev/nvme1n1p2',
  );
  const targets = espEntryTargets([
    { part: '/dev/sda2', partNum: '2' },
    { part: '/dev/nvme1n1p2', partNum: '2' },
  ]);
  assert.deepEqual(bootEntries([{ path: '\\EFI\\debian\\shimx64.efi', label: 'ironic1' }], targets), [
    { disk: '/dev/sda', partNum: '2', label: 'ironic1 (RAID, part0)', path: '\\EFI\\debian\\shimx64.efi' },
    { disk: '/dev/nvme1n1', partNum: '2', label: 'ironic1 (RAID, part1)', path: '\\EFI\\debian\\shimx64.efi' },
  ]);
});

/** A host with /dev/md127 over /dev/vda1 + /dev/vdb1: lsblk, blkid, sgdisk, mdadm, mount/umount over file maps, mkfs, chroot grub-install. */
function raidHost(o: { blkid: Record<string, Record<string, string>>; contents: Record<string, Files>; efibootmgr?: string }) {
  const calls: string[] = [];
  const mounts = fakeMounts(o.contents);
  const made: string[] = [];
  const ok = (stdout = '') => ({ stdout, stderr: '', code: 0 });
  const detail = (md: string, members: string[]) =>
    `${md}:\n  Raid Level : raid1\n${members.map((m, i) => `       ${i}     253   ${i}   ${i}      active sync   ${m}`).join('\n')}\n`;
  const run: ProgramRunner = async (argv) => {
    const line = argv.join(' ');
    calls.push(line);
    const [cmd, ...a] = argv;
    if (line === 'mdadm --detail /dev/md127') return ok(detail('/dev/md127', ['/dev/vda1', '/dev/vdb1']));
    if (cmd === 'mdadm' && a[0] === '--detail') {
      if (a[1] === '/dev/md0' && made.includes('/dev/md0')) return ok(detail('/dev/md0', ['/dev/vda2', '/dev/vdb2']));
      throw new ExecError(argv, 1, '', 'no such array');
    }
    if (cmd === 'mdadm' && a[0] === '--create') made.push(a[1]!);
    if (cmd === 'lsblk' && a[0] === '-J')
      return ok(
        JSON.stringify({
          blockdevices: [
            { name: '/dev/md127', type: 'raid1' },
            { name: '/dev/md127p1', type: 'md' },
            { name: '/dev/md127p2', type: 'md' },
            ...made.map((name) => ({ name, type: 'raid1' })),
          ],
        }),
      );
    if (cmd === 'lsblk') {
      const dev = a.at(-1)!;
      const n = calls.filter((c) => c.startsWith('sgdisk -n') && c.endsWith(dev)).length;
      return ok(dev.startsWith('/dev/vd') ? [`${dev}1 part`, ...(n ? [`${dev}2 part`] : [])].join('\n') : '');
    }
    if (cmd === 'blkid') return ok(o.blkid[a.at(-1)!]?.[a[a.indexOf('-s') + 1]!] ?? '');
    if (cmd === 'sgdisk' && a[0] === '-F') return ok('Creating new GPT entries in memory.\n2048\n');
    if (cmd === 'efibootmgr') return ok(a[0] === '-v' && a.length === 1 ? (o.efibootmgr ?? '') : '');
    if (cmd === 'mkfs.vfat') o.contents[a.at(-1)!] = {};
    await mounts(argv);
    return ok();
  };
  return { run, calls };
}

const ESP_TYPE = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';
const holderParts = {
  '/dev/vda': { PTTYPE: 'gpt' },
  '/dev/vdb': { PTTYPE: 'gpt' },
  '/dev/vda2': { PART_ENTRY_NAME: 'uefi-holder-0', PART_ENTRY_NUMBER: '2' },
  '/dev/vdb2': { PART_ENTRY_NAME: 'uefi-holder-1', PART_ENTRY_NUMBER: '2' },
};

test("UEFI on an array: the image's ESP is mirrored over a new ESP on every holder (metadata 1.0, same volume id), wiped, and each member disk gets its entry", async () => {
  const contents: Record<string, Files> = { '/dev/md127p1': { 'EFI/debian/grubx64.efi': 'loader', 'EFI/BOOT/BOOTX64.EFI': 'fallback' } };
  const h = raidHost({
    blkid: {
      ...holderParts,
      '/dev/md127p1': { PART_ENTRY_TYPE: ESP_TYPE, UUID: 'abcd-1234', LABEL: 'EFI' },
      '/dev/md0': { UUID: 'abcd-1234' },
    },
    contents,
    efibootmgr: 'Boot0004* ironic1 (RAID, part0)\tHD(2,GPT,0000,0x800,0x113000)/File(\\EFI\\debian\\grubx64.efi)\n',
  });
  await installBootloaderOnRaid('/dev/md127', { root_uuid: '0x1234abcd', target_boot_mode: 'uefi' }, h.run, undefined, 'x86_64-efi');
  const c = h.calls;
  const at = (line: string) => {
    const i = c.indexOf(line);
    assert.ok(i >= 0, `${line}\n--- calls:\n${c.join('\n')}`);
    return i;
  };
  at('sgdisk -n 0:2048s:+550MiB -t 0:ef00 -c 0:uefi-holder-0 /dev/vda');
  at('sgdisk -n 0:2048s:+550MiB -t 0:ef00 -c 0:uefi-holder-1 /dev/vdb');
  const create = at('mdadm --create /dev/md0 --force --run --metadata=1.0 --level 1 --name esp --raid-devices 2 /dev/vda2 /dev/vdb2');
  assert.ok(at('mkfs.vfat -i ABCD1234 -n EFI /dev/md0') > create);
  assert.deepEqual(
    Object.entries(contents['/dev/md0']!).map(([f, c]) => `${f}=${String(c)}`),
    ['EFI/BOOT/BOOTX64.EFI=fallback', 'EFI/debian/grubx64.efi=loader'],
  );
  at('wipefs -a /dev/md127p1');
  const removed = at('efibootmgr -b 0004 -B');
  assert.ok(at('efibootmgr -v -c -d /dev/vda -p 2 -w -L ironic1 (RAID, part0) -l \\EFI\\debian\\grubx64.efi') > removed);
  at('efibootmgr -v -c -d /dev/vdb -p 2 -w -L ironic1 (RAID, part1) -l \\EFI\\debian\\grubx64.efi');
  assert.ok(!c.some((l) => l.startsWith('chroot')), 'the loader came from the image: no grub-install');
});

test("UEFI on an array, image without an ESP: the image's GRUB for EFI goes into the mirrored ESP from a chroot, fstab names it; none at all is InvalidImage, members with msdos labels a clear error", async () => {
  const contents: Record<string, Files> = {
    '/dev/md127p1': {
      'usr/sbin/grub-install': '#!',
      'usr/lib/grub/x86_64-efi/normal.mod': 'x',
      'etc/fstab': 'UUID=root-uuid / ext4 defaults 0 1\n',
    },
  };
  const h = raidHost({ blkid: { ...holderParts, '/dev/md127p1': { UUID: 'root-uuid' }, '/dev/md0': { UUID: 'ef00-0001' } }, contents });
  await installBootloaderOnRaid('/dev/md127', { root_uuid: 'root-uuid', target_boot_mode: 'uefi' }, h.run, undefined, 'x86_64-efi', true);
  assert.ok(h.calls.includes('mkfs.vfat -n efi-part /dev/md0'), h.calls.join('\n'));
  const chroots = h.calls.filter((l) => l.startsWith('chroot'));
  assert.match(chroots[0]!, /^chroot \S+ grub-install --target=x86_64-efi --efi-directory=\/boot\/efi --no-nvram$/);
  assert.match(chroots[1]!, /--removable$/);
  assert.match(chroots[2]!, /grub-mkconfig -o \/boot\/grub\/grub.cfg$/);
  assert.ok(h.calls.some((l) => /^mount \/dev\/md0 \S+\/boot\/efi$/.test(l)));
  assert.deepEqual(Object.keys(contents['/dev/md0']!).sort(), ['EFI/BOOT/BOOTX64.EFI', 'EFI/debian/grubx64.efi']);
  assert.match(String(contents['/dev/md127p1']!['etc/fstab']), /\nUUID=EF00-0001\t\/boot\/efi\tvfat/);
  assert.ok(h.calls.includes('efibootmgr -v -c -d /dev/vdb -p 2 -w -L ironic1 (RAID, part1) -l \\EFI\\debian\\grubx64.efi'));

  const msdos = raidHost({
    blkid: { ...holderParts, '/dev/vdb': { PTTYPE: 'dos' }, '/dev/md127p1': { PART_ENTRY_TYPE: ESP_TYPE } },
    contents: {},
  });
  await assert.rejects(
    installBootloaderOnRaid('/dev/md127', { root_uuid: '0x1234abcd', target_boot_mode: 'uefi' }, msdos.run),
    (e: unknown) =>
      e instanceof CommandExecutionError && /\/dev\/vdb, a member .* dos partition table, not GPT.*boot_mode:uefi/.test(e.details),
  );
  assert.ok(!msdos.calls.some((l) => /^(sgdisk|mdadm --create|mkfs)/.test(l)), 'refused before any disk is touched');

  const bare = raidHost({ blkid: { ...holderParts }, contents: {} });
  await assert.rejects(
    installBootloaderOnRaid('/dev/md127', { root_uuid: '0x00000000', target_boot_mode: 'uefi' }, bare.run),
    (e: unknown) => e instanceof InvalidImage && /software RAID \/dev\/md127 has no EFI system partition .*boot_mode:bios/.test(e.details),
  );
  assert.ok(!bare.calls.some((l) => /^(sgdisk|mdadm --create|mkfs)/.test(l)), 'refused before any disk is touched');
});

test('dracut images: rd.md.uuid for every array appended to GRUB_CMDLINE_LINUX', () => {
  const scan =
    'ARRAY /dev/md/root  metadata=1.2 UUID=1b2c3d4e:5f6a7b8c:9d0e1f2a:3b4c5d6e name=ramforge:root\nARRAY /dev/md/esp metadata=1.0 UUID=aaaaaaaa:bbbbbbbb:cccccccc:dddddddd name=h:esp\n';
  const uuids = parseExamineScanUuids(scan);
  assert.deepEqual(uuids, ['1b2c3d4e:5f6a7b8c:9d0e1f2a:3b4c5d6e', 'aaaaaaaa:bbbbbbbb:cccccccc:dddddddd']);
  const defaults = 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=ttyS0"\n';
  assert.equal(
    appendGrubCmdline(
      defaults,
      uuids.map((u) => `rd.md.uuid=${u}`),
    ),
    'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=ttyS0 rd.md.uuid=1b2c3d4e:5f6a7b8c:9d0e1f2a:3b4c5d6e rd.md.uuid=aaaaaaaa:bbbbbbbb:cccccccc:dddddddd"\n',
  );
  assert.equal(appendGrubCmdline('GRUB_CMDLINE_LINUX=""\n', ['rd.md.uuid=x']), 'GRUB_CMDLINE_LINUX="rd.md.uuid=x"\n');
});
