import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { InlineHasher, WorkerHasher, liveHashWorkers, startHasher } from './block-hasher.js';

const shared = (data: Buffer): Buffer => {
  const b = Buffer.from(new SharedArrayBuffer(data.length + 100)).subarray(50, 50 + data.length);
  data.copy(b);
  return b;
};

test('the worker hashes shared blocks in order, as createHash does', async () => {
  const parts = [randomBytes(1 << 20), randomBytes(12345), randomBytes(3)];
  const expected = createHash('sha512');
  for (const p of parts) expected.update(p);
  const h = new WorkerHasher('sha512');
  try {
    // Not awaited one by one: the worker must keep the order of the calls.
    await Promise.all(parts.map((p) => h.update(shared(p))));
    assert.equal(await h.digest(), expected.digest('hex'));
  } finally {
    await h.close();
  }
  assert.equal(liveHashWorkers(), 0);
});

test('the inline hasher gives the same digest; md5 too', async () => {
  const data = randomBytes(100_000);
  const h = new InlineHasher('md5');
  await h.update(data.subarray(0, 7));
  h.add(data.subarray(7));
  assert.equal(await h.digest(), createHash('md5').update(data).digest('hex'));
});

test("a worker's failure rejects the pending and later calls with its error", async () => {
  const h = new WorkerHasher('no-such-digest');
  try {
    await assert.rejects(h.update(shared(Buffer.from('x'))), /the checksum worker failed: .*[Dd]igest/);
    await assert.rejects(h.digest(), /the checksum worker failed/);
  } finally {
    await h.close();
  }
  assert.equal(liveHashWorkers(), 0);
});

test('a worker that dies mid-way is an error, not a hang', async () => {
  const h = new WorkerHasher('sha256');
  const w = (h as unknown as { worker: import('node:worker_threads').Worker }).worker;
  await h.update(shared(Buffer.from('a')));
  await w.terminate();
  await assert.rejects(h.update(shared(Buffer.from('b'))), /exited .* before the image was hashed/);
  await h.close();
  assert.equal(liveHashWorkers(), 0);
});

test('only views of SharedArrayBuffers go to the worker; close is idempotent', async () => {
  const h = startHasher('sha256', true);
  assert.ok(h instanceof WorkerHasher);
  await assert.rejects(h.update(Buffer.from('x')), TypeError);
  await h.close();
  await h.close();
  await assert.rejects(h.digest(), /closed/);
  assert.ok(startHasher('sha256', false) instanceof InlineHasher);
});
