/**
 * Pack one host directory with our cpio writer and with GNU cpio
 * (`find . | sort | cpio -o -H newc`), in the same run, to temp files on the
 * same filesystem; and unpack an initramfs into a directory with GNU cpio,
 * to get the very tree we ship.
 * Standalone: node --import tsx bench/cpio.ts [DIR (default /usr/lib)] [--rounds N]
 */
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { cpioStream } from '../builder/src/archive/cpio-writer.js';
import { ByteReader } from '../builder/src/archive/byte-reader.js';
import { readOneArchive } from '../builder/src/archive/cpio-reader.js';
import { listInitramfs, openMember } from '../builder/src/archive/initramfs-list.js';
import { Tree } from '../builder/src/tree/tree.js';
import type { BenchContext } from './section.js';

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
  rounds: number;
}

/**
 * `rounds` alternating rounds, best of each: with 2 or more neither side pays
 * the cold page cache alone. `work` (default: a new temp dir) receives the
 * archives and is emptied afterwards.
 */
export async function benchCpio(dir: string, opts: { rounds?: number; work?: string } = {}): Promise<CpioBench> {
  const rounds = opts.rounds ?? 2;
  const work = opts.work ?? (await mkdtemp(join(tmpdir(), 'ramforge-bench-cpio-')));
  try {
    const oursOut = join(work, 'ours.cpio');
    const gnuOut = join(work, 'gnu.cpio');
    let best = { total: Infinity, pack: Infinity, gnu: Infinity, entries: 0 };
    for (let round = 0; round < rounds; round++) {
      const g0 = performance.now();
      const r = spawnSync('sh', ['-c', 'cd "$1" && find . | sort | cpio -o -H newc --quiet > "$2"', 'sh', dir, gnuOut], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const g1 = performance.now();
      if (r.status !== 0) throw new Error(`find | sort | cpio -o failed (exit ${r.status ?? r.signal}): ${r.stderr.toString().trim()}`);
      const t0 = performance.now();
      const tree = new Tree({ storeDir: join(work, 'store'), usrMerge: false });
      await tree.mergeDirectory(dir, { layer: 'bench', inPlace: true });
      const t1 = performance.now();
      const entries = tree.entries();
      await pipeline(cpioStream(entries, { epoch: 0 }), createWriteStream(oursOut));
      const t2 = performance.now();
      best = {
        total: Math.min(best.total, t2 - t0),
        pack: Math.min(best.pack, t2 - t1),
        gnu: Math.min(best.gnu, g1 - g0),
        entries: entries.length,
      };
    }
    const bytes = (await stat(oursOut)).size;
    const gnuBytes = (await stat(gnuOut)).size;
    const fig = (ms: number, n: number): BenchFigure => ({ seconds: +(ms / 1000).toFixed(3), mbPerS: +(n / 1e6 / (ms / 1000)).toFixed(1) });
    return {
      ours: fig(best.total, bytes),
      oursPackOnly: fig(best.pack, bytes),
      gnu: fig(best.gnu, gnuBytes),
      bytes,
      gnuBytes,
      entries: best.entries,
      rounds,
    };
  } finally {
    if (opts.work) {
      await rm(join(work, 'ours.cpio'), { force: true });
      await rm(join(work, 'gnu.cpio'), { force: true });
      await rm(join(work, 'store'), { recursive: true, force: true });
    } else {
      await rm(work, { recursive: true, force: true });
    }
  }
}

/**
 * Unpack every archive of an initramfs into `dest` with GNU cpio, in order,
 * as the kernel does. One compressed member may hold several cpio archives
 * (ramforge writes its members as adjacent zstd frames, which read as one
 * stream), and `cpio -i` stops at the first trailer: so each member is
 * decompressed to `scratch`, split at its trailers with our reader, and each
 * archive goes to its own `cpio -idmu`. Checks that every listed path exists
 * afterwards.
 */
export async function unpackInitramfs(
  image: string,
  dest: string,
  scratch: string,
): Promise<{ members: number; archives: number; entries: number }> {
  const members = await listInitramfs(image);
  let archives = 0;
  for (const m of members) {
    const file = join(scratch, `member-${m.index}.cpio`);
    try {
      await pipeline(openMember(image, m), createWriteStream(file));
      for (const a of await archiveBounds(file)) {
        await cpioExtract(file, a, dest, `archive ${archives} (member ${m.index}, bytes ${a.start}-${a.end} uncompressed)`);
        archives++;
      }
    } finally {
      await rm(file, { force: true });
    }
  }
  const paths = new Set(members.flatMap((m) => m.entries.map((e) => e.path)).filter((p) => p !== '.' && p !== ''));
  for (const p of paths) {
    await lstat(join(dest, p)).catch((e: unknown) => {
      throw new Error(`unpacking ${image}: '${p}' is listed but cpio did not create it`, { cause: e });
    });
  }
  return { members: members.length, archives, entries: paths.size };
}

/** [start, end) of each cpio archive in an uncompressed stream of archives separated by NUL padding. */
async function archiveBounds(file: string): Promise<{ start: number; end: number }[]> {
  const src = createReadStream(file, { highWaterMark: 1 << 20 });
  try {
    const r = new ByteReader(src);
    const out: { start: number; end: number }[] = [];
    while (await r.skipZeros()) {
      const start = r.position;
      for await (const _ of readOneArchive(r, { data: false }));
      out.push({ start, end: r.position });
    }
    return out;
  } finally {
    src.destroy();
  }
}

/**
 * Feed exactly one archive to `cpio -idmu` in `dest`. cpio exits at the
 * trailer, which is the last thing it is given: an EPIPE on its stdin means
 * it stopped early, and is reported with cpio's exit status and stderr,
 * never thrown from the stream.
 */
async function cpioExtract(file: string, range: { start: number; end: number }, dest: string, what: string): Promise<void> {
  const argv = ['cpio', '-idmu', '--quiet', '--no-absolute-filenames'];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: dest, stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-4096);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res, rej) => {
    child.once('error', rej);
    child.once('close', (code, signal) => res({ code, signal }));
  });
  const [fed, status] = await Promise.allSettled([
    pipeline(createReadStream(file, { start: range.start, end: range.end - 1, highWaterMark: 1 << 20 }), child.stdin),
    exited,
  ]);
  if (status.status === 'rejected') {
    const e = status.reason as NodeJS.ErrnoException;
    throw new Error(`cannot run cpio${e.code === 'ENOENT' ? ' (apt-get install cpio)' : ''}: ${e.message}`, { cause: e });
  }
  const { code, signal } = status.value;
  if (code !== 0)
    throw new Error(
      `${argv.join(' ')} on ${what} ${signal ? `was killed by ${signal}` : `exited with ${code}`}: ${stderr.trim() || '(no stderr)'}`,
    );
  if (fed.status === 'rejected') {
    throw new Error(
      `${argv.join(' ')} on ${what} exited 0 before reading all of it (${(fed.reason as Error).message}): ${stderr.trim() || '(no stderr)'}`,
      { cause: fed.reason },
    );
  }
}

/** The bench section: unpack the tinyipa initramfs we ship, then pack that tree both ways. */
export async function cpioSection(
  p: { rounds: number },
  ctx: BenchContext,
): Promise<CpioBench & { unpacked: { members: number; archives: number; entries: number } }> {
  const image = (await ctx.tinyipa()).initramfs;
  const tree = ctx.tempDir('tree');
  const scratch = ctx.tempDir('scratch');
  ctx.log(`unpacking ${image}`);
  const unpacked = await unpackInitramfs(image, tree, scratch);
  ctx.log(`packing ${unpacked.entries} entries, ${p.rounds} round(s)`);
  return { ...(await benchCpio(tree, { rounds: p.rounds, work: scratch })), unpacked };
}

if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? '')).href) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--rounds');
  const rounds = i >= 0 ? Number(args.splice(i, 2)[1]) : 2;
  const dir = args[0] ?? '/usr/lib';
  const r = await benchCpio(dir, { rounds });
  process.stdout.write(`${JSON.stringify({ dir, ...r }, null, 2)}\n`);
}
