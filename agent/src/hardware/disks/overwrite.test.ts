import { test } from 'node:test';
import assert from 'node:assert/strict';
import { overwriteDevice } from './overwrite.js';
import { createMemoryLog } from '../../../test/support/logs.js';
import { fakeDisk, fakeDiskIo, type FakeDisk } from '../../../test/support/fake-disk-io.js';

const MiB = 1 << 20;
const allZero = (d: FakeDisk): boolean => d.data.every((b) => b === 0);
const opts = (disk: FakeDisk, extra = {}) => ({
  iterations: 1,
  zeroize: true,
  io: fakeDiskIo({ '/dev/sdx': disk }),
  chunkSize: 256 * 1024,
  ...extra,
});

test('every byte is zero after 1 random pass + zeros, odd-sized device included', async () => {
  const disk = fakeDisk(3 * MiB + 512);
  const mem = createMemoryLog();
  const log = mem.lines;
  const r = await overwriteDevice('/dev/sdx', opts(disk, { log: mem }));
  assert.ok(allZero(disk));
  assert.equal(r.method, 'overwrite: 1 random pass + zeros, verified 49 samples'); // 49 blocks: read back whole
  assert.equal(r.size, 3 * MiB + 512);
  assert.ok(log.some((l) => l.includes('pass 1/2 (random) done')) && log.some((l) => l.includes('pass 2/2 (zeros) done')));
});

test('random final pass (zeroize off): no byte of the old data left in place, verified against the keystream', async () => {
  const disk = fakeDisk(2 * MiB);
  const old = Buffer.from(disk.data);
  const r = await overwriteDevice('/dev/sdx', opts(disk, { iterations: 2, zeroize: false }));
  assert.equal(r.method, 'overwrite: 2 random passes, verified 32 samples');
  assert.ok(!disk.data.equals(old));
  let same = 0;
  for (let i = 0; i < old.length; i += 4096) if (disk.data.subarray(i, i + 4096).equals(old.subarray(i, i + 4096))) same++;
  assert.equal(same, 0);
});

test('a failing write fails naming the disk and the byte', async () => {
  const disk = fakeDisk(2 * MiB);
  disk.failWriteAt = MiB + 5;
  await assert.rejects(overwriteDevice('/dev/sdx', opts(disk)), (e: unknown) =>
    /writing \/dev\/sdx at byte 1048576 failed: EIO/.test((e as { details: string }).details),
  );
});

test('a device that stops taking bytes (short write) fails', async () => {
  const disk = fakeDisk(2 * MiB);
  disk.endsAt = 2 * MiB - 4096;
  await assert.rejects(overwriteDevice('/dev/sdx', opts(disk)), (e: unknown) =>
    /short write on \/dev\/sdx: the device took no bytes at byte 2093056/.test((e as { details: string }).details),
  );
});

test('verification catches a device that silently drops writes (first block, last block, a middle range)', async () => {
  for (const drop of [
    { from: 100, to: 101 },
    { from: 2 * MiB - 1, to: 2 * MiB },
    { from: 40 * MiB, to: 60 * MiB },
  ]) {
    const disk = fakeDisk(drop.to > 2 * MiB ? 100 * MiB : 2 * MiB);
    disk.dropWrites = drop;
    await assert.rejects(
      overwriteDevice('/dev/sdx', opts(disk, { chunkSize: 8 * MiB })),
      (e: unknown) => /verification of \/dev\/sdx failed: byte \d+ does not hold the zero pattern/.test((e as { details: string }).details),
      JSON.stringify(drop),
    );
  }
});

test('a device larger than its reported size fails verification', async () => {
  const disk = fakeDisk(MiB);
  disk.hiddenTail = 4096;
  await assert.rejects(overwriteDevice('/dev/sdx', opts(disk)), (e: unknown) =>
    /has data past its reported size of 1048576 bytes/.test((e as { details: string }).details),
  );
});

test('abort stops the overwrite with an error naming the disk', async () => {
  const disk = fakeDisk(4 * MiB);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(overwriteDevice('/dev/sdx', opts(disk, { signal: ac.signal })), (e: unknown) =>
    /erase of \/dev\/sdx aborted at byte 0/.test((e as { details: string }).details),
  );
});

test('zeros only (iterations 0): one pass, still verified', async () => {
  const disk = fakeDisk(MiB);
  const r = await overwriteDevice('/dev/sdx', opts(disk, { iterations: 0 }));
  assert.ok(allZero(disk));
  assert.equal(r.method, 'overwrite: zeros, verified 16 samples');
  assert.equal(disk.writes, 4);
});
