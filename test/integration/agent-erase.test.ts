/**
 * The agent's disk overwrite on real block devices (loop devices, root):
 * every byte is read back from the backing file afterwards; a device whose
 * writes fail makes the step fail naming it; a read-only device is skipped
 * when allowed and keeps its bytes.
 *
 *   node --import tsx --test test/integration/agent-erase.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eraseDevices } from '../../agent/src/hardware/disks/index.js';
import { createMemoryLog } from '../../agent/test/support/logs.js';
import { attachLoop, canUseLoop } from '../../agent/test/support/loop-device.js';
import type { BlockDevice } from '../../agent/src/hardware/types.js';

const skip = !canUseLoop() && 'needs root for losetup';
const MiB = 1 << 20;
const MARKER = Buffer.alloc(4096, 'previous tenant data ');
const disk = (name: string) => ({ name }) as BlockDevice;

function writeMarkers(file: string, offsets: number[]): void {
  const fd = openSync(file, 'r+');
  try {
    for (const off of offsets) writeSync(fd, MARKER, 0, MARKER.length, off);
  } finally {
    closeSync(fd);
  }
}

/** First non-zero byte of the file (4 MiB chunks), or -1. */
function firstNonZero(file: string): number {
  const buf = Buffer.alloc(4 * MiB);
  const zero = Buffer.alloc(4 * MiB);
  const fd = openSync(file, 'r');
  try {
    for (let pos = 0; ; pos += buf.length) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) return -1;
      if (!buf.subarray(0, n).equals(zero.subarray(0, n))) return pos + buf.subarray(0, n).findIndex((b) => b !== 0);
    }
  } finally {
    closeSync(fd);
  }
}

test('erase_devices overwrites every byte of a loop device (start, middle, end) and reports the verified method', {
  skip,
  timeout: 300_000,
}, async () => {
  const size = 96 * MiB + 512; // an odd sector count: the tail is not a whole 4 KiB block
  const loop = attachLoop(size);
  try {
    writeMarkers(loop.file, [0, 4096, size / 2 - 4096 + 256, size - 4096]);
    const mem = createMemoryLog();
    const log = mem.lines;
    const r = await eraseDevices([disk(loop.dev)], {}, { log: mem });
    assert.match(String(r[loop.dev]), /^overwrite: 1 random pass \+ zeros, verified 128 samples$/, 'verified with direct reads');
    assert.ok(
      log.some((l) => l.includes(`erase_devices: ${loop.dev}: overwrite`)),
      log.join('\n'),
    );
    execFileSync('sync');
    assert.equal(firstNonZero(loop.file), -1);
  } finally {
    loop.detach();
  }
});

test('random passes only (zeroize off): no marker left, the random pattern verified', { skip, timeout: 300_000 }, async () => {
  const size = 32 * MiB;
  const loop = attachLoop(size);
  try {
    const offsets = [0, size / 2, size - 4096];
    writeMarkers(loop.file, offsets);
    const r = await eraseDevices([disk(loop.dev)], {
      driver_internal_info: { agent_erase_devices_iterations: 2, agent_erase_devices_zeroize: false },
    });
    assert.match(String(r[loop.dev]), /^overwrite: 2 random passes, verified \d+ samples$/);
    const fd = openSync(loop.file, 'r');
    try {
      for (const off of offsets) {
        const b = Buffer.alloc(4096);
        readSync(fd, b, 0, 4096, off);
        assert.ok(!b.equals(MARKER) && !b.every((x) => x === 0), `random data at ${off}`);
      }
    } finally {
      closeSync(fd);
    }
  } finally {
    loop.detach();
  }
});

test('a device whose writes fail half-way fails the step, naming the disk', { skip, timeout: 300_000 }, async () => {
  // The loop's backing file lives on a 24 MiB tmpfs but claims 64 MiB: past 24 MiB the kernel returns EIO.
  const dir = mkdtempSync(join(tmpdir(), 'rf-erase-enospc-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dir]);
  let dev = '';
  try {
    const file = join(dir, 'disk.img');
    writeFileSync(file, '');
    truncateSync(file, 64 * MiB);
    dev = execFileSync('losetup', ['-f', '--show', file], { encoding: 'utf8' }).trim();
    await assert.rejects(eraseDevices([disk(dev)], {}), (e: unknown) => {
      const details = (e as { details?: string }).details ?? '';
      console.log(`step error: ${details}`);
      assert.match(
        details,
        new RegExp(
          `Failed to erase on the device\\(s\\): "${dev}": (writing ${dev} at byte \\d+ failed|flushing ${dev} after pass 1/2 \\(random\\) failed)`,
        ),
      );
      return true;
    });
  } finally {
    if (dev) execFileSync('losetup', ['-d', dev]);
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a read-only device: the step fails without agent_erase_skip_read_only, is skipped with it, and keeps its bytes', {
  skip,
  timeout: 120_000,
}, async () => {
  const size = 16 * MiB;
  const loop = attachLoop(size);
  try {
    writeMarkers(loop.file, [0, size - 4096]);
    execFileSync('blockdev', ['--setro', loop.dev]);
    await assert.rejects(eraseDevices([disk(loop.dev)], {}), (e: unknown) =>
      /is read-only; set driver_internal_info agent_erase_skip_read_only/.test((e as { details: string }).details),
    );
    const r = await eraseDevices([disk(loop.dev)], { driver_internal_info: { agent_erase_skip_read_only: true } });
    assert.deepEqual(r, { [loop.dev]: 'skipped (read-only)' });
    const b = Buffer.alloc(4096);
    const fd = openSync(loop.file, 'r');
    try {
      readSync(fd, b, 0, 4096, size - 4096);
    } finally {
      closeSync(fd);
    }
    assert.ok(b.equals(MARKER));
  } finally {
    execFileSync('blockdev', ['--setrw', loop.dev]);
    loop.detach();
  }
});
