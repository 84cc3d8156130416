/**
 * coreos figures, printed beside tinyipa's and dib's: the coreos ramdisk
 * (the repository's Dockerfile built by a private Docker engine,
 * test/support/dockerd.ts; never a system daemon) built in a child process.
 * Full: cold (empty ramforge caches and a fresh engine: the Debian bases,
 * the Node runtime, the Dockerfile's steps and every member made afresh),
 * then warm (the same cache and engine: layers, bases and unchanged members
 * reused). Quick: the coreos tests' shared build (test/support/coreos-build.ts,
 * built once per source state). Then its initramfs size and a
 * kernel+initramfs boot (TCG, 1.5 GiB) to /v1/status from the agent's chroot.
 *
 * Without an engine (no dockerd, or it cannot start here) the section is
 * skipped with the reason on its row; it does not fail the run.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { buildOnce } from './build.js';
import { bootTimes, type BootMark } from './boot.js';
import type { BenchContext } from './section.js';

export const COREOS_BENCH_SPEC = { flavor: 'coreos', name: 'coreos-bench', cmdline: 'console=ttyS0,115200', iso: false };

/**
 * What the coreos boot says on its serial console on the way to /v1/status:
 * the kernel's lines, the cloud-config runner's (coreos-cloudinit.service
 * writes to the console too), and the kernel's IPMI lines, which the agent
 * unit's ExecStartPre modprobes print right before the chrooted agent starts.
 */
export const COREOS_BOOT_MARKS: readonly { name: string; re: RegExp }[] = [
  { name: 'initramfs unpacked', re: /Freeing initrd memory/ },
  { name: '/init (systemd) runs', re: /Run \/init as init process/ },
  // In place (the kernel unpacked it with the initramfs) or unpacked by the runner (a base with container.tar.gz).
  { name: 'container ready, the runner starts', re: /coreos-cloudinit: container (unpacked|in place)/ },
  { name: 'cloud-config applied (units queued)', re: /coreos-cloudinit: \S+: applied/ },
  { name: 'agent unit starting (its IPMI modprobes)', re: /IPMI message handler|ipmi device interface/ },
];

export interface CoreosParams {
  cold: boolean;
  memoryMiB: number;
  diskGiB: number;
  timeoutS: number;
}

export type CoreosFigures =
  | { skipped: string }
  | {
      cold?: { seconds: number; timings: Record<string, number> };
      warm?: { seconds: number; timings: Record<string, number> };
      /** Quick: the tests' shared build (gzip), not built here. */
      sharedBuild: boolean;
      compression: string;
      initramfsBytes: number;
      directSeconds: number;
      /** qemu's CPU seconds until /v1/status answered. */
      directCpuSeconds: number;
      /** The boot's timeline (COREOS_BOOT_MARKS). */
      directMarks: BootMark[];
      memoryMiB: number;
    };

export async function coreosSection(p: CoreosParams, ctx: BenchContext): Promise<CoreosFigures> {
  const { startDockerd } = await import('../test/support/dockerd.js');
  let kernel: string;
  let initramfs: string;
  let compression: string;
  let cold: Awaited<ReturnType<typeof buildOnce>> | undefined;
  let warm: Awaited<ReturnType<typeof buildOnce>> | undefined;
  if (ctx.quick) {
    const { COREOS_TEST_SPEC, coreosSharedBuild, withPrivateEngine } = await import('../test/support/coreos-build.js');
    try {
      // Only starts an engine when the tests' build is not cached yet.
      await withPrivateEngine(async () => undefined);
    } catch (e) {
      return { skipped: `no Docker engine could be started: ${(e as Error).message.split('\n')[0]}` };
    }
    ctx.log('using the coreos tests’ shared build (test/support/coreos-build.ts)');
    const b = await coreosSharedBuild();
    ({ kernel, initramfs } = b);
    compression = COREOS_TEST_SPEC.compression;
  } else {
    let engine: Awaited<ReturnType<typeof startDockerd>>;
    try {
      engine = await startDockerd();
    } catch (e) {
      return { skipped: `no Docker engine could be started: ${(e as Error).message.split('\n')[0]}` };
    }
    ctx.defer(() => engine.stop());
    const cache = ctx.tempDir('coreos-cache', { forRun: true });
    const env = { RAMFORGE_CACHE: cache, npm_config_cache: join(cache, 'npm'), DOCKER_HOST: engine.host };
    cold = p.cold ? await buildOnce(ctx, 'coreos-cold', env, COREOS_BENCH_SPEC) : undefined;
    warm = await buildOnce(ctx, 'coreos-warm', env, COREOS_BENCH_SPEC, { forRun: true });
    kernel = join(warm.outputDir, `${COREOS_BENCH_SPEC.name}.kernel`);
    initramfs = join(warm.outputDir, `${COREOS_BENCH_SPEC.name}.initramfs`);
    compression = 'zstd';
    await engine.stop();
  }
  ctx.log('booting the coreos ramdisk (kernel+initramfs)');
  const boot = await bootTimes(ctx, { kernel, initrd: initramfs, append: COREOS_BENCH_SPEC.cmdline }, p, COREOS_BOOT_MARKS);
  return {
    ...(cold ? { cold: { seconds: cold.seconds, timings: cold.timings } } : {}),
    ...(warm ? { warm: { seconds: warm.seconds, timings: warm.timings } } : {}),
    sharedBuild: ctx.quick,
    compression,
    initramfsBytes: statSync(initramfs).size,
    directSeconds: boot.seconds,
    directCpuSeconds: boot.cpuSeconds,
    directMarks: boot.marks,
    memoryMiB: p.memoryMiB,
  };
}
