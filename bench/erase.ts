/**
 * Disk erase throughput on a 1 GiB loop device (root): the agent's overwrite
 * (a zero pass alone, and IPA's default of one random pass + zeros, both with
 * fdatasync and the read-back verification) next to
 * `dd if=/dev/zero of=DEV bs=4M oflag=direct` on the same device in the same
 * run. The loop device uses direct I/O to its backing file, so every writer
 * reaches the host disk instead of the backing file's page cache.
 *
 *   npm run bench -- --only erase     (or: node --import tsx bench/erase.ts)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { overwriteDevice } from '../agent/src/hardware/disks/overwrite.js';
import { createDiskIo } from '../agent/src/hardware/disks/overwrite-io.js';
import { execute } from '../agent/src/util/exec.js';

export interface EraseBench {
  device: string;
  sizeBytes: number;
  /** MB/s of device bytes erased: size / wall time. */
  ddZeroMBps: number;
  agentZeroMBps: number;
  /** IPA's default (1 random pass + zeros): size / wall time, so half the write rate. */
  agentRandomZeroMBps: number;
  agentRandomZeroWriteMBps: number;
  agentMethod: string;
}

const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);

/** Measure on a fresh loop device of `sizeMiB`; detaches it and removes its file whatever happens. */
export async function benchErase(sizeMiB = 1024): Promise<EraseBench> {
  if (process.getuid?.() !== 0) throw new Error('bench/erase.ts needs root (losetup)');
  const size = sizeMiB * 1024 * 1024;
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-bench-erase-'));
  let dev = '';
  try {
    const file = join(dir, 'disk.img');
    writeFileSync(file, '');
    truncateSync(file, size);
    dev = execFileSync('losetup', ['-f', '--show', '--direct-io=on', file], { encoding: 'utf8' }).trim();

    let t = Date.now();
    execFileSync('dd', ['if=/dev/zero', `of=${dev}`, 'bs=4M', 'oflag=direct', `count=${size / (4 << 20)}`, 'status=none']);
    const ddMs = Date.now() - t;

    const io = createDiskIo(execute);
    t = Date.now();
    await overwriteDevice(dev, { iterations: 0, zeroize: true, io });
    const zeroMs = Date.now() - t;

    t = Date.now();
    const r = await overwriteDevice(dev, { iterations: 1, zeroize: true, io });
    const defaultMs = Date.now() - t;

    return {
      device: `loop (direct-io) on ${tmpdir()}`,
      sizeBytes: size,
      ddZeroMBps: mbps(size, ddMs),
      agentZeroMBps: mbps(size, zeroMs),
      agentRandomZeroMBps: mbps(size, defaultMs),
      agentRandomZeroWriteMBps: mbps(2 * size, defaultMs),
      agentMethod: r.method,
    };
  } finally {
    if (dev) execFileSync('losetup', ['-d', dev]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** bench/run.ts section: rows for the table, figures under json.erase. */
if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await benchErase(), null, 2)}\n`);
}
