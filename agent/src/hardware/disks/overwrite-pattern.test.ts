import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  counterIv,
  describePasses,
  firstMismatch,
  isUniform,
  Keystream,
  keystreamAt,
  newPassKey,
  sampleOffsets,
} from './overwrite-pattern.js';

test('keystream is seekable: any offset regenerates the same bytes as the running stream', () => {
  const k = newPassKey();
  const ks = new Keystream(k, 0);
  const whole = Buffer.concat([ks.next(3 << 20), ks.next(5000)]);
  assert.ok(!isUniform(whole.subarray(0, 4096)), 'random-looking');
  for (const off of [0, 16, 4096, 65536 + 48, (3 << 20) - 4096, 3 << 20]) {
    assert.ok(keystreamAt(k, off, 4096).equals(whole.subarray(off, off + 4096)), `offset ${off}`);
  }
  // Another key gives another stream.
  assert.ok(!keystreamAt(newPassKey(), 0, 64).equals(whole.subarray(0, 64)));
});

test('counter IV: nonce, then the 16-byte block index', () => {
  const k = { key: Buffer.alloc(16), nonce: Buffer.from('0102030405060708', 'hex') };
  assert.equal(counterIv(k, 0).toString('hex'), '01020304050607080000000000000000');
  assert.equal(counterIv(k, 4096).toString('hex'), '01020304050607080000000000000100');
  assert.equal(counterIv(k, 2 ** 40).toString('hex'), '01020304050607080000001000000000');
  assert.throws(() => counterIv(k, 8), /multiple of 16/);
});

test('samples cover the first and the last block and spread over the device', () => {
  const size = 1 << 30;
  const s = sampleOffsets(size, 65536, 128);
  assert.equal(s.length, 128);
  assert.deepEqual(s[0], { offset: 0, length: 65536 });
  assert.deepEqual(s.at(-1), { offset: size - 65536, length: 65536 });
  for (let i = 1; i < s.length; i++) assert.ok(s[i]!.offset > s[i - 1]!.offset, 'sorted, unique');
  for (const x of s.slice(1, -1)) assert.equal(x.offset % 4096, 0, 'aligned');
  // One sample per 1/126 of the device: no gap larger than two stretches.
  const gaps = s.slice(1).map((x, i) => x.offset - s[i]!.offset);
  assert.ok(Math.max(...gaps) <= 2 * (size / 126) + 4096);
  // Random placement: two draws differ.
  assert.notDeepEqual(
    sampleOffsets(size, 65536, 128).map((x) => x.offset),
    s.map((x) => x.offset),
  );
});

test('always exactly `count` distinct, increasing samples, whatever the random draws', () => {
  for (const size of [128 * 65536 + 512, 256 << 20, (1 << 30) + 4096 * 3, 2 ** 41]) {
    for (const r of [() => 0, () => 0.999999, Math.random]) {
      const s = sampleOffsets(size, 65536, 128, 4096, r);
      assert.equal(s.length, 128, `size ${size}`);
      for (let i = 1; i < s.length; i++) assert.ok(s[i]!.offset > s[i - 1]!.offset, `size ${size} sample ${i}`);
      assert.equal(s.at(-1)!.offset + s.at(-1)!.length, size);
    }
  }
});

test('a small device is read back whole, the odd tail included', () => {
  const size = (1 << 20) + 512;
  const s = sampleOffsets(size, 65536, 128);
  assert.equal(s.length, 17);
  assert.equal(
    s.reduce((n, x) => n + x.length, 0),
    size,
  );
  assert.deepEqual(s.at(-1), { offset: 1 << 20, length: 512 });
  assert.deepEqual(sampleOffsets(0, 65536, 8), []);
});

test('an odd-sized large device: the last sample ends at the last byte', () => {
  const size = 10 * 65536 * 128 + 512;
  const last = sampleOffsets(size, 65536, 128).at(-1)!;
  assert.equal(last.offset + last.length, size);
});

test('mismatch search, uniformity, pass description', () => {
  assert.equal(firstMismatch(Buffer.alloc(4096), null), -1);
  const b = Buffer.alloc(4096);
  b[4000] = 1;
  assert.equal(firstMismatch(b, null), 4000);
  assert.equal(firstMismatch(Buffer.from('abcd'), Buffer.from('abxd')), 2);
  assert.equal(firstMismatch(Buffer.from('abcd'), Buffer.from('abcd')), -1);
  assert.ok(isUniform(Buffer.alloc(100, 0xff)) && !isUniform(b));
  assert.equal(describePasses(1, true), '1 random pass + zeros');
  assert.equal(describePasses(3, false), '3 random passes');
  assert.equal(describePasses(0, true), 'zeros');
});
