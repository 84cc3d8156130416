/**
 * dib figures, printed beside tinyipa's: the IPA-equivalent dib ramdisk
 * (the flavor's own elements, no site elements) built in a child process,
 * full: cold (empty caches: the Debian base, the Node runtime and every
 * member made afresh) then warm (same cache: base and unchanged members
 * reused); quick: one build on the shared cache. Then its initramfs size
 * and kernel+initramfs boots (TCG, 1 GiB) to /v1/status, the median one reported.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCacheDir } from '../builder/src/pipeline/context.js';
import { buildOnce } from './build.js';
import { medianBootTimes, type BootMark } from './boot.js';
import type { BenchContext } from './section.js';

export const DIB_BENCH_SPEC = { flavor: 'dib', name: 'ipa-dib', cmdline: 'console=ttyS0,115200', iso: false };

export interface DibParams {
  cold: boolean;
  memoryMiB: number;
  diskGiB: number;
  /** Kernel+initramfs boots; the figures are the median one's. */
  runs: number;
}

export interface DibFigures {
  cold?: { seconds: number; timings: Record<string, number> };
  warm: { seconds: number; timings: Record<string, number> };
  sharedCache: boolean;
  initramfsBytes: number;
  directSeconds: number;
  /** qemu's CPU seconds until /v1/status answered (steadier than wall time on a loaded host). */
  directCpuSeconds: number;
  /** The median boot's timeline: when each console mark of BOOT_MARKS showed (the dib ramdisk prints some of them). */
  directMarks: BootMark[];
  /** Every boot's wall seconds, in boot order; the figures above are the median boot's. */
  directRuns: number[];
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
  const boot = await medianBootTimes(
    ctx,
    { kernel, initrd: initramfs, append: DIB_BENCH_SPEC.cmdline },
    p,
    p.runs,
    'the dib ramdisk (kernel+initramfs)',
  );
  return {
    ...(cold ? { cold: { seconds: cold.seconds, timings: cold.timings } } : {}),
    warm: { seconds: warm.seconds, timings: warm.timings },
    sharedCache: !p.cold,
    initramfsBytes: statSync(initramfs).size,
    directSeconds: boot.seconds,
    directCpuSeconds: boot.cpuSeconds,
    directMarks: boot.marks,
    directRuns: boot.runs,
    memoryMiB: p.memoryMiB,
  };
}
