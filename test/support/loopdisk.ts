/**
 * Loop disks for host-side agent tests: a sparse file attached with
 * `losetup -fP --show`, helpers to put a GPT + ext4 signature on it and read
 * bytes back. Every helper refuses a device that is not /dev/loopN attached
 * by this module, so a test bug can never point a tool at a host disk.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, readSync, closeSync, rmSync, truncateSync, writeFileSync, readlinkSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LoopDisk {
  /** /dev/loopN */
  device: string;
  /** loopN */
  kname: string;
  /** The sparse backing file. */
  file: string;
  sizeBytes: number;
  /** Write a GPT with one partition and an ext4 filesystem on it (labels 'ramforge-test'). */
  writeGptAndExt4(): void;
  /** First `length` bytes from `offset` of the device. */
  readBytes(offset: number, length: number): Buffer;
  /** What signatures blkid/wipefs still see (device and partitions); empty = wiped. */
  signatures(): string[];
  /** Partition table type as blkid reports it ('gpt', 'dos') or undefined. */
  partitionTable(): string | undefined;
  detach(): void;
}

const LOOP_RE = /^\/dev\/loop\d+$/;
const attached = new Set<string>();
process.on('exit', () => {
  for (const d of attached) {
    try {
      execFileSync('losetup', ['-d', d]);
    } catch {
      /* best effort */
    }
  }
});

/** `length` bytes of a file or device from `offset` (fewer at its end). */
export function readAt(file: string, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const fd = openSync(file, 'r');
  try {
    let got = 0;
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** Throws unless `device` is a /dev/loopN this process attached. The guard every helper goes through. */
export function assertOwnLoopDevice(device: string): void {
  if (!LOOP_RE.test(device)) throw new Error(`refusing to operate on ${device}: only /dev/loopN devices are allowed in tests`);
  if (!attached.has(device)) throw new Error(`refusing to operate on ${device}: it was not attached by this test (createLoopDisk)`);
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
  });
}

/** Create a sparse file of `sizeBytes` (default 4 GiB, the agent's root-disk minimum) and attach it. */
export function createLoopDisk(o: { sizeBytes?: number; dir?: string } = {}): LoopDisk {
  if (process.getuid?.() !== 0) throw new Error('loop disks need root (losetup): run the integration tests as root');
  const sizeBytes = o.sizeBytes ?? 4 * 1024 ** 3;
  const ownDir = o.dir === undefined;
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'ramforge-loop-'));
  const file = join(dir, 'disk.img');
  writeFileSync(file, '');
  truncateSync(file, sizeBytes);
  let device: string;
  try {
    device = run('losetup', ['-fP', '--show', file]).trim();
  } catch (e) {
    rmSync(ownDir ? dir : file, { recursive: true, force: true });
    throw e;
  }
  if (!LOOP_RE.test(device)) throw new Error(`losetup returned '${device}', not a /dev/loopN device`);
  attached.add(device);
  const kname = device.slice('/dev/'.length);
  // Make sure the kernel really backs this device with our file before anyone writes to it.
  const backing = readlinkSafe(`/sys/block/${kname}/loop/backing_file`) ?? run('cat', [`/sys/block/${kname}/loop/backing_file`]).trim();
  if (backing !== file) {
    detachLoop(device);
    rmSync(ownDir ? dir : file, { recursive: true, force: true });
    throw new Error(`${device} is backed by '${backing}', expected ${file}`);
  }

  const disk: LoopDisk = {
    device,
    kname,
    file,
    sizeBytes,
    writeGptAndExt4() {
      assertOwnLoopDevice(device);
      run('sgdisk', ['-Z', device]);
      run('sgdisk', ['-n', '1:2048:+32M', '-c', '1:ramforge-test', '-t', '1:8300', device]);
      run('partprobe', [device]);
      waitForPath(`${device}p1`);
      run('mkfs.ext4', ['-q', '-F', '-L', 'ramforge-test', `${device}p1`]);
    },
    readBytes(offset, length) {
      assertOwnLoopDevice(device);
      return readAt(device, offset, length);
    },
    signatures() {
      assertOwnLoopDevice(device);
      try {
        run('partprobe', [device]);
      } catch {
        /* no table is fine */
      }
      const out: string[] = [];
      const parts = run('lsblk', ['-nlo', 'PATH', device])
        .split('\n')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const p of parts) {
        const w = run('wipefs', ['--no-act', '--noheadings', '-O', 'TYPE', p])
          .split('\n')
          .map((s) => s.trim())
          .filter(Boolean);
        out.push(...w.map((t) => `${p}:${t}`));
      }
      return out;
    },
    partitionTable() {
      assertOwnLoopDevice(device);
      try {
        return run('blkid', ['-p', '-o', 'value', '-s', 'PTTYPE', device]).trim() || undefined;
      } catch {
        return undefined;
      }
    },
    detach() {
      if (attached.has(device)) detachLoop(device);
      rmSync(ownDir ? dir : file, { recursive: true, force: true });
    },
  };
  return disk;
}

function detachLoop(device: string): void {
  attached.delete(device);
  try {
    run('losetup', ['-d', device]);
  } catch {
    /* already gone */
  }
}

function readlinkSafe(p: string): string | undefined {
  try {
    return readlinkSync(p);
  } catch {
    return undefined;
  }
}

function waitForPath(p: string): void {
  const deadline = Date.now() + 5000;
  while (!existsSync(p)) {
    if (Date.now() > deadline) throw new Error(`${p} did not appear after partprobe`);
    execFileSync('sleep', ['0.1']);
  }
}
