/**
 * Build figures: tinyipa (TEST_SPEC) built in a child process
 * (bench/build-child.ts) so that its peak RSS is the build's own. Full: a
 * cold build with empty caches (downloads included), then a warm one with
 * the same cache. Quick: one build with the shared cache that `npm test`
 * uses, so it downloads nothing and recompresses only what changed.
 */
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../builder/src/agent-bundle.js';
import { defaultCacheDir } from '../builder/src/pipeline/context.js';
import { TEST_SPEC } from '../test/support/shared-build.js';
import type { BenchContext, Tinyipa } from './section.js';

export interface BuildRun {
  seconds: number;
  outputDir: string;
  maxRssMiB: number;
  timings: Record<string, number>;
}

/** One build of `spec` with the given cache environment, into a temp dir (kept for later sections with forRun). */
export async function buildOnce(
  ctx: BenchContext,
  label: string,
  cacheEnv: Record<string, string>,
  spec: Record<string, unknown> = TEST_SPEC,
  opts: { forRun?: boolean } = {},
): Promise<BuildRun> {
  const dir = ctx.tempDir(`build-${label}`, opts);
  const argv = ['--import', 'tsx', join(REPO_ROOT, 'bench', 'build-child.ts'), dir, join(dir, 'output'), JSON.stringify(spec)];
  const child = ctx.track(
    spawn(process.execPath, argv, { cwd: REPO_ROOT, env: { ...process.env, ...cacheEnv }, stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString('utf8');
  });
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res, rej) => {
    child.once('error', rej);
    child.once('close', (c, s) => res({ code: c, signal: s }));
  });
  if (code !== 0) throw new Error(`${label} build ${signal ? `was killed by ${signal}` : `exited with ${code}`} (its errors are above)`);
  return JSON.parse(stdout.trim().split('\n').pop()!) as BuildRun;
}

export interface BuildFigures {
  cold?: { seconds: number; timings: Record<string, number> };
  warm: { seconds: number; timings: Record<string, number> };
  /** The quick mode's build uses the shared cache: members that did not change are reused. */
  sharedCache: boolean;
  peakRssMiB: number;
  compression: string;
  initramfsBytes: number;
  isoBytes: number;
  kernelBytes: number;
  rootfsBytes: number;
  rootfsFiles: number;
}

export async function buildSection(p: { cold: boolean }, ctx: BenchContext): Promise<BuildFigures> {
  let cacheEnv: Record<string, string> = { RAMFORGE_CACHE: defaultCacheDir() };
  if (p.cold) {
    // Empty caches, npm's own included, so fetching the Node runtime is a real download.
    const cache = ctx.tempDir('cache', { forRun: true });
    cacheEnv = { RAMFORGE_CACHE: cache, npm_config_cache: join(cache, 'npm') };
  }
  const cold = p.cold ? await buildOnce(ctx, 'cold', cacheEnv) : undefined;
  const warm = await buildOnce(ctx, 'warm', cacheEnv, TEST_SPEC, { forRun: true });
  const out = warm.outputDir;
  const name = TEST_SPEC.name;
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Tinyipa['manifest'];
  const t: Tinyipa = {
    kernel: join(out, `${name}.kernel`),
    initramfs: join(out, `${name}.initramfs`),
    iso: join(out, `${name}.iso`),
    manifest,
    cacheEnv,
  };
  ctx.provideTinyipa(t);
  return {
    ...(cold ? { cold: { seconds: cold.seconds, timings: cold.timings } } : {}),
    warm: { seconds: warm.seconds, timings: warm.timings },
    sharedCache: !p.cold,
    peakRssMiB: Math.max(warm.maxRssMiB, cold?.maxRssMiB ?? 0),
    compression: manifest.spec.compression,
    initramfsBytes: statSync(t.initramfs).size,
    isoBytes: statSync(t.iso).size,
    kernelBytes: statSync(t.kernel).size,
    rootfsBytes: manifest.rootfs.bytes,
    rootfsFiles: manifest.rootfs.files,
  };
}
