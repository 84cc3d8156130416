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
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
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

  it('boots with Secure Boot enforced and Microsoft keys: shim, signed GRUB, signed kernel; the agent answers', {
    timeout: BOOT_TIMEOUT_MS + 120_000,
  }, async (t) => {
    const r = await iso('sb.iso', b.kernel, { secureBoot: 'on' });
    assert.equal(r.secureBoot, true);
    assert.ok(r.bootloaders['shim-signed'] && r.bootloaders['grub-efi-amd64-signed']);
    await boot({ iso: r.path, secureBoot: 'ms' }, async (vm, port) => {
      const res = await vm.waitForHttp(`http://127.0.0.1:${port}/v1/status`, BOOT_TIMEOUT_MS);
      assert.equal(res.status, 200);
      t.diagnostic(`/v1/status after ${(res.ms / 1000).toFixed(1)} s`);
      const serial = vm.serialText();
      assert.match(serial, /secureboot: Secure boot enabled/);
      assert.match(serial, /Kernel is locked down from EFI Secure Boot/);
      // Lockdown (integrity) must not cost the agent its inventory: DMI comes from sysfs, not /dev/mem.
      const inv = await fetch(`http://127.0.0.1:${port}/v1/commands/?wait=true`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'poll.get_hardware_info', params: {} }),
        signal: AbortSignal.timeout(120_000),
      }).then((x) => x.json() as Promise<{ command_status: string; command_result: Record<string, any> | null; command_error: unknown }>);
      assert.equal(inv.command_status, 'SUCCEEDED', JSON.stringify(inv.command_error));
      const hw = inv.command_result!;
      t.diagnostic(
        `inventory under lockdown: system_vendor=${JSON.stringify(hw.system_vendor)} memory=${JSON.stringify(hw.memory)} disks=${hw.disks?.length}`,
      );
      assert.match(String(hw.system_vendor?.manufacturer), /QEMU/);
      assert.ok(Number(hw.memory?.total) > 0);
      assert.ok((hw.disks?.length ?? 0) >= 1);
      // What lockdown refused while the ramdisk booted and ran the inventory (the kernel logs each denial).
      const denied = vm
        .serialText()
        .split('\n')
        .filter((l) => /Lockdown: /.test(l))
        .map((l) => l.trim());
      t.diagnostic(`lockdown denials: ${denied.length ? denied.join(' | ') : 'none'}`);
    });
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
