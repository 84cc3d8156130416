/**
 * Pack one host directory with our cpio writer and with GNU cpio
 * (`find . | sort | cpio -o -H newc`), in the same run, to temp files on the
 * same filesystem. Standalone: node --import tsx bench/cpio.ts /usr/lib
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { cpioStream } from '../builder/src/archive/cpio-writer.js';
import { Tree } from '../builder/src/tree/tree.js';

export interface BenchFigure {
  seconds: number;
  mbPerS: number;
}

export interface CpioBench {
  /** Scan (Tree.mergeDirectory, in place) + pack, comparable to find|sort|cpio. */
  ours: BenchFigure;
  /** Pack only, from an already assembled Tree (what a build pays). */
  oursPackOnly: BenchFigure;
  gnu: BenchFigure;
  /** Size of our archive. */
  bytes: number;
  gnuBytes: number;
  entries: number;
}

export async function benchCpio(dir: string): Promise<CpioBench> {
  const work = await mkdtemp(join(tmpdir(), 'ramforge-bench-'));
  try {
    const oursOut = join(work, 'ours.cpio');
    const gnuOut = join(work, 'gnu.cpio');
    // Two alternating rounds, best of each: neither side pays the cold page cache alone.
    let best = { total: Infinity, pack: Infinity, gnu: Infinity, entries: 0 };
    for (let round = 0; round < 2; round++) {
      const g0 = performance.now();
      const r = spawnSync('sh', ['-c', 'cd "$1" && find . | sort | cpio -o -H newc --quiet > "$2"', 'sh', dir, gnuOut], { stdio: ['ignore', 'ignore', 'pipe'] });
      const g1 = performance.now();
      if (r.status !== 0) throw new Error(`gnu cpio failed: ${r.stderr.toString()}`);
      const t0 = performance.now();
      const tree = new Tree({ storeDir: join(work, 'store'), usrMerge: false });
      await tree.mergeDirectory(dir, { layer: 'bench', inPlace: true });
      const t1 = performance.now();
      const entries = tree.entries();
      await pipeline(cpioStream(entries, { epoch: 0 }), createWriteStream(oursOut));
      const t2 = performance.now();
      best = { total: Math.min(best.total, t2 - t0), pack: Math.min(best.pack, t2 - t1), gnu: Math.min(best.gnu, g1 - g0), entries: entries.length };
    }
    const bytes = (await stat(oursOut)).size;
    const gnuBytes = (await stat(gnuOut)).size;
    const fig = (ms: number, n: number): BenchFigure => ({ seconds: +(ms / 1000).toFixed(3), mbPerS: +(n / 1e6 / (ms / 1000)).toFixed(1) });
    return { ours: fig(best.total, bytes), oursPackOnly: fig(best.pack, bytes), gnu: fig(best.gnu, gnuBytes), bytes, gnuBytes, entries: best.entries };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? '')).href) {
  const dir = process.argv[2] ?? '/usr/lib';
  const r = await benchCpio(dir);
  process.stdout.write(`${JSON.stringify({ dir, ...r }, null, 2)}\n`);
}
