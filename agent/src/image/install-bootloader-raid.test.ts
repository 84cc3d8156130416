import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandExecutionError } from '../errors.js';
import { ExecError, type ProgramRunner } from '../util/exec.js';
import { addBiosBootPartitions, appendGrubCmdline, installBootloaderOnRaid, parseExamineScanUuids } from './install-bootloader-raid.js';

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

test('UEFI on an array is refused with the way out; no root UUID installs nothing; no members is an error', async () => {
  const r = recorder();
  await assert.rejects(
    installBootloaderOnRaid('/dev/md0', { root_uuid: '0x1234abcd', target_boot_mode: 'uefi' }, r.run),
    (e: unknown) => e instanceof CommandExecutionError && /UEFI .* software RAID \/dev\/md0 .*boot_mode:bios/.test(e.details),
  );
  await installBootloaderOnRaid('/dev/md0', { root_uuid: '0x00000000', target_boot_mode: 'bios' }, r.run);
  await installBootloaderOnRaid('/dev/md0', { root_uuid: null }, r.run);
  assert.deepEqual(r.calls, []);
  const empty = recorder({ 'mdadm --detail /dev/md0': '/dev/md0:\n  Raid Level : raid1\n' });
  await assert.rejects(
    installBootloaderOnRaid('/dev/md0', { root_uuid: '0x1234abcd' }, empty.run),
    (e: unknown) => e instanceof CommandExecutionError && /holder disks of \/dev\/md0/.test(e.details),
  );
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
