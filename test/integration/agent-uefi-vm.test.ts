/**
 * UEFI partition images, checked by their effect: the tinyipa ramdisk boots
 * under OVMF (UEFI, -accel tcg) with a virtio disk; the agent (standalone, driven
 * through its API as the conductor would: prepare_image, get_partition_uuids,
 * install_bootloader) deploys a partition image whose /boot/efi holds only
 * \EFI\BOOT\BOOTX64.EFI — a GRUB built here that prints a marker. Then, from the
 * host: the ESP holds the loader, the root's /etc/fstab has the ESP line, and the
 * OVMF variable store holds the NVRAM entry; and the SAME machine (same variable
 * store, no kernel given) boots from its disk and prints the marker.
 * In the same ramdisk boot, first: LLDP for real in tinyipa (ipa-collect-lldp=1,
 * tcpdump in the ramdisk): a second NIC is a qemu UDP socket netdev on 127.0.0.1,
 * into which the test sends LLDP frames as a switch port would, and the agent's
 * inventory must show their TLVs on that NIC; then a whole-disk image without an
 * ESP in UEFI mode, and a partition image with neither a loader nor GRUB for EFI,
 * each fail install_bootloader with a clear error.
 *
 * The guest fetches the images from the host as 10.0.2.2 (slirp); the host only
 * talks to the guest through the hostfwd on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket } from 'node:dgram';
import { after, before, test } from 'node:test';
import { startImageServer, type TestImageServer } from '../../agent/test/support/image-server.js';
import { bootVm, freePort, OVMF_VARS, type Vm } from '../support/qemu.js';
import { sharedBuild } from '../support/shared-build.js';

const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : !existsSync('/usr/bin/grub-mkstandalone') || !existsSync('/usr/lib/grub/x86_64-efi') || !existsSync('/usr/bin/mcopy')
      ? 'needs grub-common, grub-efi-amd64-bin and mtools (./ramforge doctor --for test --fix)'
      : false;
const MARKER = 'RAMFORGE-UEFI-DEPLOYED-OK';
const MiB = 1 << 20;
const ROOT_UUID = '5e1f0a11-0000-4000-8000-00000000beef';
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let dir = '';
let srv: TestImageServer | undefined;
let kernel = process.env.RAMFORGE_TEST_KERNEL;
let initrd = process.env.RAMFORGE_TEST_INITRAMFS;
const images: Record<string, Buffer> = {};
let loader = Buffer.alloc(0);

before(
  async () => {
    if (skip) return;
    dir = mkdtempSync(join(tmpdir(), 'ramforge-uefi-'));
    // The deployed OS's loader: GRUB for EFI with an embedded config that prints the marker.
    writeFileSync(join(dir, 'grub.cfg'), `echo ${MARKER}\nsleep 600\n`);
    const tree = join(dir, 'root');
    mkdirSync(join(tree, 'boot/efi/EFI/BOOT'), { recursive: true });
    mkdirSync(join(tree, 'etc'));
    execFileSync('grub-mkstandalone', [
      ...['-O', 'x86_64-efi', '-o', join(tree, 'boot/efi/EFI/BOOT/BOOTX64.EFI')],
      ...['--install-modules=normal echo sleep configfile', '--locales=', '--fonts=', '--themes='],
      `boot/grub/grub.cfg=${join(dir, 'grub.cfg')}`,
    ]);
    loader = readFileSync(join(tree, 'boot/efi/EFI/BOOT/BOOTX64.EFI'));
    writeFileSync(join(tree, 'etc/fstab'), `UUID=${ROOT_UUID}\t/\text4\tdefaults\t0\t1\n`);
    // The partition image: an ext4 root filesystem made from that tree.
    execFileSync('mkfs.ext4', ['-q', '-U', ROOT_UUID, '-d', tree, join(dir, 'root.img'), '48M']);
    images['root.img'] = readFileSync(join(dir, 'root.img'));
    // A partition image with neither /boot/efi files nor GRUB: nothing to boot in UEFI mode.
    mkdirSync(join(dir, 'bare/etc'), { recursive: true });
    writeFileSync(join(dir, 'bare/etc/fstab'), '');
    execFileSync('mkfs.ext4', ['-q', '-d', join(dir, 'bare'), join(dir, 'bare.img'), '8M']);
    images['bare.img'] = readFileSync(join(dir, 'bare.img'));
    // A whole-disk image without an ESP: MBR, one Linux partition.
    execFileSync('truncate', ['-s', '8M', join(dir, 'bios.img')]);
    execFileSync('parted', ['-s', join(dir, 'bios.img'), 'mklabel', 'msdos', 'mkpart', 'primary', '1MiB', '7MiB']);
    images['bios.img'] = readFileSync(join(dir, 'bios.img'));
    srv = await startImageServer(Object.fromEntries(Object.entries(images).map(([k, v]) => [`/${k}`, { data: v }])));
    if (kernel && initrd) return;
    const b = await sharedBuild();
    kernel = b.kernel;
    initrd = b.initramfs;
  },
  { timeout: 30 * 60_000 },
);
after(async () => {
  await srv?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface CommandResult {
  id: string;
  command_status: string;
  command_error: unknown;
  command_result: Record<string, unknown> | null;
}

/** An agent command as the conductor sends it; async ones are polled until done. */
async function command(base: string, name: string, params: Record<string, unknown>, timeoutMs = 600_000): Promise<CommandResult> {
  const res = await fetch(`${base}/v1/commands/?wait=true`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, params }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  let r = (await res.json()) as CommandResult;
  assert.ok(r.id, `${name}: HTTP ${res.status} ${JSON.stringify(r)}`);
  for (const deadline = Date.now() + timeoutMs; r.command_status === 'RUNNING'; ) {
    assert.ok(Date.now() < deadline, `${name} still running after ${timeoutMs} ms`);
    await new Promise((w) => setTimeout(w, 1000));
    r = (await (await fetch(`${base}/v1/commands/${r.id}`)).json()) as CommandResult;
  }
  return r;
}

const imageInfo = (file: string, extra: Record<string, unknown>) => ({
  id: file,
  urls: [`http://10.0.2.2:${new URL(srv!.url('/')).port}/${file}`],
  disk_format: 'raw',
  stream_raw_images: true,
  os_hash_algo: 'sha256',
  os_hash_value: sha256(images[file]!),
  ...extra,
});

const utf16 = (s: string): Buffer => Buffer.from(s, 'utf16le');

const LLDP_MAC = '52:54:00:77:00:01';
const tlv = (type: number, value: Buffer): Buffer => {
  const h = Buffer.alloc(2);
  h.writeUInt16BE((type << 9) | value.length);
  return Buffer.concat([h, value]);
};
/** A switch port's LLDPDU: chassis MAC, port name, TTL 120, system name, End. */
const LLDP_TLVS: Array<[number, Buffer]> = [
  [1, Buffer.from('04020000aabbcc', 'hex')],
  [2, Buffer.from('\x05Ethernet1/9', 'latin1')],
  [3, Buffer.from('0078', 'hex')],
  [5, Buffer.from('switch-uefi')],
  [0, Buffer.alloc(0)],
];
const LLDP_FRAME = Buffer.concat([Buffer.from('0180c200000e020000aabbcc88cc', 'hex'), ...LLDP_TLVS.map(([t, v]) => tlv(t, v))]);

/** A UDP port on 127.0.0.1 that is free now (for qemu's socket netdev). */
async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Byte ranges of the used GPT entries (512-byte sectors), read from the header at LBA 1. */
function gptPartitions(file: string): Array<{ offset: number; size: number }> {
  const fd = openSync(file, 'r');
  try {
    const hdr = Buffer.alloc(512);
    readSync(fd, hdr, 0, 512, 512);
    assert.equal(hdr.toString('latin1', 0, 8), 'EFI PART');
    const [lba, count, size] = [Number(hdr.readBigUInt64LE(72)), hdr.readUInt32LE(80), hdr.readUInt32LE(84)];
    const table = Buffer.alloc(count * size);
    readSync(fd, table, 0, table.length, lba * 512);
    const out: Array<{ offset: number; size: number }> = [];
    for (let i = 0; i < count; i++) {
      const e = table.subarray(i * size, (i + 1) * size);
      if (e.subarray(0, 16).every((b) => b === 0)) continue;
      const [first, last] = [Number(e.readBigUInt64LE(32)), Number(e.readBigUInt64LE(40))];
      out.push({ offset: first * 512, size: (last - first + 1) * 512 });
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

test('tinyipa under OVMF: LLDP captured on a NIC; a UEFI partition image gets its /boot/efi on the ESP, the fstab line and the NVRAM entry, and the machine boots it; a whole-disk image without an ESP fails clearly', {
  skip,
  timeout: 30 * 60_000,
}, async () => {
  const disk = join(dir, 'disk.img');
  // Sparse; above the 4 GiB the agent's root disk guess asks for.
  execFileSync('truncate', ['-s', `${4608 * MiB}`, disk]);
  const vars = join(dir, 'OVMF_VARS.fd');
  copyFileSync(OVMF_VARS, vars);
  const agentPort = await freePort();
  const base = `http://127.0.0.1:${agentPort}`;
  // The second NIC's wire: qemu reads frames from UDP 127.0.0.1:nicPort and sends the guest's to our socket (ignored).
  const wire = createSocket('udp4');
  await new Promise<void>((r) => wire.bind(0, '127.0.0.1', r));
  const nicPort = await freeUdpPort();
  let sender: NodeJS.Timeout | undefined;
  let vm: Vm | undefined;
  try {
    vm = await bootVm({
      kernel,
      initrd,
      firmware: 'uefi',
      ovmfVars: vars,
      append: 'console=ttyS0 ipa-standalone=1 ipa-disk-wait-attempts=1 ipa-collect-lldp=1 ipa-lldp-timeout=10',
      memoryMiB: 1024,
      hostfwd: [{ hostPort: agentPort, guestPort: 9999 }],
      disks: [{ path: disk, format: 'raw', serial: 'ramforge-uefi0' }],
      extraArgs: [
        ...['-netdev', `socket,id=lldp,udp=127.0.0.1:${wire.address().port},localaddr=127.0.0.1:${nicPort}`],
        ...['-device', `virtio-net-pci,netdev=lldp,mac=${LLDP_MAC}`],
      ],
    });
    const up = await vm.waitForHttp(`${base}/v1/status`, 300_000);
    console.log(`ramdisk under OVMF answered /v1/status after ${up.ms} ms`);

    // 0. LLDP in the ramdisk: frames every 0.5 s on the second NIC; the inventory shows their TLVs there.
    sender = setInterval(() => wire.send(LLDP_FRAME, nicPort, '127.0.0.1'), 500);
    const hw = await command(base, 'poll.get_hardware_info', {});
    clearInterval(sender);
    assert.equal(hw.command_status, 'SUCCEEDED', JSON.stringify(hw));
    const nics = (hw.command_result as { interfaces: Array<{ name: string; mac_address: string; lldp: unknown }> }).interfaces;
    const nic = nics.find((i) => i.mac_address === LLDP_MAC);
    assert.ok(nic, `no NIC with ${LLDP_MAC}: ${JSON.stringify(nics)}`);
    assert.deepEqual(
      nic.lldp,
      LLDP_TLVS.map(([t, v]) => [t, v.toString('hex')]),
    );
    for (const other of nics.filter((i) => i !== nic)) assert.deepEqual(other.lldp, [], `${other.name} heard no LLDP`);
    console.log(`LLDP in tinyipa: ${nic.name} ${JSON.stringify(nic.lldp)}`);

    // 1. Whole-disk image, no ESP, UEFI: install_bootloader fails and says why.
    let r = await command(base, 'standby.prepare_image', { image_info: imageInfo('bios.img', { image_type: 'whole-disk-image' }) });
    assert.equal(r.command_status, 'SUCCEEDED', JSON.stringify(r));
    const wd = await command(base, 'standby.get_partition_uuids', {});
    r = await command(base, 'image.install_bootloader', {
      root_uuid: wd.command_result!['root uuid'],
      efi_system_part_uuid: null,
      target_boot_mode: 'uefi',
    });
    assert.equal(r.command_status, 'FAILED', JSON.stringify(r));
    assert.match(JSON.stringify(r.command_error), /DeviceNotFound.*No EFI system partition on \/dev\/vda/);
    console.log(`whole-disk image without ESP: ${JSON.stringify(r.command_error)}`);

    // 2. A partition image with no loader and no GRUB for EFI: install_bootloader says what is missing.
    r = await command(base, 'standby.prepare_image', {
      image_info: imageInfo('bare.img', { image_type: 'partition', root_mb: 16, deploy_boot_mode: 'uefi' }),
    });
    assert.equal(r.command_status, 'SUCCEEDED', JSON.stringify(r));
    const bare = (await command(base, 'standby.get_partition_uuids', {})).command_result!;
    r = await command(base, 'image.install_bootloader', {
      root_uuid: bare['root uuid'],
      efi_system_part_uuid: bare['efi system partition uuid'],
      target_boot_mode: 'uefi',
    });
    assert.equal(r.command_status, 'FAILED', JSON.stringify(r));
    assert.match(JSON.stringify(r.command_error), /InvalidImage.*no EFI files in \/boot\/efi and no grub-install/);

    // 3. Partition image in UEFI mode, as the conductor drives it.
    r = await command(base, 'standby.prepare_image', {
      image_info: imageInfo('root.img', { image_type: 'partition', root_mb: 64, deploy_boot_mode: 'uefi' }),
    });
    assert.equal(r.command_status, 'SUCCEEDED', JSON.stringify(r));
    const uuids = (await command(base, 'standby.get_partition_uuids', {})).command_result!;
    assert.equal(uuids['root uuid'], ROOT_UUID);
    const espUuid = String(uuids['efi system partition uuid']);
    assert.match(espUuid, /^[0-9A-F]{4}-[0-9A-F]{4}$/);
    r = await command(base, 'image.install_bootloader', { root_uuid: ROOT_UUID, efi_system_part_uuid: espUuid, target_boot_mode: 'uefi' });
    assert.equal(r.command_status, 'SUCCEEDED', JSON.stringify(r));
    assert.equal((await command(base, 'standby.sync', {})).command_status, 'SUCCEEDED');
    await vm.stop();
    vm = undefined;

    // 4. From the host: the NVRAM entry in the variable store, the ESP's contents, the fstab line.
    const nv = readFileSync(vars);
    assert.ok(nv.includes(utf16('ironic1')), 'no NVRAM entry labelled ironic1 in the OVMF variable store');
    assert.ok(nv.includes(utf16('\\EFI\\BOOT\\BOOTX64.EFI')), 'the NVRAM entry does not point at \\EFI\\BOOT\\BOOTX64.EFI');
    // The root through a read-only loop (offset, sizelimit): /dev/loopNpM needs udev, which this host may not run.
    const parts = gptPartitions(disk);
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    const readFromPartition = (n: number, file: string): Buffer => {
      const p = parts[n - 1]!;
      execFileSync('mount', ['-o', `ro,loop,offset=${p.offset},sizelimit=${p.size}`, disk, mnt]);
      try {
        return readFileSync(join(mnt, file));
      } finally {
        execFileSync('umount', [mnt]);
      }
    };
    assert.equal(parts.length, 2, 'ESP and root');
    // The ESP with mtools (the host kernel may have no vfat driver).
    execFileSync('mcopy', ['-n', '-i', `${disk}@@${parts[0]!.offset}`, '::/EFI/BOOT/BOOTX64.EFI', join(dir, 'esp-loader.efi')], {
      env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
    });
    assert.ok(readFileSync(join(dir, 'esp-loader.efi')).equals(loader), "the ESP holds the image's loader");
    assert.equal(
      readFromPartition(2, 'etc/fstab').toString(),
      `UUID=${ROOT_UUID}\t/\text4\tdefaults\t0\t1\nUUID=${espUuid}\t/boot/efi\tvfat\tumask=0077\t0\t1\n`,
    );

    // 5. The same machine (same NVRAM), no kernel given: the firmware boots the deployed disk.
    vm = await bootVm({
      firmware: 'uefi',
      ovmfVars: vars,
      memoryMiB: 512,
      disks: [{ path: disk, format: 'raw', serial: 'ramforge-uefi0' }],
    });
    await vm.waitForSerial(new RegExp(MARKER), 300_000);
    console.log(`the deployed disk booted to its loader ${Date.now() - vm.startedAt} ms after power on`);
    // OVMF names the entry it boots: the agent's, not the removable-media fallback it would otherwise try.
    const started = /BdsDxe: starting Boot[0-9A-F]{4} "ironic1" from HD\(1,GPT,[^)]*\)\/\\EFI\\BOOT\\BOOTX64\.EFI/.exec(vm.serialText());
    assert.ok(started, `OVMF did not start the ironic1 entry: ${JSON.stringify(vm.serialText().match(/BdsDxe: [^\r\n]*/g))}`);
    console.log(`firmware: ${started[0]}`);
  } catch (e) {
    if (vm) console.error(`--- serial console (tail)\n${vm.serialText().split('\n').slice(-60).join('\n')}`);
    throw e;
  } finally {
    clearInterval(sender);
    await vm?.stop();
    await new Promise<void>((r) => wire.close(() => r()));
  }
});
