import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { VirtualMediaError } from './errors.js';
import { createMemoryLog, silentLog } from '../test/support/logs.js';
import { ExecError, type ProgramRunner } from './util/exec.js';
import {
  copyConfigFromVmedia,
  findDeviceByLabels,
  parseKernelParams,
  parseBlkidExport,
  parseLsblkPairs,
  readAgentParameters,
  readVmediaParameters,
} from './vmedia.js';

/**
 * Fake lsblk/mount/umount: `mount -o ro DEV DIR` copies the fixture tree
 * registered for DEV into DIR, as a real mount would expose it.
 */
function fakeSystem(lsblk: string, media: Record<string, string>, o: { failMount?: boolean } = {}): ProgramRunner & { calls: string[][] } {
  const calls: string[][] = [];
  const run = (async (argv: string[]) => {
    calls.push(argv);
    const [cmd] = argv;
    if (cmd === 'lsblk') return { stdout: lsblk, stderr: '', code: 0 };
    if (cmd === 'mount') {
      const dev = argv[3]!;
      if (o.failMount || !media[dev]) throw new ExecError(argv, 32, '', `mount: ${dev}: can't read superblock`);
      cpSync(media[dev], argv[4]!, { recursive: true });
      return { stdout: '', stderr: '', code: 0 };
    }
    if (cmd === 'umount') return { stdout: '', stderr: '', code: 0 };
    throw new ExecError(argv, 127, '', 'not found');
  }) as ProgramRunner & { calls: string[][] };
  run.calls = calls;
  return run;
}

const scratch = mkdtempSync(join(tmpdir(), 'vmedia-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function makeTree(files: Record<string, string>): string {
  const root = mkdtempSync(join(scratch, 't-'));
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return root;
}

const LSBLK = [
  'NAME="sda" LABEL="" TYPE="disk" RM="0"',
  'NAME="sda1" LABEL="config-2" TYPE="part" RM="0"',
  'NAME="sdb" LABEL="IR-VFD-DEV" TYPE="disk" RM="1" TRAN="usb" SIZE="1474560"',
  'NAME="sr0" LABEL="VMEDIA_BOOT_ISO" TYPE="rom" RM="1"',
].join('\n');

describe('parsers', () => {
  it('parses kernel parameters, ignoring tokens without =', () => {
    assert.deepEqual(parseKernelParams('BOOT_IMAGE=/vmlinuz quiet ipa-api-url=http://a:6385 x=a=b\n'), {
      BOOT_IMAGE: '/vmlinuz',
      'ipa-api-url': 'http://a:6385',
      x: 'a=b',
    });
  });
  it('parses lsblk -P pairs with \\x escapes', () => {
    assert.deepEqual(parseLsblkPairs('NAME="sr0" LABEL="my\\x20disk" TYPE="rom"\n'), [{ NAME: 'sr0', LABEL: 'my disk', TYPE: 'rom' }]);
  });
  it('finds labels in any case, preferring removable media', async () => {
    const run = fakeSystem(LSBLK, {});
    assert.equal(await findDeviceByLabels(['ir-vfd-dev'], { run }), '/dev/sdb');
    assert.equal(await findDeviceByLabels(['config-2', 'vmedia_boot_iso'], { run }), '/dev/sr0');
    assert.equal(await findDeviceByLabels(['nope'], { run }), undefined);
  });
});

describe('readVmediaParameters', () => {
  it('is {} without boot_method=vmedia and runs nothing', async () => {
    const run = fakeSystem(LSBLK, {});
    assert.deepEqual(await readVmediaParameters({ run, cmdline: { 'ipa-api-url': 'x' } }), {});
    assert.equal(run.calls.length, 0);
  });

  it('reads parameters.txt from the ir-vfd-dev floppy, mounted read-only, and unmounts', async () => {
    const floppy = makeTree({ 'parameters.txt': 'ipa-api-url=http://10.0.0.1:6385 ipa-agent-token=abc\nBOOTIF=01-52-54-00-12-34-56\n' });
    const run = fakeSystem(LSBLK, { '/dev/sdb': floppy });
    const cmdline = { boot_method: 'vmedia', 'ipa-api-url': 'http://old:6385', 'ipa-debug': '1' };
    const p = await readVmediaParameters({ run, cmdline, log: silentLog });
    assert.deepEqual(p, { 'ipa-api-url': 'http://10.0.0.1:6385', 'ipa-agent-token': 'abc', BOOTIF: '01-52-54-00-12-34-56' });
    const mount = run.calls.find((a) => a[0] === 'mount')!;
    assert.deepEqual(mount.slice(0, 4), ['mount', '-o', 'ro', '/dev/sdb']);
    assert.deepEqual(
      run.calls.find((a) => a[0] === 'umount'),
      ['umount', mount[4]],
    );
    assert.equal(existsSync(mount[4]!), false, 'temp mount dir removed');
    const merged = await readAgentParameters({ run, cmdline, log: silentLog });
    assert.equal(merged['ipa-api-url'], 'http://10.0.0.1:6385', 'floppy wins over the command line');
    assert.equal(merged['ipa-debug'], '1');
  });

  it('falls back to a sysfs model containing "virtual media" on a USB disk under 4 GiB; a local disk with that model is not one', async () => {
    const usb = 'sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host6/target6:0:0/6:0:0:0/block/sdc';
    const sata = 'sys/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sdb';
    const root = makeTree({
      'proc/cmdline': 'boot_method=vmedia ipa-debug=1\n',
      'sys/class/block/sda/device/model': 'QEMU HARDDISK\n',
      [`${sata}/device/model`]: 'Virtual Media    \n',
      [`${sata}/size`]: '1953525168\n',
      [`${usb}/device/model`]: 'Virtual Media    \n',
      [`${usb}/size`]: '2880\n',
    });
    symlinkSync(join(root, sata), join(root, 'sys/class/block/sdb'));
    symlinkSync(join(root, usb), join(root, 'sys/class/block/sdc'));
    const floppy = makeTree({ 'parameters.txt': 'ipa-global-request-id=req-1' });
    const run = fakeSystem('NAME="sda" LABEL="" TYPE="disk" RM="0"\n', { '/dev/sdc': floppy });
    const log = createMemoryLog();
    assert.deepEqual(await readVmediaParameters({ run, root, log }), { 'ipa-global-request-id': 'req-1' });
    assert.ok(
      log.lines.some((l) => /\/dev\/sdb's model is "Virtual Media" but it is not virtual media \(a disk, 1000204886016 bytes/.test(l)),
      log.lines.join('\n'),
    );
    assert.deepEqual(await readAgentParameters({ run, root, log: silentLog }), {
      boot_method: 'vmedia',
      'ipa-debug': '1',
      'ipa-global-request-id': 'req-1',
    });
  });

  it('is {} when there is no floppy, and throws VirtualMediaError when it cannot be mounted', async () => {
    const root = makeTree({ 'sys/class/block/sda/device/model': 'QEMU HARDDISK' });
    assert.deepEqual(await readVmediaParameters({ run: fakeSystem('', {}), root, cmdline: { boot_method: 'vmedia' }, log: silentLog }), {});
    await assert.rejects(
      readVmediaParameters({ run: fakeSystem(LSBLK, {}, { failMount: true }), root, cmdline: { boot_method: 'vmedia' }, log: silentLog }),
      (e: unknown) => e instanceof VirtualMediaError && /\/dev\/sdb/.test(e.details),
    );
  });
});

describe('copyConfigFromVmedia', () => {
  it('copies etc/ironic-python-agent{,.d} from the config-2 / vmedia_boot_iso device', async () => {
    const iso = makeTree({
      'etc/ironic-python-agent/ironic-python-agent.conf': '[DEFAULT]\ndebug = true\n',
      'etc/ironic-python-agent.d/extra.conf': '[DEFAULT]\nx = 1\n',
      'etc/other/ignored': 'x',
    });
    const root = makeTree({ 'proc/mounts': '' });
    const run = fakeSystem(LSBLK, { '/dev/sr0': iso });
    const copied = await copyConfigFromVmedia({ run, root, cmdline: { boot_method: 'vmedia' }, log: silentLog });
    assert.deepEqual(copied, [join(root, 'etc/ironic-python-agent'), join(root, 'etc/ironic-python-agent.d')]);
    assert.equal(readFileSync(join(root, 'etc/ironic-python-agent/ironic-python-agent.conf'), 'utf8'), '[DEFAULT]\ndebug = true\n');
    assert.ok(existsSync(join(root, 'etc/ironic-python-agent.d/extra.conf')));
    assert.equal(existsSync(join(root, 'etc/other')), false);
  });

  it('reuses an existing mount instead of mounting again', async () => {
    const iso = makeTree({ 'etc/ironic-python-agent/a.conf': 'a' });
    const root = makeTree({ 'proc/mounts': `/dev/sr0 ${iso} iso9660 ro 0 0\n` });
    const run = fakeSystem(LSBLK, {});
    const copied = await copyConfigFromVmedia({ run, root, cmdline: { boot_method: 'vmedia' }, log: silentLog });
    assert.equal(copied.length, 1);
    assert.equal(
      run.calls.some((a) => a[0] === 'mount'),
      false,
    );
  });

  it('waits for a CD-ROM that enumerates late (deviceWaitMs), looking again every pollMs; gives up with a warning', async () => {
    const iso = makeTree({ 'etc/ironic-python-agent.d/ironic-tls.conf': '[DEFAULT]\ncafile = /etc/ironic-python-agent/ironic.crt\n' });
    const root = makeTree({ 'proc/mounts': '' });
    let looks = 0;
    const late = fakeSystem(LSBLK, { '/dev/sr0': iso });
    const run = (async (argv: string[], opts?: object) => {
      // The first two looks see no CD-ROM yet.
      if (argv[0] === 'lsblk' && ++looks <= 2) return { stdout: LSBLK.split('\n').slice(0, 3).join('\n'), stderr: '', code: 0 };
      if (argv[0] === 'blkid') return { stdout: '', stderr: '', code: 2 };
      return late(argv, opts);
    }) as ProgramRunner;
    const log = createMemoryLog();
    const o = { run, root, cmdline: { boot_method: 'vmedia' }, log, deviceWaitMs: 5000, pollMs: 10 };
    assert.deepEqual(await copyConfigFromVmedia(o), [join(root, 'etc/ironic-python-agent.d')]);
    assert.equal(looks, 3);
    assert.ok(log.lines.some((l) => /waiting up to 5 s for the virtual media/.test(l)));
    const none = createMemoryLog();
    const fresh = makeTree({ 'proc/mounts': '' });
    let t0 = Date.now();
    assert.deepEqual(await copyConfigFromVmedia({ ...o, root: fresh, run: fakeSystem('', {}), log: none, deviceWaitMs: 100 }), []);
    assert.ok(Date.now() - t0 >= 100);
    // Once per boot: a restarted agent (the mark in /run) looks once and goes on.
    t0 = Date.now();
    assert.deepEqual(await copyConfigFromVmedia({ ...o, root: fresh, run: fakeSystem('', {}), log: none, deviceWaitMs: 5000 }), []);
    assert.ok(Date.now() - t0 < 1000);
    assert.ok(
      none.lines.some((l) => /WARNING boot_method=vmedia, but no virtual media labelled config-2 or vmedia_boot_iso appeared/.test(l)),
    );
  });

  it('does nothing without boot_method=vmedia or without a device', async () => {
    const run = fakeSystem('', {});
    assert.deepEqual(await copyConfigFromVmedia({ run, cmdline: {}, log: silentLog }), []);
    assert.deepEqual(await copyConfigFromVmedia({ run, cmdline: { boot_method: 'vmedia' }, log: silentLog }), []);
  });
});

describe('what counts as virtual media (IPA _check_vmedia_device)', () => {
  // A labelled partition on a local disk is what a former tenant can write: its agent config or
  // parameters.txt must never be taken (IPA refuses partitions since 2021).
  const LOCAL_ONLY = [
    'NAME="sda" LABEL="" TYPE="disk" RM="0" TRAN="sata" SIZE="500107862016"',
    'NAME="sda1" LABEL="config-2" TYPE="part" RM="0" TRAN="" SIZE="67108864"',
    'NAME="sda2" LABEL="ir-vfd-dev" TYPE="part" RM="0" TRAN="" SIZE="1474560"',
    'NAME="sdc" LABEL="vmedia_boot_iso" TYPE="disk" RM="0" TRAN="sata" SIZE="500107862016"',
    'NAME="sdd" LABEL="config-2" TYPE="disk" RM="1" TRAN="usb" SIZE="8000000000"',
  ].join('\n');
  it('ignores labelled partitions, local disks and USB disks of 4 GiB or more', async () => {
    const planted = makeTree({
      'etc/ironic-python-agent/x.conf': '[DEFAULT]\napi_url = http://evil\n',
      'parameters.txt': 'ipa-api-url=http://evil',
    });
    const media = { '/dev/sda1': planted, '/dev/sda2': planted, '/dev/sdc': planted, '/dev/sdd': planted };
    const run = fakeSystem(LOCAL_ONLY, media);
    const root = makeTree({ 'proc/mounts': '' });
    assert.equal(await findDeviceByLabels(['config-2', 'vmedia_boot_iso', 'ir-vfd-dev'], { run, log: silentLog }), undefined);
    assert.deepEqual(await copyConfigFromVmedia({ run, root, cmdline: { boot_method: 'vmedia' }, log: silentLog }), []);
    assert.deepEqual(await readVmediaParameters({ run, root, cmdline: { boot_method: 'vmedia' }, log: silentLog }), {});
    assert.equal(
      run.calls.some((a) => a[0] === 'mount'),
      false,
      'nothing mounted',
    );
  });
  it('takes a CD-ROM, or a USB disk under 4 GiB (a BMC virtual floppy or stick)', async () => {
    const run = fakeSystem(
      `${LOCAL_ONLY}\nNAME="sde" LABEL="IR-VFD-DEV" TYPE="disk" RM="1" TRAN="usb" SIZE="1474560"\nNAME="sr1" LABEL="config-2" TYPE="rom" RM="1" TRAN="sata" SIZE="1000000"`,
      {},
    );
    assert.equal(await findDeviceByLabels(['ir-vfd-dev'], { run, log: silentLog }), '/dev/sde');
    assert.equal(await findDeviceByLabels(['config-2'], { run, log: silentLog }), '/dev/sr1');
  });
});

describe('virtual media without udev (tinyipa)', () => {
  it('finds the device through blkid when lsblk shows no labels', async () => {
    const run = (async (argv: string[]) => {
      if (argv[0] === 'lsblk')
        return { stdout: 'NAME="sr0" LABEL="" TYPE="rom" RM="1"\nNAME="vda" LABEL="" TYPE="disk" RM="0"\n', stderr: '', code: 0 };
      if (argv[0] === 'blkid')
        return {
          stdout:
            'DEVNAME=/dev/vda1\nLABEL=config-2\nTYPE=vfat\n\nDEVNAME=/dev/sr0\nBLOCK_SIZE=2048\nLABEL=VMEDIA_BOOT_ISO\nTYPE=iso9660\n',
          stderr: '',
          code: 0,
        };
      throw new ExecError(argv, 127, '', 'not found');
    }) as ProgramRunner;
    assert.equal(await findDeviceByLabels(['config-2', 'vmedia_boot_iso'], { run }), '/dev/sr0');
  });
  it('parses blkid -o export with escapes', () => {
    assert.deepEqual(parseBlkidExport('DEVNAME=/dev/sdb1\nLABEL=my\\ label\nTYPE=vfat\n'), [{ NAME: 'sdb1', LABEL: 'my label', TYPE: '' }]);
  });
});
