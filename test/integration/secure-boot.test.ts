/**
 * Secure Boot end to end, under OVMF with enforcement real (q35, SMM,
 * secure flash): the ISO made from the shared build's signed Debian kernel
 * boots through shim and the signed GRUB with Microsoft's keys enrolled,
 * the kernel says Secure Boot is on and locks down, and the agent answers
 * from the host; an unsigned or untrusted kernel does not boot there. The
 * UKI boots without Secure Boot, and signed with Debian's OVMF test key
 * ("snakeoil", enrolled in OVMF_VARS_4M.snakeoil.fd) with it. Rebuilds give
 * the same ISO and UKI bytes.
 *
 * Run: node --import tsx --test test/integration/secure-boot.test.ts
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UserError } from '../../builder/src/errors.js';
import { findTool, run } from '../../builder/src/exec/run.js';
import { buildEspImage, espPlan } from '../../builder/src/outputs/esp-image.js';
import { makeIso } from '../../builder/src/outputs/iso.js';
import { findMissingIsoTools } from '../../builder/src/outputs/iso-tools.js';
import { isSignedPe } from '../../builder/src/outputs/pe.js';
import { makeUki } from '../../builder/src/outputs/uki.js';
import { OVMF_CODE_SECBOOT, OVMF_SECURE_VARS, bootVm, freePort, type BootVmOptions, type Vm } from '../support/qemu.js';
import { sharedBuild, type SharedBuild } from '../support/shared-build.js';
import { postAgentCommand, runAgentCommand } from '../support/agent-api.js';
import { startFileServer } from '../support/ironic-conf.js';

const EPOCH = 1700000000;
const APPEND = 'console=ttyS0,115200';
const SNAKEOIL = { key: '/usr/share/ovmf/PkKek-1-snakeoil.key', cert: '/usr/share/ovmf/PkKek-1-snakeoil.pem' };
const BOOT_TIMEOUT_MS = 300_000;

function whyMissing(): string | undefined {
  const missing = findMissingIsoTools().map((t) => t.pkg);
  for (const [tool, pkg] of [
    ['qemu-system-x86_64', 'qemu-system-x86'],
    ['sbattach', 'sbsigntool'],
    ['openssl', 'openssl'],
  ] as const) {
    if (!findTool(tool)) missing.push(pkg);
  }
  for (const f of [OVMF_CODE_SECBOOT, OVMF_SECURE_VARS.ms, OVMF_SECURE_VARS.snakeoil, SNAKEOIL.key])
    if (!existsSync(f)) missing.push('ovmf');
  return missing.length ? `missing Debian packages: ${[...new Set(missing)].join(' ')}` : undefined;
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

describe('Secure Boot ISO and UKI', { skip: whyMissing() }, () => {
  let b: SharedBuild;
  let dir: string;
  let disk: string;
  /** The snakeoil key without its passphrase ('snakeoil'), as sbsign wants it. */
  let snakeoil: { key: string; cert: string };
  let unsignedKernel: string;

  before(
    async () => {
      b = await sharedBuild();
      dir = await mkdtemp(join(tmpdir(), 'ramforge-sb-'));
      // Like a real target the VM has a disk, else the agent first waits ~30 s for one.
      disk = join(dir, 'disk.img');
      await writeFile(disk, '');
      await truncate(disk, 8 * 1024 ** 3);
      snakeoil = { key: join(dir, 'snakeoil.key'), cert: SNAKEOIL.cert };
      await run(['openssl', 'rsa', '-in', SNAKEOIL.key, '-passin', 'pass:snakeoil', '-out', snakeoil.key]);
      unsignedKernel = join(dir, 'vmlinuz.unsigned');
      await copyFile(b.kernel, unsignedKernel);
      await run(['sbattach', '--remove', unsignedKernel]);
    },
    { timeout: 40 * 60_000 },
  );
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const iso = (name: string, kernel: string, extra: Partial<Parameters<typeof makeIso>[0]> = {}) =>
    makeIso({
      kernel,
      initrd: b.initramfs,
      out: join(dir, name),
      append: APPEND,
      epoch: EPOCH,
      timeoutSeconds: 0,
      workDir: join(dir, `work-${name}`),
      ...extra,
    });

  async function boot(opts: BootVmOptions, f: (vm: Vm, port: number) => Promise<void>): Promise<void> {
    const port = await freePort();
    const vm = await bootVm({
      memoryMiB: 1024,
      firmware: 'uefi',
      hostfwd: [{ hostPort: port, guestPort: 9999 }],
      disks: [{ path: disk }],
      ...opts,
    });
    try {
      await f(vm, port);
    } catch (e) {
      process.stderr.write(`[secure-boot] serial tail:\n${vm.serialText().slice(-4000)}\n`);
      throw e;
    } finally {
      await vm.stop();
    }
  }

  /** Resolves with what the firmware or shim said when it refused; fails if a kernel started. */
  async function expectNoBoot(vm: Vm, refusal: RegExp): Promise<string> {
    const seen = await vm.waitForSerial(new RegExp(`${refusal.source}|Linux version`), 180_000);
    assert.doesNotMatch(seen, /Linux version/, 'a kernel started although it should have been refused');
    return seen;
  }

  it('the shared build kernel is signed, the stripped copy is not', async () => {
    assert.equal(await isSignedPe(b.kernel), true);
    assert.equal(await isSignedPe(unsignedKernel), false);
  });

  it('boots with Secure Boot enforced and Microsoft keys: shim, signed GRUB, signed kernel; under lockdown the agent inventories, erases, writes an image and adds an NVRAM entry', {
    timeout: BOOT_TIMEOUT_MS + 600_000,
  }, async (t) => {
    // ipa-disk-wait-attempts=1: the 64 MiB target is below the 4 GiB a root disk needs without hints.
    const r = await iso('sb.iso', b.kernel, { secureBoot: 'on', append: `${APPEND} ipa-disk-wait-attempts=1` });
    assert.equal(r.secureBoot, true);
    assert.ok(r.bootloaders['shim-signed'] && r.bootloaders['grub-efi-amd64-signed']);
    const target = join(dir, 'target.img');
    await makeTenantDisk(target, 64 * MiB);
    const served = join(dir, 'served');
    const image = await makeWholeDiskImage(join(served, 'whole.raw'), join(dir, 'esp.img'));
    const files = await startFileServer(served, 0);
    try {
      await boot({ iso: r.path, secureBoot: 'ms', disks: [{ path: target, serial: 'sb-disk0' }] }, async (vm, port) => {
        const res = await vm.waitForHttp(`http://127.0.0.1:${port}/v1/status`, BOOT_TIMEOUT_MS);
        assert.equal(res.status, 200);
        t.diagnostic(`/v1/status after ${(res.ms / 1000).toFixed(1)} s`);
        // The serial console under TCG drops a byte now and then ("EFI Secur Boot"): match the stable part;
        // the inventory below reads Secure Boot and lockdown from the kernel itself.
        assert.match(vm.serialText(), /Kernel is locked down from EFI/);
        // Every module the flavor loads is Debian-signed: the kernel refused none (virtio_net, vfat, ... are used below).
        assert.doesNotMatch(
          vm.serialText(),
          /Loading of unsigned module is rejected|module verification failed|Lockdown: .*unsigned module/,
        );
        await checkLockdownWork(t, vm, port, target, image, files.port);
      });
    } finally {
      await files.close();
    }
  });

  it('refuses secureBoot: on with an unsigned kernel, naming it', async () => {
    await assert.rejects(iso('bad.iso', unsignedKernel, { secureBoot: 'on' }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /kernel '.*vmlinuz\.unsigned' is not signed/);
      return true;
    });
  });

  it('does not boot with an unsigned kernel (auto: GRUB built here, refused by the firmware)', { timeout: 240_000 }, async (t) => {
    const r = await iso('unsigned.iso', unsignedKernel);
    assert.equal(r.secureBoot, false);
    await boot({ iso: r.path, secureBoot: 'ms' }, async (vm) => {
      t.diagnostic(`refused: ${await expectNoBoot(vm, /Access Denied|Security Violation/)}`);
    });
  });

  it('does not boot a kernel signed by a key the firmware does not trust (shim refuses it)', { timeout: 240_000 }, async (t) => {
    const r = await iso('untrusted.iso', unsignedKernel, { signing: snakeoil });
    assert.equal(r.secureBoot, true, 'a signed kernel takes the shim path');
    await boot({ iso: r.path, secureBoot: 'ms' }, async (vm) => {
      t.diagnostic(`refused: ${await expectNoBoot(vm, /bad shim signature|Security Violation|Access Denied/)}`);
    });
  });

  /** A FAT image with the UKI as the removable-media boot file, like a USB stick or an ESP. */
  async function ukiDisk(uki: string): Promise<string> {
    const img = `${uki}.img`;
    await rm(img, { force: true });
    await buildEspImage(
      espPlan({ files: [{ source: uki, target: 'EFI/BOOT/BOOTX64.EFI', size: (await stat(uki)).size }], seed: uki, epoch: EPOCH }),
      img,
    );
    return img;
  }

  const uki = (name: string, signing?: { key: string; cert: string }) =>
    makeUki({
      kernel: b.kernel,
      initrd: b.initramfs,
      cmdline: APPEND,
      out: join(dir, name),
      workDir: join(dir, `work-${name}`),
      ...(signing ? { signing } : {}),
    });

  it('boots the unsigned UKI under OVMF without Secure Boot; the agent answers', { timeout: BOOT_TIMEOUT_MS + 60_000 }, async (t) => {
    const r = await uki('plain.efi');
    assert.equal(await isSignedPe(r.path), false);
    const img = await ukiDisk(r.path);
    await boot({ disks: [{ path: img }, { path: disk }] }, async (vm, port) => {
      const res = await vm.waitForHttp(`http://127.0.0.1:${port}/v1/status`, BOOT_TIMEOUT_MS);
      assert.equal(res.status, 200);
      t.diagnostic(`/v1/status after ${(res.ms / 1000).toFixed(1)} s`);
      assert.match(vm.serialText(), /Command line: console=ttyS0,115200/);
    });
  });

  it('boots the UKI signed with a key enrolled in the variable store, with Secure Boot enforced', {
    timeout: BOOT_TIMEOUT_MS + 60_000,
  }, async (t) => {
    const r = await uki('signed.efi', snakeoil);
    assert.equal(r.signed, true);
    assert.equal(await isSignedPe(r.path), true);
    const img = await ukiDisk(r.path);
    await boot({ disks: [{ path: img }, { path: disk }], secureBoot: 'snakeoil' }, async (vm, port) => {
      const res = await vm.waitForHttp(`http://127.0.0.1:${port}/v1/status`, BOOT_TIMEOUT_MS);
      assert.equal(res.status, 200);
      t.diagnostic(`/v1/status after ${(res.ms / 1000).toFixed(1)} s`);
      assert.match(vm.serialText(), /secureboot: Secure boot enabled/);
    });
  });

  it('does not boot the unsigned UKI with Secure Boot enforced', { timeout: 240_000 }, async (t) => {
    const img = await ukiDisk(join(dir, 'plain.efi'));
    await boot({ disks: [{ path: img }], secureBoot: 'snakeoil' }, async (vm) => {
      t.diagnostic(`refused: ${await expectNoBoot(vm, /Access Denied|Security Violation/)}`);
    });
  });

  it('gives identical ISO and UKI bytes when rebuilt elsewhere later', async () => {
    await new Promise((r) => setTimeout(r, 1100));
    const first = await sha256((await iso('repro.iso', b.kernel, { secureBoot: 'on' })).path);
    const again = await makeIso({
      kernel: b.kernel,
      initrd: b.initramfs,
      out: join(dir, 'again', 'repro.iso'),
      append: APPEND,
      epoch: EPOCH,
      timeoutSeconds: 0,
      workDir: join(dir, 'elsewhere'),
      secureBoot: 'on',
    });
    assert.equal(await sha256(again.path), first);
    const site1 = await sha256((await iso('site1.iso', unsignedKernel, { signing: snakeoil })).path);
    const site2 = await makeIso({
      kernel: unsignedKernel,
      initrd: b.initramfs,
      out: join(dir, 'again', 'site1.iso'),
      append: APPEND,
      epoch: EPOCH,
      timeoutSeconds: 0,
      workDir: join(dir, 'elsewhere'),
      signing: snakeoil,
    });
    assert.equal(await sha256(site2.path), site1, 'an ISO whose kernel is signed with a site key');
    const u1 = await uki('signed.efi', snakeoil);
    const u2 = await makeUki({
      kernel: b.kernel,
      initrd: b.initramfs,
      cmdline: APPEND,
      out: join(dir, 'again', 'signed.efi'),
      workDir: join(dir, 'elsewhere'),
      signing: snakeoil,
    });
    assert.equal(await sha256(u2.path), await sha256(u1.path));
    const p1 = await uki('plain.efi');
    const p2 = await makeUki({
      kernel: b.kernel,
      initrd: b.initramfs,
      cmdline: APPEND,
      out: join(dir, 'again', 'plain.efi'),
      workDir: join(dir, 'elsewhere'),
    });
    assert.equal(await sha256(p2.path), await sha256(p1.path));
  });
});

const MiB = 1 << 20;
const MARKER = Buffer.alloc(4096, 'previous tenant data ');
type Diag = { diagnostic(msg: string): void };

/** A sparse disk with tenant bytes at its start, middle and end. */
async function makeTenantDisk(file: string, size: number): Promise<void> {
  await writeFile(file, '');
  await truncate(file, size);
  const fh = await open(file, 'r+');
  try {
    for (const off of [0, size / 2, size - MARKER.length]) await fh.write(MARKER, 0, MARKER.length, off);
  } finally {
    await fh.close();
  }
}

/** The offset of the first non-zero byte of `file`, or -1. */
async function firstNonZero(file: string): Promise<number> {
  const data = await readFile(file);
  return data.findIndex((x) => x !== 0);
}

/**
 * A whole-disk UEFI image as a distribution installs one: GPT, a 16 MiB ESP
 * with Debian's signed shim and GRUB under EFI/debian (and shim's
 * BOOTX64.CSV naming the entry) plus the removable-media copy, and a 16 MiB
 * "root" partition of random bytes, so every byte written can be compared.
 */
async function makeWholeDiskImage(file: string, esp: string): Promise<{ path: string; sha256: string; size: number }> {
  const size = 40 * MiB;
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, '');
  await truncate(file, size);
  await run(['sgdisk', '-n', '1:2048:+16M', '-t', '1:ef00', '-n', '2:0:+16M', '-t', '2:8300', file]);
  await rm(esp, { force: true });
  await run(['mkfs.vfat', '-C', esp, String(16 * 1024)]);
  await run(['mmd', '-i', esp, '::/EFI', '::/EFI/BOOT', '::/EFI/debian']);
  const shim = '/usr/lib/shim/shimx64.efi.signed';
  for (const [src, dest] of [
    [shim, '::/EFI/BOOT/BOOTX64.EFI'],
    [shim, '::/EFI/debian/shimx64.efi'],
    ['/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed', '::/EFI/debian/grubx64.efi'],
  ] as const)
    await run(['mcopy', '-i', esp, src, dest]);
  // shim's BOOTX64.CSV as Debian installs it (shim-unsigned's file): UTF-16LE, no byte order mark.
  const csv = `${esp}.csv`;
  await writeFile(csv, Buffer.from('shimx64.efi,debian,,This is the boot entry for debian\n', 'utf16le'));
  await run(['mcopy', '-i', esp, csv, '::/EFI/debian/BOOTX64.CSV']);
  const fh = await open(file, 'r+');
  try {
    await fh.write(await readFile(esp), 0, 16 * MiB, MiB);
    await fh.write(randomBytes(16 * MiB), 0, 16 * MiB, 17 * MiB);
  } finally {
    await fh.close();
  }
  return { path: file, sha256: await sha256(file), size };
}

/**
 * Under enforced lockdown, the agent's work on a real (virtio) disk, checked
 * from the host: the inventory reports Secure Boot and lockdown,
 * erase_devices overwrites every byte, standby.prepare_image writes the
 * whole-disk image (served on 127.0.0.1, fetched by the guest as 10.0.2.2),
 * and image.install_bootloader makes efibootmgr add an NVRAM entry that
 * lands in the VM's variable store.
 */
async function checkLockdownWork(
  t: Diag,
  vm: Vm,
  port: number,
  target: string,
  image: { path: string; sha256: string; size: number },
  imagePort: number,
): Promise<void> {
  const inv = await postAgentCommand(port, 'poll.get_hardware_info', {}, true);
  assert.equal(inv.command_status, 'SUCCEEDED', JSON.stringify(inv.command_error));
  const hw = inv.command_result!;
  t.diagnostic(
    `inventory under lockdown: boot=${JSON.stringify(hw.boot)} system_vendor=${JSON.stringify(hw.system_vendor)} memory=${JSON.stringify(hw.memory)} disks=${hw.disks?.length}`,
  );
  // Lockdown (integrity) must not cost the agent its inventory: DMI comes from sysfs, not /dev/mem.
  assert.match(String(hw.system_vendor?.manufacturer), /QEMU/);
  assert.ok(Number(hw.memory?.total) > 0);
  assert.deepEqual(
    hw.disks.map((d: { name: string }) => d.name),
    ['/dev/vda'],
  );
  assert.equal(hw.boot.current_boot_mode, 'uefi');
  assert.equal(hw.boot.secure_boot, true);
  assert.equal(hw.boot.lockdown, 'integrity');
  assert.ok(hw.boot.lockdown_unavailable.some((x: string) => x.startsWith('/dev/mem')));
  assert.ok(Array.isArray(hw.boot.lockdown_denied));
  // ... and its log says so (on the console, through the agent's tee).
  assert.match(vm.serialText(), /kernel lockdown: integrity \(Secure Boot on\); unavailable to the agent: \/dev\/mem/);

  const node = {
    uuid: 'secure-boot-node',
    properties: { root_device: { name: '/dev/vda' } },
    // IPA's erase defaults: one random pass, then zeros.
    driver_internal_info: { agent_erase_devices_iterations: 1, agent_erase_devices_zeroize: true },
  };
  const erase = await runAgentCommand(
    port,
    'clean.execute_clean_step',
    { step: { interface: 'deploy', step: 'erase_devices', priority: 10, reboot_requested: false, abortable: true }, node, ports: [] },
    300_000,
  );
  assert.equal(erase.command_status, 'SUCCEEDED', JSON.stringify(erase.command_error));
  t.diagnostic(`erase_devices: ${JSON.stringify(erase.command_result?.clean_result)}`);
  assert.match(String(erase.command_result?.clean_result?.['/dev/vda']), /^overwrite: 1 random pass \+ zeros/);
  const bad = await firstNonZero(target);
  assert.equal(bad, -1, `byte ${bad} of the disk is not zero after erase_devices`);

  const write = await runAgentCommand(
    port,
    'standby.prepare_image',
    {
      image_info: {
        id: 'whole.raw',
        urls: [`http://10.0.2.2:${imagePort}/whole.raw`],
        disk_format: 'raw',
        container_format: 'bare',
        stream_raw_images: true,
        os_hash_algo: 'sha256',
        os_hash_value: image.sha256,
      },
      configdrive: null,
    },
    300_000,
  );
  assert.equal(write.command_status, 'SUCCEEDED', JSON.stringify(write.command_error));
  // Byte for byte from the ESP to the end of the root partition (the GPT headers are rewritten for the larger disk).
  const want = (await readFile(image.path)).subarray(MiB, 33 * MiB);
  const got = (await readFile(target)).subarray(MiB, 33 * MiB);
  assert.ok(got.equals(want), 'the disk holds the image');

  // What the conductor sends next for a whole-disk image: the disk identifier as root, no ESP UUID (the agent finds the ESP).
  const uuids = await postAgentCommand(port, 'standby.get_partition_uuids', {}, true);
  assert.equal(uuids.command_status, 'SUCCEEDED', JSON.stringify(uuids.command_error));
  const boot = await runAgentCommand(
    port,
    'image.install_bootloader',
    {
      root_uuid: uuids.command_result?.['root uuid'] ?? null,
      efi_system_part_uuid: null,
      prep_boot_part_uuid: null,
      target_boot_mode: 'uefi',
    },
    300_000,
  );
  assert.equal(boot.command_status, 'SUCCEEDED', JSON.stringify(boot.command_error));
  const varsFile = vm.argv.find((a) => a.startsWith('if=pflash') && !a.includes('readonly'))?.replace(/^.*file=/, '');
  assert.ok(varsFile, 'the VM has a writable variable store');
  const vars = await readFile(varsFile);
  // efibootmgr -c -L debian -l \EFI\debian\shimx64.efi: a Boot#### variable with that label and file path (UTF-16).
  assert.ok(vars.includes(Buffer.from('\\EFI\\debian\\shimx64.efi', 'utf16le')), "an NVRAM entry for the image's shim");
  assert.ok(vars.includes(Buffer.from('debian\0', 'utf16le')), "the entry carries BOOTX64.CSV's label");
  const again = await postAgentCommand(port, 'poll.get_hardware_info', {}, true);
  t.diagnostic(
    `lockdown denials (the kernel's record, from the inventory) after all that: ${JSON.stringify(again.command_result?.boot?.lockdown_denied)}`,
  );
  // Nothing the agent ran was refused: the only entry allowed is the kernel's own hibernation check at boot.
  assert.deepEqual(
    (again.command_result!.boot.lockdown_denied as string[]).filter((d) => !d.endsWith(': hibernation')),
    [],
  );
}
