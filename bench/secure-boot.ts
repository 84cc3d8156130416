/**
 * Secure Boot cost: the same Secure Boot ISO (shim → signed GRUB → signed
 * kernel) booted to the agent's /v1/status twice in one run, under OVMF
 * with Secure Boot enforced (q35, SMM, secure flash, Microsoft's keys) and
 * under plain OVMF without Secure Boot (the default machine, no keys).
 * Target: with ≤ 1.2 × without. TCG timings on a shared host are noisy.
 *
 * Run alone: node --import tsx bench/secure-boot.ts [KERNEL INITRD]
 * (default: the shared test build's kernel and initramfs).
 */
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeIso } from '../builder/src/outputs/iso.js';
import { bootVm, freePort, type BootVmOptions } from '../test/support/qemu.js';

export interface SecureBootBench {
  /** ms from qemu start to the first answer of /v1/status, Secure Boot enforced (undefined: not booted, quick mode). */
  secureBootMs?: number;
  /** The same ISO without Secure Boot. */
  plainMs?: number;
  /** secureBootMs / plainMs (target ≤ 1.2). */
  ratio?: number;
  /** Size of the Secure Boot ISO. */
  isoBytes: number;
}

async function timeToStatus(opts: BootVmOptions): Promise<number> {
  const port = await freePort();
  const vm = await bootVm({ memoryMiB: 1024, firmware: 'uefi', hostfwd: [{ hostPort: port, guestPort: 9999 }], ...opts });
  try {
    return (await vm.waitForHttp(`http://127.0.0.1:${port}/v1/status`, 600_000)).ms;
  } finally {
    await vm.stop();
  }
}

/** Build one Secure Boot ISO from `kernel` (signed) and `initrd`, boot it both ways, return the two figures. */
/** `boot: false` (the quick run) makes the Secure Boot ISO and stops there: the boot-up comparison is what the full run measures. */
export async function benchSecureBoot(kernel: string, initrd: string, opts: { boot?: boolean } = {}): Promise<SecureBootBench> {
  const dir = await mkdtemp(join(tmpdir(), 'ramforge-bench-sb-'));
  try {
    const iso = await makeIso({
      kernel,
      initrd,
      out: join(dir, 'sb.iso'),
      append: 'console=ttyS0,115200',
      timeoutSeconds: 0,
      workDir: join(dir, 'work'),
      secureBoot: 'on',
    });
    if (opts.boot === false) return { isoBytes: iso.size };
    // A disk, as on a real target: without one the agent waits ~30 s for a root disk first.
    const disk = join(dir, 'disk.img');
    await writeFile(disk, '');
    await truncate(disk, 8 * 1024 ** 3);
    const secureBootMs = await timeToStatus({ iso: iso.path, secureBoot: 'ms', disks: [{ path: disk }] });
    const plainMs = await timeToStatus({ iso: iso.path, disks: [{ path: disk }] });
    return { secureBootMs, plainMs, ratio: Math.round((secureBootMs / plainMs) * 100) / 100, isoBytes: iso.size };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let [kernel, initrd] = process.argv.slice(2);
  if (!kernel || !initrd) {
    const { sharedBuild } = await import('../test/support/shared-build.js');
    const b = await sharedBuild();
    kernel = b.kernel;
    initrd = b.initramfs;
  }
  process.stdout.write(JSON.stringify(await benchSecureBoot(kernel, initrd)) + '\n');
}
