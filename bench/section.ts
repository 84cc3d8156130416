/**
 * What a benchmark section is, and what the runner (bench/run.ts) gives it.
 * A section measures one thing and returns its figures (plain JSON); the
 * runner prints them as soon as the section ends, keeps going when a section
 * fails, and removes everything the section left behind.
 */
import type { ChildProcess } from 'node:child_process';

/** One line of the printed table. */
export interface Row {
  metric: string;
  value: string;
  /** The target, or '-'. */
  target: string;
  /** IPA's figure, a baseline measured in the same run, or a detail. */
  reference?: string;
}

/** The tinyipa artifacts of test/support/shared-build.ts TEST_SPEC, and the cache that built them. */
export interface Tinyipa {
  kernel: string;
  initramfs: string;
  iso: string;
  manifest: { rootfs: { bytes: number; files: number }; spec: { compression: string } };
  /** The cache environment (RAMFORGE_CACHE, ...) of that build: a further build with it downloads nothing. */
  cacheEnv: Record<string, string>;
}

export interface BenchContext {
  readonly quick: boolean;
  /**
   * A new empty directory, removed when the section ends (forRun: when the
   * run ends), and on any exit. In the run's own temp dir, or a
   * ramforge-bench-* directory in `under` (e.g. /dev/shm).
   */
  tempDir(label: string, opts?: { forRun?: boolean; under?: string }): string;
  /**
   * Cleanup (a VM, a server, a loop device, a mount) that runs when the
   * section ends, whether it failed or not, and on Ctrl-C; the last
   * registered runs first. It must be safe to run after the section's own
   * finally block did the same.
   */
  defer(fn: () => unknown): void;
  /** Register a child process: killed (if still running) when the section ends, on signals and on exit. */
  track<T extends ChildProcess>(child: T): T;
  /** The build section's tinyipa when it ran in this run, else the shared test build (built once, then cached). */
  tinyipa(): Promise<Tinyipa>;
  /** Offer a tinyipa of TEST_SPEC to the sections that run later. */
  provideTinyipa(t: Tinyipa): void;
  /** Progress, on stderr. */
  log(line: string): void;
}

/**
 * A benchmark section: one entry in bench/run.ts. `quick` and `full` are the
 * parameters of `npm run bench -- --quick` (every section once, small inputs,
 * run by `npm test`) and of the full run.
 */
export interface Section<P, F> {
  name: string;
  /** One line for --help. */
  about: string;
  /** Host tools (as named in builder/src/host/tools.ts) checked, or installed as root, before the section runs. */
  tools?: string[];
  quick: P;
  full: P;
  run(params: P, ctx: BenchContext): Promise<F>;
  /** The table lines for the figures. */
  rows(figures: F, params: P): Row[];
}

/** Type-erases a section for the registry while checking run/rows against the same P and F. */
export function section<P, F>(s: Section<P, F>): Section<any, any> {
  return s;
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
