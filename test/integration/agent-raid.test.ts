/**
 * Software RAID (raid_interface=agent) in a VM with two virtio disks,
 * through the real conductor (Ironic 21.4), and what ends up ON BOTH DISK
 * FILES, read back on the host afterwards:
 *
 *  1. manual cleaning [raid.delete_configuration, raid.create_configuration]
 *     for a RAID-1 over both disks (target_raid_config set through the API);
 *  2. a second boot of the ramdisk (a real node reboots between cleaning and
 *     deploying, and the agent must find the array again: mdadm --assemble
 *     --scan at start, the root volume chosen by its name), then a deploy of
 *     a whole-disk image onto the array; the conductor's install_bootloader
 *     (software_raid) runs the image's grub-install for each member disk;
 *  3. undeploy, and manual cleaning [raid.delete_configuration,
 *     raid.create_configuration] in a third boot with an invalid target (a
 *     RAID-5 first, on two disks): the array is stopped, member superblocks
 *     and partition tables go, and the create fails naming the fields;
 *  4. UEFI: the node switched to boot_mode:uefi, two fresh 640 MiB disks, the
 *     ramdisk under OVMF, and ONE deploy whose deploy step
 *     raid.apply_configuration builds the RAID-1 (GPT, 551 MiB kept per disk)
 *     before a GPT whole-disk image with an ESP (\EFI\BOOT\BOOTX64.EFI) is
 *     written onto it; install_bootloader mirrors the ESP. Read back on the
 *     host: each disk's partition 2 is an ESP (uefi-holder-<i>) holding the
 *     image's loader (mtools), with an md v1.0 superblock (name esp, RAID-1,
 *     two members, one array) at its end; OVMF's variable store holds an
 *     entry per disk ("ironic1 (RAID, part0)", "... part1").
 *
 * Then, for each disk file: the md superblock (v1.2, 4 KiB into partition 1)
 * names the array, level 1, two members; the image bytes sit at the data
 * offset; the image's boot-code marker (what its grub-install wrote onto the
 * disk it was given) is in that disk's own MBR.
 *
 * The image is made here: an MBR, an ext4 root holding a static busybox and
 * a grub-install/grub-mkconfig pair that record their arguments (grub-install
 * also writes "RAMFORGE-GRUB <disk>" into the first bytes of the disk, where
 * boot code goes), then random bytes in a second partition to compare.
 * Real GRUB is not used: the i386-pc GRUB and everything grub-install
 * probes would have to be put into the image; what the agent owes is the
 * chroot call for every member disk, which these scripts witness.
 *
 * Networking (test/support/ironic-deploy.ts): the image URL is on the host's
 * 127.0.0.1 (the conductor HEADs it); the guest fetches it through a forward
 * proxy on 127.0.0.1:P that it reaches as http://10.0.2.2:P (slirp), set as
 * driver_info/image_http_proxy. No host process connects to 10.0.2.2.
 *
 *   bash scripts/test.sh test/integration/agent-raid.test.ts
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIronic, vmIronicSkip, type IronicEnv } from '../support/ironic.js';
import { deployImage, printVmFailure, serveImage, startImageProxy, waitForPowerOff, type ImageProxy } from '../support/ironic-deploy.js';
import { readAt } from '../support/loopdisk.js';
import { bootVm, freePort, OVMF_VARS, type Vm } from '../support/qemu.js';
import { sharedBuild } from '../support/shared-build.js';

let kernel = process.env.RAMFORGE_TEST_KERNEL;
let initrd = process.env.RAMFORGE_TEST_INITRAMFS;
const skip =
  vmIronicSkip() ||
  (!existsSync('/bin/busybox') || !existsSync('/usr/sbin/debugfs') || !existsSync('/usr/bin/mcopy') || !existsSync('/usr/sbin/mkfs.vfat')
    ? 'needs busybox, debugfs, mtools and dosfstools on the host (the test images)'
    : false);
const MAC = '52:54:00:12:34:57';
const MiB = 1 << 20;
/** Two members; small because TCG writes slowly and RAID-1 resyncs the whole array in the background. */
const DISK_SIZE = 160 * MiB;
const IMAGE_SIZE = 48 * MiB;
/** Partition 2 of the image, filled with random bytes: compared byte for byte on both members. */
const PAYLOAD_START = 32 * MiB;
const MD_MAGIC = 0xa92b4efc;

let ironic: IronicEnv | undefined;
let proxy: ImageProxy | undefined;
before(
  async () => {
    if (skip) return;
    ironic = await startIronic({ extraConf: '[conductor]\nautomated_clean = false\n' });
    proxy = await startImageProxy();
    if (kernel && initrd) return;
    const b = await sharedBuild();
    kernel = b.kernel;
    initrd = b.initramfs;
  },
  { timeout: 30 * 60_000 },
);
after(async () => {
  await ironic?.stop();
  await proxy?.close();
});

const GRUB_INSTALL = `#!/bin/sh
# Test stand-in for grub-install: record the call, and put a boot-code marker where GRUB's boot.img would go.
echo "grub-install $*" >> /boot/grub-calls.log
printf 'RAMFORGE-GRUB %s' "$1" | /bin/busybox dd of="$1" bs=1 count=64 conv=notrunc 2>/dev/null
`;
const GRUB_MKCONFIG = `#!/bin/sh
echo "grub-mkconfig $*" >> /boot/grub-calls.log
echo "# made by the test's grub-mkconfig" > "$2"
`;

/** The whole-disk test image: MBR; p1 ext4 root (busybox, the grub stand-ins) 1-32 MiB; p2 random bytes 32-48 MiB. Returns p2. */
function makeImage(dir: string, file: string): Buffer {
  const root = join(dir, 'root');
  for (const d of ['bin', 'usr/sbin', 'boot/grub', 'dev', 'proc', 'sys', 'run', 'tmp']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  symlinkSync('busybox', join(root, 'bin/sh'));
  writeFileSync(join(root, 'usr/sbin/grub-install'), GRUB_INSTALL, { mode: 0o755 });
  writeFileSync(join(root, 'usr/sbin/grub-mkconfig'), GRUB_MKCONFIG, { mode: 0o755 });
  const fs = join(dir, 'root.ext4');
  execFileSync('truncate', ['-s', `${31 * 1024}K`, fs]);
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'img-root', '-d', root, fs]);
  execFileSync('truncate', ['-s', String(IMAGE_SIZE), file]);
  execFileSync('parted', [
    '-s',
    file,
    'mklabel',
    'msdos',
    'mkpart',
    'primary',
    'ext4',
    '1MiB',
    '32MiB',
    'mkpart',
    'primary',
    '32MiB',
    '100%',
  ]);
  const bytes = readFileSync(file);
  readFileSync(fs).copy(bytes, MiB);
  const payload = randomBytes(IMAGE_SIZE - PAYLOAD_START);
  payload.copy(bytes, PAYLOAD_START);
  writeFileSync(file, bytes);
  return payload;
}

interface MdMember {
  partStart: number;
  name: string;
  level: number;
  raidDisks: number;
  dataOffset: number;
  devNumber: number;
  uuid: string;
}

/** Partition 1 of an msdos disk file, and the md v1.2 superblock 4 KiB into it (struct mdp_superblock_1). */
function readMember(disk: string): MdMember {
  const mbr = readAt(disk, 0, 512);
  assert.equal(mbr.readUInt16LE(510), 0xaa55, `${disk}: no MBR partition table`);
  return readMemberAt(disk, mbr.readUInt32LE(446 + 8) * 512);
}

/** The md v1.2 superblock 4 KiB into the partition at `partStart`. */
function readMemberAt(disk: string, partStart: number): MdMember {
  const sb = readAt(disk, partStart + 4096, 256);
  assert.equal(sb.readUInt32LE(0), MD_MAGIC, `${disk}: no md superblock 4 KiB into partition 1 (at ${partStart})`);
  assert.equal(sb.readUInt32LE(4), 1, 'major_version 1');
  return {
    partStart,
    uuid: sb.subarray(16, 32).toString('hex'),
    name: sb.subarray(32, 64).toString('latin1').replace(/\0+$/, ''),
    level: sb.readInt32LE(72),
    raidDisks: sb.readUInt32LE(92),
    dataOffset: Number(sb.readBigUInt64LE(128)) * 512,
    devNumber: sb.readUInt32LE(160),
  };
}

/** A file from the ext4 root of the image copy inside the array on `disk` (debugfs on an extracted copy). */
function readImageFile(dir: string, disk: string, m: MdMember, path: string): string {
  const fsCopy = join(dir, 'fs-copy.ext4');
  writeFileSync(fsCopy, readAt(disk, m.partStart + m.dataOffset + MiB, 31 * MiB));
  try {
    return execFileSync('debugfs', ['-R', `cat ${path}`, fsCopy], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } finally {
    rmSync(fsCopy, { force: true });
  }
}

const UEFI_DISK_SIZE = 640 * MiB;
const ESP_GUID = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';
const utf16 = (s: string): Buffer => Buffer.from(s, 'utf16le');

/** A GPT whole-disk image: p1 an ESP (FAT, 1-17 MiB) holding only \EFI\BOOT\BOOTX64.EFI, p2 the ext4-less rest. Returns the loader. */
function makeUefiImage(dir: string, file: string): Buffer {
  const loader = Buffer.concat([Buffer.from('MZ RAMFORGE-RAID-UEFI-LOADER '), randomBytes(4096)]);
  const fat = join(dir, 'esp.fat');
  const loaderFile = join(dir, 'BOOTX64.EFI');
  writeFileSync(loaderFile, loader);
  execFileSync('mkfs.vfat', ['-C', '-n', 'IMGESP', fat, String(16 * 1024)], { stdio: 'ignore' });
  execFileSync('mmd', ['-i', fat, '::/EFI', '::/EFI/BOOT']);
  execFileSync('mcopy', ['-i', fat, loaderFile, '::/EFI/BOOT/BOOTX64.EFI']);
  execFileSync('truncate', ['-s', String(IMAGE_SIZE), file]);
  execFileSync('sgdisk', ['-n', '1:2048:+16M', '-t', '1:ef00', '-n', '2:0:0', '-t', '2:8300', file], { stdio: 'ignore' });
  const bytes = readFileSync(file);
  readFileSync(fat).copy(bytes, MiB);
  writeFileSync(file, bytes);
  rmSync(fat);
  rmSync(loaderFile);
  return loader;
}

/** GPT entry `n` (1-based) of a disk file: type GUID, first/last byte, name. */
function gptEntry(disk: string, n: number): { type: string; start: number; end: number; name: string } {
  const hdr = readAt(disk, 512, 92);
  assert.equal(hdr.subarray(0, 8).toString('latin1'), 'EFI PART', `${disk}: no GPT`);
  const e = readAt(disk, Number(hdr.readBigUInt64LE(72)) * 512 + (n - 1) * hdr.readUInt32LE(84), 128);
  const g = e.subarray(0, 16);
  const hex = (b: Buffer) => b.toString('hex');
  const type = [
    hex(Buffer.from(g.subarray(0, 4)).reverse()),
    hex(Buffer.from(g.subarray(4, 6)).reverse()),
    hex(Buffer.from(g.subarray(6, 8)).reverse()),
    hex(g.subarray(8, 10)),
    hex(g.subarray(10, 16)),
  ].join('-');
  return {
    type,
    start: Number(e.readBigUInt64LE(32)) * 512,
    end: (Number(e.readBigUInt64LE(40)) + 1) * 512,
    name: e.subarray(56, 128).toString('utf16le').replace(/\0+$/, ''),
  };
}

/** The md v1.0 superblock at the end of a member (8 KiB from its end, 4 KiB aligned: mdadm's v1.0 place). */
function readMdEnd(
  disk: string,
  start: number,
  end: number,
): { name: string; level: number; raidDisks: number; uuid: string; superOffset: number; dataOffset: number } {
  const at = Math.floor((end - start - 8192) / 4096) * 4096;
  const sb = readAt(disk, start + at, 256);
  assert.equal(sb.readUInt32LE(0), MD_MAGIC, `${disk}: no md superblock at the end of the ESP partition (${start + at})`);
  return {
    uuid: sb.subarray(16, 32).toString('hex'),
    name: sb.subarray(32, 64).toString('latin1').replace(/\0+$/, ''),
    level: sb.readInt32LE(72),
    raidDisks: sb.readUInt32LE(92),
    dataOffset: Number(sb.readBigUInt64LE(128)) * 512,
    superOffset: Number(sb.readBigUInt64LE(136)) * 512,
  };
}

test('software RAID-1 through the real conductor: manual cleaning builds it, a deploy writes the image onto it (both disks hold md metadata, the image and their own boot code), delete_configuration removes it, a bad config is refused by field; under UEFI a deploy step builds it and the ESP is mirrored (metadata 1.0) with an NVRAM entry per disk', {
  skip,
  timeout: 35 * 60_000,
}, async () => {
  const env = ironic!;
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-raid-'));
  const disks = [join(dir, 'disk0.img'), join(dir, 'disk1.img')];
  let vm: Vm | undefined;
  let uuid: string | undefined;
  try {
    // Blank disks: as in IPA, create_configuration refuses disks that still hold partitions (automated cleaning's erase_devices_metadata removes them).
    for (const d of disks) execFileSync('truncate', ['-s', String(DISK_SIZE), d]);
    const payload = makeImage(dir, join(env.httpRoot, 'raid-image.raw'));
    const image = serveImage(env, 'raid-image.raw');
    uuid = await env.enrollNode({
      mac: MAC,
      name: 'vm-raid',
      properties: { capabilities: 'boot_mode:bios' },
      fields: { raid_interface: 'agent' },
    });
    const agentPort = await freePort();
    const apiPort = new URL(env.apiUrl).port;
    const boot = async (tag: string, uefi?: { disks: string[]; vars: string }): Promise<Vm> => {
      vm = await bootVm({
        ...(uefi ? { firmware: 'uefi' as const, ovmfVars: uefi.vars } : {}),
        kernel,
        initrd,
        // ipa-disk-wait-attempts=1: these disks are below the 4 GiB a root disk needs; do not wait 30 s for one.
        append: `console=ttyS0 ipa-api-url=http://10.0.2.2:${apiPort} ipa-advertise-host=127.0.0.1 ipa-advertise-port=${agentPort} ipa-disk-wait-attempts=1`,
        memoryMiB: 1024,
        mac: MAC,
        hostfwd: [{ hostPort: agentPort, guestPort: 9999 }],
        serialLog: join(dir, `serial-${tag}.log`),
        disks: (uefi?.disks ?? disks).map((path, i) => ({ path, format: 'raw' as const, serial: `raid-disk${i}` })),
      });
      return vm;
    };

    await env.setProvisionState(uuid, 'manage');
    await env.waitForProvisionState(uuid, ['manageable'], 60_000);
    const target = { logical_disks: [{ size_gb: 'MAX', raid_level: '1', controller: 'software', volume_name: 'root' }] };
    const put = await env.api('PUT', `/v1/nodes/${uuid}/states/raid`, target);
    assert.equal(put.status, 204, JSON.stringify(put.body));

    // 1. Manual cleaning: delete, then create the RAID-1.
    const t0 = Date.now();
    await env.setProvisionState(uuid, 'clean', {
      clean_steps: [
        { interface: 'raid', step: 'delete_configuration' },
        { interface: 'raid', step: 'create_configuration' },
      ],
    });
    await env.waitForProvisionState(uuid, ['clean wait'], 120_000);
    await boot('clean');
    let n = await env.waitForProvisionState(uuid, ['manageable'], 600_000);
    console.log(`manual cleaning (boot + delete_configuration + create_configuration) took ${Date.now() - t0} ms`);
    assert.equal(n.last_error, null);
    const raidConfig = n.raid_config as { logical_disks: Array<Record<string, unknown>>; last_updated?: string };
    assert.deepEqual(raidConfig.logical_disks, target.logical_disks, 'the conductor stored what the agent built');
    assert.ok(raidConfig.last_updated);
    assert.match(vm!.serialText(), /software RAID: creating \/dev\/md0 \(root, RAID-1\) on \/dev\/vda1 \/dev\/vdb1/);
    const built = disks.map(readMember);
    for (const [i, m] of built.entries()) {
      assert.equal(m.level, 1, `disk${i}: RAID level`);
      assert.equal(m.raidDisks, 2, `disk${i}: members`);
      assert.match(m.name, /(^|:)root$/, `disk${i}: array name`);
      assert.equal(m.partStart, MiB, `disk${i}: the RAID partition starts at 1 MiB (msdos, BIOS)`);
    }
    assert.equal(built[0]!.uuid, built[1]!.uuid, 'both disks are members of one array');
    assert.deepEqual(built.map((m) => m.devNumber).sort(), [0, 1]);

    // 2. A node reboots into the ramdisk to deploy: so does this one (fake power does not).
    await vm!.stop();
    vm = undefined;
    await env.setProvisionState(uuid, 'provide');
    await env.waitForProvisionState(uuid, ['available'], 60_000);
    n = await deployImage(env, uuid, {
      image,
      proxy,
      boot: () => boot('deploy'),
      label: 'deploy onto the array (boot + write_image + install_bootloader)',
    });
    assert.equal(n.last_error, null);
    const serial = vm!.serialText();
    assert.match(
      serial,
      /software RAID: installing on \/dev\/md\d+ \(volume root, the root volume of target_raid_config\)|software RAID: installing on \/dev\/md\d+ \(the first array\)/,
    );
    assert.match(serial, /GRUB2 will be installed on disks \/dev\/vda, \/dev\/vdb \(members of \/dev\/md\d+\)/);
    // The conductor powers the node off at the end: the agent's poweroff -f ends qemu.
    await waitForPowerOff(vm!);
    vm = undefined;

    // 3. Both disk files, read back on the host.
    for (const [i, disk] of disks.entries()) {
      const m = readMember(disk);
      assert.equal(m.uuid, built[0]!.uuid, `disk${i}: still the array cleaning built`);
      const at = m.partStart + m.dataOffset;
      const mbr = readAt(disk, at, 512);
      assert.equal(mbr.readUInt16LE(510), 0xaa55, `disk${i}: the image's MBR at the data offset (${at})`);
      assert.ok(
        readAt(disk, at + PAYLOAD_START, payload.length).equals(payload),
        `disk${i}: the image's payload partition, byte for byte, at data offset + 32 MiB`,
      );
      const dev = `/dev/vd${'ab'[i]}`;
      // parted put its generic boot code there when it made the label; the image's grub-install overwrote its start.
      const marker = `RAMFORGE-GRUB ${dev}`;
      assert.equal(readAt(disk, 0, marker.length).toString('latin1'), marker, `disk${i}: its own MBR has the image's boot code`);
      const calls = readImageFile(dir, disk, m, '/boot/grub-calls.log');
      assert.deepEqual(calls.trim().split('\n'), [
        'grub-install /dev/vda',
        'grub-install /dev/vdb',
        'grub-mkconfig -o /boot/grub/grub.cfg',
      ]);
    }
    console.log(`md data offset ${readMember(disks[0]!).dataOffset / 1024} KiB; both members hold the image and their own boot code`);

    // 4. Tenant gone: undeploy, then manual cleaning in a third boot: raid.delete_configuration, and a
    //    create_configuration the agent must refuse (a RAID-5 first, on two disks), naming the fields.
    await env.setProvisionState(uuid, 'deleted');
    await env.waitForProvisionState(uuid, ['available'], 120_000);
    await env.setProvisionState(uuid, 'manage');
    await env.waitForProvisionState(uuid, ['manageable'], 60_000);
    const bad = { logical_disks: [{ size_gb: 'MAX', raid_level: '5', controller: 'software' }] };
    assert.equal((await env.api('PUT', `/v1/nodes/${uuid}/states/raid`, bad)).status, 204);
    const t2 = Date.now();
    await env.setProvisionState(uuid, 'clean', {
      clean_steps: [
        { interface: 'raid', step: 'delete_configuration' },
        { interface: 'raid', step: 'create_configuration' },
      ],
    });
    await env.waitForProvisionState(uuid, ['clean wait'], 120_000);
    await boot('delete');
    n = await env.waitForProvisionState(uuid, ['clean failed'], 600_000);
    console.log(`manual cleaning (boot + delete_configuration + a refused create_configuration) took ${Date.now() - t2} ms`);
    console.log(`last_error: ${n.last_error}`);
    assert.match(
      String(n.last_error),
      /logical_disks\[0\]\.raid_level: Software RAID Configuration requires RAID-1 for the first logical disk, got 5/,
    );
    assert.match(String(n.last_error), /RAID level 5 with only 2 block devices found \(needs 3\)/);
    assert.deepEqual(n.raid_config, {}, 'the conductor forgot the RAID once the agent deleted it');
    assert.match(vm!.serialText(), /software RAID: deleting \/dev\/md127 \(members \/dev\/vda1 \/dev\/vdb1\)/);
    await vm!.stop();
    vm = undefined;
    for (const [i, disk] of disks.entries()) {
      assert.ok(readAt(disk, 0, 33 * 512).equals(Buffer.alloc(33 * 512)), `disk${i}: partition table (MBR and the GPT area) zeroed`);
      assert.notEqual(readAt(disk, MiB + 4096, 4).readUInt32LE(0), MD_MAGIC, `disk${i}: md superblock zeroed`);
      assert.equal(execFileSync('wipefs', ['-n', disk], { encoding: 'utf8' }).trim(), '', `disk${i}: no signature left`);
    }

    // 5. UEFI: the node boots UEFI now; fresh disks with room for the 551 MiB kept before the RAID; one deploy whose
    //    deploy step raid.apply_configuration builds the array, then the image and install_bootloader (mirrored ESP).
    //    The failed clean step left the node in maintenance.
    assert.equal((await env.api('DELETE', `/v1/nodes/${uuid}/maintenance`)).status, 202);
    await env.setProvisionState(uuid, 'manage');
    await env.waitForProvisionState(uuid, ['manageable'], 60_000);
    const caps = await env.api('PATCH', `/v1/nodes/${uuid}`, [
      { op: 'replace', path: '/properties/capabilities', value: 'boot_mode:uefi' },
    ]);
    assert.equal(caps.status, 200, JSON.stringify(caps.body));
    assert.equal((await env.api('PUT', `/v1/nodes/${uuid}/states/raid`, target)).status, 204);
    await env.setProvisionState(uuid, 'provide');
    await env.waitForProvisionState(uuid, ['available'], 60_000);
    const uefiDisks = [join(dir, 'uefi0.img'), join(dir, 'uefi1.img')];
    for (const d of uefiDisks) execFileSync('truncate', ['-s', String(UEFI_DISK_SIZE), d]);
    const vars = join(dir, 'OVMF_VARS.fd');
    copyFileSync(OVMF_VARS, vars);
    const loader = makeUefiImage(dir, join(env.httpRoot, 'raid-uefi-image.raw'));
    // The undeploy cleared instance_info.
    n = await deployImage(env, uuid, {
      image: serveImage(env, 'raid-uefi-image.raw'),
      proxy,
      deploySteps: [{ interface: 'raid', step: 'apply_configuration', args: { raid_config: target }, priority: 90 }],
      boot: () => boot('uefi', { disks: uefiDisks, vars }),
      label: 'UEFI deploy (OVMF boot + apply_configuration + write_image + mirrored ESP)',
      timeoutMs: 900_000,
    });
    assert.equal(n.last_error, null);
    assert.match(
      vm!.serialText(),
      /software RAID: mirroring the ESP as \/dev\/md\d+ \(RAID-1, metadata 1\.0\) over \/dev\/vda2 \/dev\/vdb2/,
    );
    await waitForPowerOff(vm!);
    vm = undefined;
    const espArrays = new Set<string>();
    for (const [i, disk] of uefiDisks.entries()) {
      const raidPart = gptEntry(disk, 1);
      assert.equal(raidPart.start, 551 * MiB, `uefi${i}: the RAID partition starts after the 551 MiB kept for the ESP`);
      assert.equal(readMemberAt(disk, raidPart.start).name.replace(/^.*:/, ''), 'root', `uefi${i}: the root array's member`);
      const esp = gptEntry(disk, 2);
      assert.equal(esp.type, ESP_GUID, `uefi${i}: partition 2 is an ESP`);
      assert.equal(esp.name, `uefi-holder-${i}`);
      assert.equal(esp.end - esp.start, 550 * MiB);
      const sb = readMdEnd(disk, esp.start, esp.end);
      assert.equal(sb.name.replace(/^.*:/, ''), 'esp', `uefi${i}: the ESP mirror's name`);
      assert.equal(sb.level, 1);
      assert.equal(sb.raidDisks, 2);
      // Metadata 1.0: the data (the FAT) starts at the member's first byte, the superblock is in its last 64 KiB.
      assert.equal(sb.dataOffset, 0, 'metadata 1.0: data offset 0');
      assert.ok(sb.superOffset >= esp.end - esp.start - 64 * 1024, `metadata 1.0: the superblock at the end (${sb.superOffset})`);
      espArrays.add(sb.uuid);
      // The FAT starts at the partition's first byte (what the firmware reads): the image's loader is in it.
      const got = execFileSync('mtype', ['-i', `${disk}@@${esp.start}`, '::/EFI/BOOT/BOOTX64.EFI'], { maxBuffer: 1 << 20 });
      assert.ok(got.equals(loader), `uefi${i}: the image's \\EFI\\BOOT\\BOOTX64.EFI on this disk's ESP`);
    }
    assert.equal(espArrays.size, 1, 'both ESPs are members of one array');
    const nv = readFileSync(vars);
    for (const i of [0, 1]) assert.ok(nv.includes(utf16(`ironic1 (RAID, part${i})`)), `an NVRAM entry "ironic1 (RAID, part${i})"`);
    console.log('UEFI on RAID-1: both disks carry the mirrored ESP (md 1.0) with the loader; NVRAM holds an entry per disk');
  } catch (e) {
    printVmFailure(
      env,
      vm,
      ['clean', 'deploy', 'uefi'].map((t) => join(dir, `serial-${t}.log`)),
    );
    throw e;
  } finally {
    await vm?.stop();
    if (uuid) await env.deleteNode(uuid).catch(() => undefined);
    rmSync(join(env.httpRoot, 'raid-image.raw'), { force: true });
    rmSync(join(env.httpRoot, 'raid-uefi-image.raw'), { force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
