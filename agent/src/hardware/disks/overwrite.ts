/**
 * The agent's own disk overwrite, replacing `shred`: busybox's shred (tinyipa)
 * takes the size from fstat(), which is 0 for a block device, so it wrote
 * nothing and exited 0. Here the size comes from sysfs, every byte from 0 to
 * that size is written in large aligned O_DIRECT writes (N passes of an
 * AES-CTR keystream, then zeros when zeroize is on, as IPA's shred call),
 * each pass ends with fdatasync, and the result is verified by reading back
 * blocks spread over the whole device, the first and the last included, plus
 * a read at the reported end that must find nothing. Any short write, I/O
 * error or mismatch fails with an error naming the disk.
 */
import { BlockDeviceEraseError, errMsg } from '../../errors.js';
import type { Log } from '../../util/log.js';
import { readFully, writeFully, type DiskHandle, type DiskIo } from './overwrite-io.js';
import { describePasses, firstMismatch, keystreamAt, Keystream, newPassKey, sampleOffsets, type PassKey } from './overwrite-pattern.js';

export interface OverwriteOptions {
  iterations: number;
  zeroize: boolean;
  io: DiskIo;
  signal?: AbortSignal;
  log?: Log;
  /** Bytes per write (default 8 MiB: past 4 MiB the throughput is flat, see bench/erase.ts). */
  chunkSize?: number;
  /** Blocks read back after the last pass (default 128) and their size (default 64 KiB). */
  samples?: number;
  sampleBlock?: number;
}

export interface OverwriteResult {
  size: number;
  /** "1 random pass + zeros" */
  passes: string;
  samplesVerified: number;
  /** Every read-back bypassed the page cache. */
  directReads: boolean;
  seconds: number;
  /** What the step result reports for this disk. */
  method: string;
}

const MiB = 1 << 20;

/** Overwrite every byte of `dev` and verify the final pattern. */
export async function overwriteDevice(dev: string, o: OverwriteOptions): Promise<OverwriteResult> {
  const t0 = Date.now();
  const size = await o.io.size(dev);
  if (!Number.isSafeInteger(size) || size <= 0) throw new BlockDeviceEraseError(`cannot overwrite ${dev}: its size is ${size} bytes`);
  const passes = describePasses(o.iterations, o.zeroize);
  const log = (msg: string): void => o.log?.info(msg);
  const h = await o.io.open(dev).catch((e: unknown) => {
    throw new BlockDeviceEraseError(`cannot open ${dev} for writing: ${errMsg(e)}`);
  });
  try {
    const chunk = Math.min(o.chunkSize ?? 8 * MiB, roundUp(size, 4096));
    const bufs: Buffer[] = [];
    for (let i = 0; i <= DEPTH; i++) bufs.push(await h.alloc(chunk));
    const total = o.iterations + (o.zeroize ? 1 : 0);
    log(`erase ${dev}: overwriting ${size} bytes with ${passes}`);
    let lastKey: PassKey | null = null;
    for (let i = 0; i < total; i++) {
      const random = i < o.iterations;
      lastKey = random ? newPassKey() : null;
      const name = `pass ${i + 1}/${total} (${random ? 'random' : 'zeros'})`;
      await writePass(dev, h, size, bufs, lastKey, name, o.signal, log);
    }
    const samples = await verifyFinalPattern(dev, h, size, lastKey, o);
    const seconds = (Date.now() - t0) / 1000;
    const directReads = h.bufferedReads === 0;
    const method = `overwrite: ${passes}, verified ${samples} samples${directReads ? '' : ' (through the page cache)'}`;
    log(`erase ${dev}: ${method} in ${seconds.toFixed(1)} s`);
    return { size, passes, samplesVerified: samples, directReads, seconds, method };
  } finally {
    await h.close();
  }
}

const roundUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** Writes in flight: two keep the device busy while the next block is generated or the last one completes. */
const DEPTH = 2;

async function writePass(
  dev: string,
  h: DiskHandle,
  size: number,
  bufs: Buffer[],
  key: PassKey | null,
  name: string,
  signal: AbortSignal | undefined,
  log: (m: string) => void,
): Promise<void> {
  const chunk = bufs[0]!.length;
  const ks = key ? new Keystream(key, 0) : null;
  if (!ks) for (const b of bufs) b.fill(0);
  const t0 = Date.now();
  let reported = t0;
  // bufs.length = DEPTH + 1: the buffer filled now was last used DEPTH + 1 writes ago, which has completed.
  const inflight: Promise<void>[] = [];
  let i = 0;
  try {
    for (let pos = 0; pos < size; pos += chunk, i++) {
      if (signal?.aborted) throw new BlockDeviceEraseError(`erase of ${dev} aborted at byte ${pos} of ${size} (${name})`);
      const len = Math.min(chunk, size - pos);
      // Zeros need one buffer, shared by every write; the keystream is computed while earlier blocks are written.
      const buf = ks ? ks.fill(bufs[i % bufs.length]!, len) : bufs[0]!;
      while (inflight.length >= DEPTH) await inflight.shift();
      const w = writeFully(dev, h, buf, len, pos);
      w.catch(() => {}); // observed when shifted
      inflight.push(w);
      const now = Date.now();
      if (now - reported >= 15_000) {
        reported = now;
        log(`erase ${dev}: ${name} ${Math.floor((pos * 100) / size)}% (${rate(pos, now - t0)})`);
      }
    }
    while (inflight.length) await inflight.shift();
    await h.sync().catch((e: unknown) => {
      throw new BlockDeviceEraseError(`flushing ${dev} after ${name} failed: ${errMsg(e)}`);
    });
  } finally {
    await Promise.allSettled(inflight);
  }
  log(`erase ${dev}: ${name} done (${rate(size, Date.now() - t0)})`);
}

const rate = (bytes: number, ms: number): string => `${(bytes / 1e6 / Math.max(ms / 1000, 0.001)).toFixed(0)} MB/s`;

/** Read back the samples and the reported end; returns how many samples held the final pattern (all, or it throws). */
async function verifyFinalPattern(dev: string, h: DiskHandle, size: number, key: PassKey | null, o: OverwriteOptions): Promise<number> {
  if (!key && !o.zeroize) return 0;
  await h.dropCache().catch((e: unknown) => {
    throw new BlockDeviceEraseError(`cannot drop the page cache of ${dev} before verifying: ${errMsg(e)}`);
  });
  const block = o.sampleBlock ?? 64 * 1024;
  const samples = sampleOffsets(size, block, o.samples ?? 128);
  const buf = await h.alloc(roundUp(block, 4096));
  for (const s of samples) {
    const got = await readFully(dev, h, buf, s.length, s.offset);
    if (got !== s.length)
      throw new BlockDeviceEraseError(
        `verification of ${dev} failed: only ${got} of ${s.length} bytes could be read back at byte ${s.offset}`,
      );
    const want = key ? keystreamAt(key, s.offset, s.length) : null;
    const bad = firstMismatch(buf.subarray(0, s.length), want);
    if (bad >= 0) {
      throw new BlockDeviceEraseError(
        `verification of ${dev} failed: byte ${s.offset + bad} does not hold the ${key ? 'random' : 'zero'} pattern of the last pass; the device did not store what was written`,
      );
    }
  }
  // Bytes past the reported size would never have been written: the device must end there.
  const past = await readFully(dev, h, buf, 4096, size);
  if (past > 0)
    throw new BlockDeviceEraseError(
      `verification of ${dev} failed: it has data past its reported size of ${size} bytes, which were not overwritten`,
    );
  return samples.length;
}
