/**
 * The EFI system partition image, built without root or loop mounts:
 * mkfs.vfat formats a file, mtools (mmd, mcopy) fill it. The plan is pure
 * (sizes, argv, environment) and the builder just runs it.
 *
 * Reproducibility: the volume serial comes from a seed (-i) and
 * --invariant fixes the rest of mkfs's time-based fields; mtools 4.0.32
 * honours SOURCE_DATE_EPOCH for new directories and copied files, and we
 * also pin the sources' mtimes and copy with -m in case a build host's
 * mtools does not. FAT stores local time, so TZ=UTC.
 */
import { createHash } from 'node:crypto';
import { utimes } from 'node:fs/promises';
import { run } from '../exec/run.js';

/** FAT cannot store dates before 1980-01-01 and keeps seconds in steps of two. */
export const FAT_MIN_EPOCH = 315532800;

export interface EspFile {
  /** Host file to copy. */
  source: string;
  /** Path inside the ESP, e.g. EFI/BOOT/BOOTX64.EFI. */
  target: string;
  size: number;
}

export interface EspPlanInput {
  files: EspFile[];
  /** Any string that identifies the build; gives the volume serial. */
  seed: string;
  epoch: number;
  /** Volume label, at most 11 characters. */
  label?: string;
}

export interface EspPlan {
  sizeKiB: number;
  volumeId: string;
  label: string;
  /** Clamped to what FAT can store. */
  fatEpoch: number;
  /** Directories to create, parents first. */
  dirs: string[];
  files: EspFile[];
  env: Record<string, string>;
}

const CLUSTER = 4096;
/** Boot sector, two FATs and a 512-entry root directory, rounded up generously. */
const FAT_OVERHEAD = 64 * 1024;

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/**
 * Size the ESP to fit its files with a little room (firmware never writes
 * to it, but a user may want to drop in a driver or shell) and pick stable
 * ids. Rounded to 256 KiB so small changes in GRUB do not change the layout.
 */
export function espPlan(input: EspPlanInput): EspPlan {
  const files = [...input.files].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
  const dirSet = new Set<string>();
  for (const f of files) {
    const parts = f.target.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) dirSet.add(parts.slice(0, i).join('/'));
  }
  // Lexicographic order puts every parent before its children.
  const dirs = [...dirSet].sort();
  const data = files.reduce((sum, f) => sum + roundUp(Math.max(f.size, 1), CLUSTER), 0) + dirs.length * CLUSTER;
  const sizeKiB = Math.max(1024, roundUp(Math.ceil((data * 1.1 + FAT_OVERHEAD + 128 * 1024) / 1024), 256));
  const volumeId = createHash('sha256').update(`esp:${input.seed}`).digest('hex').slice(0, 8);
  const fatEpoch = Math.max(FAT_MIN_EPOCH, input.epoch - (input.epoch % 2));
  const label = (input.label ?? 'RAMFORGEESP').slice(0, 11);
  return {
    sizeKiB,
    volumeId,
    label,
    fatEpoch,
    dirs,
    files,
    env: { SOURCE_DATE_EPOCH: String(fatEpoch), TZ: 'UTC', MTOOLS_SKIP_CHECK: '1' },
  };
}

/** The commands that realise a plan into `image`, in order. */
export function espCommands(plan: EspPlan, image: string): string[][] {
  const cmds: string[][] = [['mkfs.vfat', '-C', '--invariant', '-i', plan.volumeId, '-n', plan.label, image, String(plan.sizeKiB)]];
  if (plan.dirs.length > 0) cmds.push(['mmd', '-i', image, ...plan.dirs.map((d) => `::/${d}`)]);
  for (const f of plan.files) cmds.push(['mcopy', '-m', '-o', '-i', image, f.source, `::/${f.target}`]);
  return cmds;
}

/** Build the ESP image described by `plan` (the file must not exist yet). */
export async function buildEspImage(plan: EspPlan, image: string): Promise<void> {
  for (const f of plan.files) await utimes(f.source, plan.fatEpoch, plan.fatEpoch);
  for (const argv of espCommands(plan, image)) await run(argv, { env: plan.env });
}
