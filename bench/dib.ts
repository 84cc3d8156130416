/**
 * dib figures, printed beside tinyipa's: the IPA-equivalent dib ramdisk
 * (the flavor's own elements, no site elements) built in a child process,
 * full: cold (empty caches: the Debian base, the Node runtime and every
 * member made afresh) then warm (same cache: base and unchanged members
 * reused); quick: one build on the shared cache. Then its initramfs size
 * and a kernel+initramfs boot (TCG, 1 GiB) to /v1/status.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCacheDir } from '../builder/src/pipeline/context.js';
import { buildOnce } from './build.js';
import { bootTimes, type BootMark } from './boot.js';
import type { BenchContext } from './section.js';

export const DIB_BENCH_SPEC = { flavor: 'dib', name: 'ipa-dib', cmdline: 'console=ttyS0,115200', iso: false };

export interface DibParams {
  cold: boolean;
  memoryMiB: number;
  diskGiB: number;
}

export interface DibFigures {
  cold?: { seconds: number; timings: Record<string, number> };
  warm: { seconds: number; timings: Record<string, number> };
  sharedCache: boolean;
  initramfsBytes: number;
  directSeconds: number;
  /** qemu's CPU seconds until /v1/status answered (steadier than wall time on a loaded host). */
  directCpuSeconds: number;
  /** The boot's timeline: when each console mark of BOOT_MARKS showed (the dib ramdisk prints some of them). */
  directMarks: BootMark[];
  memoryMiB: number;
}

export async function dibSection(p: DibParams, ctx: BenchContext): Promise<DibFigures> {
  let cacheEnv: Record<string, string> = { RAMFORGE_CACHE: defaultCacheDir() };
  if (p.cold) {
    const cache = ctx.tempDir('dib-cache', { forRun: true });
    cacheEnv = { RAMFORGE_CACHE: cache, npm_config_cache: join(cache, 'npm') };
  }
  const cold = p.cold ? await buildOnce(ctx, 'dib-cold', cacheEnv, DIB_BENCH_SPEC) : undefined;
  const warm = await buildOnce(ctx, 'dib-warm', cacheEnv, DIB_BENCH_SPEC, { forRun: true });
  const kernel = join(warm.outputDir, `${DIB_BENCH_SPEC.name}.kernel`);
  const initramfs = join(warm.outputDir, `${DIB_BENCH_SPEC.name}.initramfs`);
  ctx.log('booting the dib ramdisk (kernel+initramfs)');
  const boot = await bootTimes(ctx, { kernel, initrd: initramfs, append: DIB_BENCH_SPEC.cmdline }, p);
  return {
    ...(cold ? { cold: { seconds: cold.seconds, timings: cold.timings } } : {}),
    warm: { seconds: warm.seconds, timings: warm.timings },
    sharedCache: !p.cold,
    initramfsBytes: statSync(initramfs).size,
    directSeconds: boot.seconds,
    directCpuSeconds: boot.cpuSeconds,
    directMarks: boot.marks,
    memoryMiB: p.memoryMiB,
  };
}
