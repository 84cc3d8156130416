import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openImageSink } from './block-writer.js';
import { InlineHasher, WorkerHasher, type BlockHasher } from './block-hasher.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rf-bw-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Chunks of odd sizes, so blocks fill across chunk boundaries and the tail is unaligned.
const data = randomBytes((1 << 20) + 12345);
const chunks = (): Readable =>
  Readable.from(
    (function* () {
      for (let off = 0, n = 1; off < data.length; off += n, n = (n * 7 + 4093) % 70001) yield data.subarray(off, off + n);
    })(),
  );

for (const [blocks, directIo] of [
  [2, true],
  [3, true],
  [3, false],
] as const) {
  test(`${blocks} blocks, ${directIo ? 'O_DIRECT when the filesystem has it' : 'buffered'}: the file and the block hash match the data`, async () => {
    const file = join(dir, `out-${blocks}-${directIo}`);
    for (const h of [new InlineHasher('sha256'), new WorkerHasher('sha256')] as BlockHasher[]) {
      const sink = await openImageSink(file, 'file', { blockSize: 64 << 10, blocks, directIo });
      sink.hashWith(h);
      try {
        await pipeline(chunks(), sink);
        assert.equal(await h.digest(), createHash('sha256').update(data).digest('hex'));
      } finally {
        await h.close();
      }
      assert.ok((await readFile(file)).equals(data));
      assert.equal(sink.bytesWritten, data.length);
    }
  });
}

test('hashWith after the first write is refused', async () => {
  const sink = await openImageSink(join(dir, 'late'), 'file', { blockSize: 64 << 10 });
  await new Promise<void>((r) => sink.write(Buffer.alloc(10), () => r()));
  assert.throws(() => sink.hashWith(new InlineHasher('sha256')), /before the first write/);
  sink.destroy();
});

test("a hasher's failure fails the stream as a HashError, not as a write error", async () => {
  const sink = await openImageSink(join(dir, 'hash-fail'), 'file', { blockSize: 64 << 10 });
  sink.hashWith({
    update: async () => {
      throw new Error('boom');
    },
    digest: async () => '',
    close: async () => {},
  });
  await assert.rejects(pipeline(chunks(), sink), (e: Error) => e.name === 'HashError' && /boom/.test(e.message));
});
