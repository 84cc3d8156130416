/**
 * Boot figures: qemu (TCG unless RAMFORGE_QEMU_ACCEL says otherwise) from
 * power-on to the agent answering /v1/status on a forwarded 127.0.0.1 port.
 * The boot section boots the tinyipa of TEST_SPEC; the compression section
 * builds the same inputs with the other compression and boots that.
 */
import { openSync, closeSync, ftruncateSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_SPEC } from '../test/support/shared-build.js';
import { bootVm, freePort, type BootVmOptions } from '../test/support/qemu.js';
import { buildOnce } from './build.js';
import type { BenchContext } from './section.js';

export type BootKind = 'direct' | 'bios' | 'uefi';

export interface VmParams {
  /**
   * Size of the sparse disk the VM gets: without a disk of at least 4 GiB (IPA's root disk minimum) the
   * agent first waits about 30 s for one (as IPA does), which is not boot time. Sparse: costs nothing.
   */
  diskGiB: number;
  memoryMiB: number;
  /** How long to wait for /v1/status (default 300 s). */
  timeoutS?: number;
}

export interface BootParams extends VmParams {
  boots: BootKind[];
  /** Kernel+initramfs boots; the figures are the median one's (the ISO boots run once). */
  directRuns: number;
}

/**
 * CPU seconds qemu used so far (user + system, from /proc). With one vCPU
 * under TCG this is the guest's work plus emulation, and unlike the wall
 * time it barely moves when other processes load the host.
 */
function qemuCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100 on Linux)
}

/**
 * What tinyipa's serial console says on the way to /v1/status, in boot
 * order: the kernel's own lines (printed at Debian's default console
 * loglevel), rcS's and the start script's, the agent's log. The dib flavor
 * prints only some of them; a mark that never shows is left out.
 */
export const BOOT_MARKS: readonly { name: string; re: RegExp }[] = [
  { name: 'initramfs unpacked', re: /Freeing initrd memory/ },
  { name: '/init runs', re: /Run \/init as init process/ },
  { name: 'coldplug done (rcS)', re: /ramforge: modules:/ },
  { name: 'Node started', re: /ramforge: starting the agent/ },
  { name: 'agent bundle loaded, main() runs', re: /INFO agent: ramforge agent \S+ starting/ },
  { name: 'API listening', re: /API listening on/ },
];

/** When a boot mark showed on the console: wall seconds since qemu start and qemu's CPU seconds then. */
export interface BootMark {
  name: string;
  seconds: number;
  cpuSeconds: number;
}

/**
 * Watches the serial output for `marks` (BOOT_MARKS or a flavor's own; polling every 20 ms: the
 * figures are good to about that) until stopped.
 */
function watchMarks(
  vm: { serialText(): string; pid: number; startedAt: number },
  marks: readonly { name: string; re: RegExp }[],
): { stop(): BootMark[] } {
  const found: BootMark[] = [];
  let next = 0;
  const poll = () => {
    const text = vm.serialText();
    for (; next < marks.length; next++) {
      const rest = marks.slice(next).findIndex((m) => m.re.test(text));
      if (rest < 0) break;
      next += rest; // a mark that never showed (another flavor) is skipped, not waited for
      let cpuSeconds = Number.NaN;
      try {
        cpuSeconds = qemuCpuSeconds(vm.pid);
      } catch {
        // qemu already gone
      }
      found.push({ name: marks[next]!.name, seconds: (Date.now() - vm.startedAt) / 1000, cpuSeconds });
    }
  };
  const timer = setInterval(poll, 20);
  return {
    stop: () => {
      clearInterval(timer);
      poll();
      return found;
    },
  };
}

/** Seconds from qemu start to /v1/status answering. */
export async function bootTime(ctx: BenchContext, opts: BootVmOptions, p: VmParams): Promise<number> {
  return (await bootTimes(ctx, opts, p)).seconds;
}

/** Wall seconds from qemu start to /v1/status answering, and qemu's CPU seconds until then. */
export async function bootTimes(
  ctx: BenchContext,
  opts: BootVmOptions,
  p: VmParams,
  bootMarks: readonly { name: string; re: RegExp }[] = BOOT_MARKS,
): Promise<{ seconds: number; cpuSeconds: number; marks: BootMark[] }> {
  const port = await freePort();
  const disk = join(ctx.tempDir('disk'), 'disk.img');
  const fd = openSync(disk, 'w');
  try {
    ftruncateSync(fd, p.diskGiB * 2 ** 30);
  } finally {
    closeSync(fd);
  }
  const vm = await bootVm({
    memoryMiB: p.memoryMiB,
    hostfwd: [{ hostPort: port, guestPort: 9999 }],
    disks: [{ path: disk, format: 'raw' }],
    ...opts,
  });
  ctx.defer(() => vm.stop()); // also on Ctrl-C, when the finally below never runs
  const marks = watchMarks(vm, bootMarks);
  try {
    await vm.waitForHttp(`http://127.0.0.1:${port}/v1/status`, (p.timeoutS ?? 300) * 1000);
    const done = { seconds: (Date.now() - vm.startedAt) / 1000, cpuSeconds: qemuCpuSeconds(vm.pid) };
    return { ...done, marks: marks.stop() };
  } finally {
    marks.stop();
    await vm.stop();
  }
}

export interface MedianBoot {
  /** The median boot (by wall time) with its own CPU time and marks. */
  seconds: number;
  cpuSeconds: number;
  marks: BootMark[];
  /** Every boot's wall seconds, in boot order. */
  runs: number[];
}

/**
 * `runs` boots of the same image, one after the other; the figures are the median boot's (one TCG boot moves by
 * ±0.3 s on a small image and by ±1.5 s on dib's: a single boot says little about the image).
 */
export async function medianBootTimes(
  ctx: BenchContext,
  opts: BootVmOptions,
  p: VmParams,
  runs: number,
  what: string,
  bootMarks: readonly { name: string; re: RegExp }[] = BOOT_MARKS,
): Promise<MedianBoot> {
  const boots = [];
  for (let i = 1; i <= runs; i++) {
    ctx.log(`booting ${what}, ${i} of ${runs}`);
    boots.push(await bootTimes(ctx, opts, p, bootMarks));
  }
  const mid = [...boots].sort((a, b) => a.seconds - b.seconds)[Math.floor(boots.length / 2)]!;
  return { seconds: mid.seconds, cpuSeconds: mid.cpuSeconds, marks: mid.marks, runs: boots.map((b) => b.seconds) };
}

function bootOptions(kind: BootKind, files: { kernel: string; initramfs: string; iso: string }): BootVmOptions {
  switch (kind) {
    case 'direct':
      return { kernel: files.kernel, initrd: files.initramfs, append: 'console=ttyS0,115200' };
    case 'bios':
      return { iso: files.iso, firmware: 'bios' };
    case 'uefi':
      return { iso: files.iso, firmware: 'uefi' };
  }
}

export interface BootFigures {
  seconds: Partial<Record<BootKind, number>>;
  /** qemu's CPU seconds until /v1/status answered. */
  cpuSeconds: Partial<Record<BootKind, number>>;
  /** The median kernel+initramfs boot's timeline (BOOT_MARKS). */
  directMarks: BootMark[];
  /** Every kernel+initramfs boot's wall seconds, in boot order (the figure is their median). */
  directRuns: number[];
  memoryMiB: number;
  accel: string;
}

export async function bootSection(p: BootParams, ctx: BenchContext): Promise<BootFigures> {
  const t = await ctx.tinyipa();
  const seconds: Partial<Record<BootKind, number>> = {};
  const cpuSeconds: Partial<Record<BootKind, number>> = {};
  let directMarks: BootMark[] = [];
  let directRuns: number[] = [];
  for (const kind of p.boots) {
    const r = await medianBootTimes(ctx, bootOptions(kind, t), p, kind === 'direct' ? p.directRuns : 1, kind);
    seconds[kind] = r.seconds;
    cpuSeconds[kind] = r.cpuSeconds;
    if (kind === 'direct') {
      directMarks = r.marks;
      directRuns = r.runs;
    }
  }
  return { seconds, cpuSeconds, directMarks, directRuns, memoryMiB: p.memoryMiB, accel: process.env.RAMFORGE_QEMU_ACCEL || 'tcg' };
}

export interface CompressionFigures {
  compression: string;
  initramfsBytes: number;
  /** The default compression's initramfs, for comparison. */
  defaultCompression: string;
  defaultInitramfsBytes: number;
  buildSeconds: number;
  directSeconds: number;
}

/** The alternative compression, same inputs: what the default trades. */
export interface CompressionParams extends VmParams {
  /**
   * The compression to compare with. The full run compares xz (the
   * size-optimised choice); the quick run uses gzip, which exercises the same
   * build-and-boot path without recompressing every member with xz (about
   * five minutes on a cold cache with two cores).
   */
  alternative: 'xz' | 'gzip';
}

export async function compressionSection(p: CompressionParams, ctx: BenchContext): Promise<CompressionFigures> {
  const t = await ctx.tinyipa();
  const dflt = t.manifest.spec.compression;
  const alt = dflt === p.alternative ? 'zstd' : p.alternative;
  ctx.log(`building with ${alt}`);
  const b = await buildOnce(ctx, alt, t.cacheEnv, { ...TEST_SPEC, compression: alt, iso: false });
  const name = TEST_SPEC.name;
  const files = { kernel: join(b.outputDir, `${name}.kernel`), initramfs: join(b.outputDir, `${name}.initramfs`), iso: '' };
  ctx.log(`booting the ${alt} initramfs`);
  const directSeconds = await bootTime(ctx, bootOptions('direct', files), p);
  return {
    compression: alt,
    initramfsBytes: statSync(files.initramfs).size,
    defaultCompression: dflt,
    defaultInitramfsBytes: statSync(t.initramfs).size,
    buildSeconds: b.seconds,
    directSeconds,
  };
}
